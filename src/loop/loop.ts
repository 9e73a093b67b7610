import { join, resolve } from 'node:path';
import { randomBytes } from 'node:crypto';
import { mkdir } from 'node:fs/promises';
import type { RunOptions } from '../run/options.ts';
import type { RunRecord } from '../run/types.ts';
import type { BuildOptions, BuildResult } from '../build/types.ts';
import { writeJsonAtomic } from '../util/fs.ts';
import { isKreproError, usageError } from '../util/errors.ts';
import type { LoopConfig, LoopRecord, RunSummary, ShardSpec } from './types.ts';
import { configKey, failedRunSummary, loopStats, summarizeRun } from './summary.ts';
import { nthShardIndex, shardIndexes } from './shard.ts';
import { DEFAULT_EVIDENCE_KINDS } from '../verdict/evidence.ts';

/** How the loop reaches a kernel and a run: the real build and run by default. */
export interface LoopDeps {
  build(opts: BuildOptions): Promise<BuildResult>;
  run(opts: Partial<RunOptions>): Promise<RunRecord>;
  now(): number;
}

export async function defaultDeps(): Promise<LoopDeps> {
  const [{ buildKernel }, { runKernel }] = await Promise.all([
    import('../build/build.ts'),
    import('../run/run.ts'),
  ]);
  return { build: buildKernel, run: runKernel, now: Date.now };
}

export interface LoopOptions {
  /** Options for every run; runDir and prebuilt are set by the loop. */
  run: Partial<RunOptions>;
  /** What to build once (ignored when run.kernel names a bzImage). */
  build?: BuildOptions;
  count?: number | null;
  untilSec?: number | null;
  stopOnFirst?: boolean;
  shard?: ShardSpec | null;
  /** Exact loop dir; default <resultsDir>/loop-<time>-<rand>[-s<K>of<N>]. */
  dir?: string;
  resultsDir: string;
  signal?: AbortSignal;
  onProgress?: (p: LoopProgress) => void;
  /** Called with the final record (history, HTML); errors are reported, not fatal. */
  onDone?: (rec: LoopRecord, dir: string) => Promise<void>;
  /** Stop after this many infra errors in a row (host is broken). Default 3. */
  maxConsecutiveInfra?: number;
  /**
   * Runs at once (--jobs), each with its own run dir, QMP socket and vsock
   * CID (runKernel allocates both per run). Results are taken as they
   * finish; with --stop-on-first the runs still going are cancelled and
   * not counted (their dirs stay, marked interrupted). Default 1.
   */
  jobs?: number;
}

/** VMs at once when not given: 1 on hosts with fewer than 4 cores, else one per `vcpus` cores. */
export function defaultJobs(cores: number, vcpus: number): number {
  if (cores < 4) return 1;
  return Math.max(1, Math.floor(cores / Math.max(1, vcpus)));
}

export interface LoopProgress {
  dir: string;
  done: number;
  planned: number | null;     // null for --until
  reproduced: number;
  valid: number;
  rate: number | null;
  ci: [number, number];
  etaSec: number | null;
  last: RunSummary | null;
}

function stamp(d: Date): string {
  const p = (n: number) => String(n).padStart(2, '0');
  return `${d.getUTCFullYear()}${p(d.getUTCMonth() + 1)}${p(d.getUTCDate())}-${p(d.getUTCHours())}${p(d.getUTCMinutes())}${p(d.getUTCSeconds())}`;
}

export function runDirName(index: number): string {
  return join('runs', String(index).padStart(4, '0'));
}

function loopConfigOf(o: LoopOptions, b: BuildResult | null): LoopConfig {
  const r = o.run;
  return {
    tree: b?.tree ?? o.build?.tree ?? null,
    commit: b?.commit ?? o.build?.commit ?? null,
    kernel: r.kernel ? resolve(r.kernel) : null,
    buildKey: b?.key ?? null,
    kernelRelease: b?.kernelRelease ?? null,
    profile: r.kernel ? null : (o.build?.profile ?? 'default'),
    configs: r.kernel ? [] : (o.build?.configs ?? []),
    patches: b?.patches ?? [],
    cpus: r.cpus ?? null,
    memoryMb: r.memoryMb ?? null,
    durationSec: r.durationSec ?? null,
    accel: r.accel ?? null,
    append: r.append ?? null,
    signature: r.signature ?? null,
    title: r.title ?? null,
    selfTest: r.selfTest ?? null,
  };
}

/**
 * One build, many boots. Every run gets its own dir under the loop dir, and
 * loop.json is rewritten atomically after each run so a reader (or a killed
 * loop) always sees a consistent record.
 */
