import { join } from 'node:path';
import { buildKernel } from '../build/build.ts';
import { runKernel, newRunId } from '../run/run.ts';
import type { BuildOptions, BuildProgress, BuildResult } from '../build/types.ts';
import type { RunOptions } from '../run/options.ts';
import { isKreproError } from '../util/errors.ts';
import type { BisectEnv, StepRunOutcome } from './types.ts';
import { evidenceTitle, foundKinds } from '../verdict/evidence.ts';

/**
 * The real environment: build the commit through the build cache (each
 * commit once; the build stage seeds from the previous build so a step is an
 * incremental rebuild), then one `krepro run` on it. The run gets no
 * signature: every report comes back, and the bisection decides which ones
 * match the bug it chases.
 */
export interface RealEnvConfig {
  build: Pick<BuildOptions, 'profile' | 'configs' | 'patches' | 'reverts' | 'jobs'>;
  run: Omit<Partial<RunOptions>, 'build' | 'prebuilt' | 'kernel' | 'signature' | 'title' | 'runDir' | 'resultsDir' | 'onLine' | 'signal'>;
}

/**
 * With --evidence, a run whose trace shows one of those findings is a bad
 * run even without a stall: it carries the evidence title (first when no
 * report came, else among the unrelated, where the signature can see it).
 */
export function withEvidence(out: StepRunOutcome, evidence: string[] | null | undefined, kinds: readonly string[]): StepRunOutcome {
  if (out.kind !== 'run' || !evidence || !kinds.length) return out;
  const hits = kinds.filter((k) => evidence.includes(k)).map((k) => ({ title: evidenceTitle(k), type: 'EVIDENCE' }));
  if (!hits.length) return out;
  if (!out.crashed) return { ...out, crashed: true, bootFailed: false, title: hits[0].title, type: hits[0].type, unrelated: [...hits.slice(1), ...out.unrelated] };
  return { ...out, unrelated: [...out.unrelated, ...hits] };
}

export function realEnv(o: {
  tree: string;
  outDir: string;
  config: RealEnvConfig;
  signal?: AbortSignal;
  progress?: (p: BuildProgress) => void;
  log?: (line: string) => void;
}): BisectEnv {
  // One build per commit, shared by the runs of it that start together (--jobs).
  const builds = new Map<string, Promise<BuildResult>>();
  const buildOnce = (commit: string): Promise<BuildResult> => {
    let p = builds.get(commit);
    if (!p) {
      p = buildKernel({ ...o.config.build, tree: o.tree, commit, progress: o.progress, signal: o.signal }).then((b) => {
        o.log?.(`built ${commit.slice(0, 12)} in ${b.seconds.toFixed(0)}s${b.cached ? ' (cached)' : ''}`);
        return b;
      });
      p.catch(() => builds.delete(commit)); // a failed build is tried again next time
      builds.set(commit, p);
    }
    return p;
  };
  return {
    async test(commit: string, cancel?: AbortSignal): Promise<StepRunOutcome> {
      if (o.signal?.aborted) return { kind: 'interrupted', reason: 'signal' };
      if (cancel?.aborted) return { kind: 'interrupted', reason: 'cancelled' };
      let build: BuildResult;
      try {
        build = await buildOnce(commit);
      } catch (e) {
        if (isKreproError(e)) {
          if (e.kind === 'skip') return { kind: 'skip', reason: e.message };
          if (e.kind === 'infra') return { kind: 'infra', reason: e.message };
          throw e; // usage / env: nothing a retry fixes
        }
        if (o.signal?.aborted) return { kind: 'interrupted', reason: 'signal' };
        return { kind: 'infra', reason: `build: ${(e as Error).message}` };
      }
      if (cancel?.aborted) return { kind: 'interrupted', reason: 'cancelled' };
      const runDir = join(o.outDir, 'runs', `${commit.slice(0, 12)}-${newRunId()}`);
      // The run stops on the user's signal or when the bisection no longer needs it.
      const signal = cancel && o.signal ? AbortSignal.any([cancel, o.signal]) : (cancel ?? o.signal);
      let rec;
      try {
        rec = await runKernel({ ...o.config.run, prebuilt: build, runDir, resultsDir: join(o.outDir, 'runs'), signature: null, title: null, signal });
      } catch (e) {
        if (isKreproError(e)) {
          if (e.kind === 'skip') return { kind: 'skip', reason: e.message };
          if (e.kind === 'infra') return { kind: 'infra', reason: e.message };
          throw e;
        }
        return { kind: 'infra', reason: `run: ${(e as Error).message}` };
      }
      const kinds = o.config.run.evidence ?? [];
      const found = foundKinds(rec.evidence);
      // With evidence on, a clean run says something only when its trace could be judged to the end.
      const traced = kinds.length ? { traced: found !== null && !rec.evidence?.truncated } : {};
      switch (rec.verdict) {
        case 'reproduced':
          return withEvidence({ kind: 'run', crashed: true, title: rec.title, type: rec.type, ...(rec.report?.altTitles.length ? { altTitles: rec.report.altTitles } : {}), unrelated: rec.unrelated, runDir }, found, kinds);
        case 'not-reproduced':
          // With no signature every report reproduces; keep any stray ones as unrelated.
          return withEvidence(rec.unrelated.length > 0
            ? { kind: 'run', crashed: true, title: rec.unrelated[0].title, type: rec.unrelated[0].type, unrelated: rec.unrelated.slice(1), runDir }
            : { kind: 'run', crashed: false, title: null, type: null, unrelated: [], runDir, ...traced }, found, kinds);
        case 'boot-failed':
          return { kind: 'run', crashed: false, bootFailed: true, title: null, type: null, unrelated: [], runDir };
        case 'skip':
          return { kind: 'skip', reason: rec.error ?? 'run skipped' };
        case 'interrupted':
          return { kind: 'interrupted', reason: rec.error ?? 'interrupted' };
        default:
          return { kind: 'infra', reason: rec.error ?? 'infrastructure error' };
      }
    },
  };
}