export async function runLoop(o: LoopOptions, deps?: LoopDeps): Promise<{ dir: string; record: LoopRecord }> {
  const d = deps ?? (await defaultDeps());
  const count = o.count ?? null;
  const untilSec = o.untilSec ?? null;
  if (count === null && untilSec === null) throw usageError('say how long to loop: --count N or --until DURATION (e.g. --until 8h)');
  if (count !== null && (!Number.isInteger(count) || count < 1)) throw usageError(`--count must be a positive integer (got ${count})`);
  const shard = o.shard ?? null;
  const created = new Date(d.now());
  const id = `loop-${stamp(created)}-${randomBytes(2).toString('hex')}${shard ? `-s${shard.index + 1}of${shard.count}` : ''}`;
  const dir = resolve(o.dir ?? join(o.resultsDir, id));
  await mkdir(dir, { recursive: true });

  const prebuilt = o.run.kernel ? null : await d.build({ ...(o.build ?? {}), signal: o.signal });
  const config = loopConfigOf(o, prebuilt);
  const evidenceKinds = o.run.evidence?.length ? o.run.evidence : DEFAULT_EVIDENCE_KINDS;
  const record: LoopRecord = {
    schema: 'krepro.loop/1',
    id,
    createdAt: created.toISOString(),
    updatedAt: created.toISOString(),
    status: 'running',
    config,
    configKey: configKey(config),
    plan: { count, untilSec, stopOnFirst: !!o.stopOnFirst },
    shard,
    ...(o.run.scenario ? { scenario: o.run.scenario } : {}),
    runs: [],
    stats: loopStats([]),
  };
  const save = async () => {
    record.updatedAt = new Date(d.now()).toISOString();
    record.stats = loopStats(record.runs, evidenceKinds);
    await writeJsonAtomic(join(dir, 'loop.json'), record);
  };
  await save();

  const planned = count !== null ? shardIndexes(count, shard) : null;
  const deadline = untilSec !== null ? created.getTime() + untilSec * 1000 : null;
  const startMs = d.now();
  const maxInfra = o.maxConsecutiveInfra ?? 3;
  let infraRow = 0;

  const jobs = o.jobs ?? 1;
  if (!Number.isInteger(jobs) || jobs < 1) throw usageError(`--jobs ${jobs}: give a positive integer`);
  type Done = { key: number; summary: RunSummary };
  const running = new Map<number, { p: Promise<Done>; ac: AbortController }>();
  const cancelled = new Set<number>();
  const onAbort = () => { for (const r of running.values()) r.ac.abort(); };
  o.signal?.addEventListener('abort', onAbort);
  let launched = 0;
  let status: LoopRecord['status'] | null = null;
  const more = () => !status && !o.signal?.aborted && (planned ? launched < planned.length : true) && (deadline === null || d.now() < deadline);
  const launch = () => {
    const key = launched++;
    const index = planned ? planned[key] : nthShardIndex(key, shard);
    const rel = runDirName(index);
    const runDir = join(dir, rel);
    const ac = new AbortController();
    if (o.signal?.aborted) ac.abort();
    const p = (async (): Promise<Done> => {
      const startedAt = new Date(d.now()).toISOString();
      try {
        const rec = await d.run({ ...o.run, prebuilt: prebuilt ?? undefined, resultsDir: dir, runDir, signal: ac.signal });
        return { key, summary: summarizeRun(rec, index, rel) };
      } catch (e) {
        if (isKreproError(e) && e.kind === 'usage') throw e;
        const msg = (e as Error).message?.split('\n')[0] ?? String(e);
        return { key, summary: failedRunSummary(index, rel, msg, startedAt) };
      }
    })();
    p.catch(() => {});
    running.set(key, { p, ac });
  };
  const cancelAll = () => {
    for (const [key, r] of running) {
      cancelled.add(key);
      r.ac.abort();
    }
  };

  try {
    for (;;) {
      while (running.size < jobs && more()) launch();
      if (running.size === 0) break;
      let done: Done;
      try {
        done = await Promise.race([...running.values()].map((r) => r.p));
      } catch (e) {
        cancelAll();
        await Promise.allSettled([...running.values()].map((r) => r.p));
        throw e;
      }
      running.delete(done.key);
      if (cancelled.has(done.key)) continue; // not needed any more (--stop-on-first, a stop)
      const summary = done.summary;
      record.runs.push(summary);
      infraRow = summary.verdict === 'infra-error' ? infraRow + 1 : 0;
      await save();

      const n = record.runs.length;
      const elapsed = (d.now() - startMs) / 1000;
      let etaSec: number | null = null;
      if (planned) etaSec = (elapsed / n) * (planned.length - n);
      else if (deadline !== null) etaSec = Math.max(0, (deadline - d.now()) / 1000);
      o.onProgress?.({
        dir, done: n, planned: planned?.length ?? null,
        reproduced: record.stats.reproduced, valid: record.stats.valid,
        rate: record.stats.rate, ci: record.stats.ci, etaSec, last: summary,
      });

      if (summary.verdict === 'interrupted' || o.signal?.aborted) status = 'interrupted'; // the others stop with the signal and are counted
      else if (o.stopOnFirst && summary.verdict === 'reproduced' && !status) {
        status = 'stopped-on-first';
        cancelAll();
      } else if (infraRow >= maxInfra && !status) {
        status = 'infra-error';
        record.error = `${infraRow} infra errors in a row, last: ${summary.error ?? 'see run.json'}`;
        cancelAll();
      }
    }
  } finally {
    o.signal?.removeEventListener('abort', onAbort);
  }
  record.status = status ?? (o.signal?.aborted ? 'interrupted' : 'done');
  await save();
  if (o.onDone) await o.onDone(record, dir);
  return { dir, record };
}
