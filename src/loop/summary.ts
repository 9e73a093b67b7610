import type { RunRecord, Verdict } from '../run/types.ts';
import type { LoopConfig, LoopStats, RunSummary } from './types.ts';
import { histogram, kaplanMeier, median, wilson } from './stats.ts';
import { sha256 } from '../util/fs.ts';
import { patchIdentity } from '../build/cache.ts';
import { DEFAULT_EVIDENCE_KINDS, evidenceOf, perMinute, foundKinds, NO_TRIGGERS, showsEvidence, type RunTriggers } from '../verdict/evidence.ts';

const VERDICTS: Verdict[] = ['reproduced', 'not-reproduced', 'boot-failed', 'skip', 'infra-error', 'interrupted'];

/**
 * Time on the survival clock, in seconds from QEMU start: the detection for
 * a reproduction; otherwise how long the run lasted (boot + workload), which
 * is where it is censored. null when the run says nothing about time.
 */
export function runTimeSec(rec: RunRecord): number | null {
  const t = rec.timings;
  if (rec.verdict === 'reproduced') {
    if (t.detectMs != null) return t.detectMs / 1000;
    if (rec.detection) return rec.detection.atMs / 1000;
    return null;
  }
  if (rec.verdict !== 'not-reproduced') return null;
  if (t.bootToInitMs != null && t.workloadMs != null) return (t.bootToInitMs + t.workloadMs) / 1000;
  if (t.totalMs != null) return Math.max(0, t.totalMs - (t.buildMs ?? 0)) / 1000;
  return null;
}

export function summarizeRun(rec: RunRecord, index: number, dir: string): RunSummary {
  const s: RunSummary = {
    index,
    dir,
    verdict: rec.verdict,
    title: rec.title,
    type: rec.type,
    unrelated: (rec.unrelated ?? []).map((u) => u.title),
    timeSec: runTimeSec(rec),
    commit: rec.kernel?.commit ?? null,
    startedAt: rec.timings?.startedAt ?? new Date(0).toISOString(),
  };
  const ev = rec.evidence ?? (rec.analysis !== undefined ? evidenceOf(rec.analysis) : undefined);
  if (ev) {
    s.evidence = foundKinds(ev);
    s.triggers = ev.traced ? ev.triggers : null;
  }
  // No heartbeat at all after init: the stall came within the workload's first second.
  if (rec.verdict === 'reproduced') s.stallAfterSec = rec.workload?.t ?? (rec.timings?.bootToInitMs != null ? 0 : null);
  if (rec.error) s.error = rec.error;
  return s;
}

/** A run that never produced a run.json (runKernel threw): an infra error. */
export function failedRunSummary(index: number, dir: string, message: string, startedAt: string): RunSummary {
  return {
    index, dir, verdict: 'infra-error', title: null, type: null, unrelated: [],
    timeSec: null, commit: null, startedAt, error: message,
  };
}

/** Statistics of a set of runs; depends only on the set, not on its order. */
export function loopStats(runs: RunSummary[], evidenceKinds: readonly string[] = DEFAULT_EVIDENCE_KINDS): LoopStats {
  const verdicts = Object.fromEntries(VERDICTS.map((v) => [v, 0])) as Record<Verdict, number>;
  for (const r of runs) verdicts[r.verdict] = (verdicts[r.verdict] ?? 0) + 1;
  const reproduced = verdicts.reproduced;
  const valid = reproduced + verdicts['not-reproduced'];
  const obs = runs
    .filter((r) => (r.verdict === 'reproduced' || r.verdict === 'not-reproduced') && r.timeSec != null)
    .map((r) => ({ t: r.timeSec as number, event: r.verdict === 'reproduced' }));
  const km = kaplanMeier(obs);
  const infra = runs.filter((r) => r.verdict === 'infra-error');
  return {
    runs: runs.length,
    valid,
    reproduced,
    rate: valid ? reproduced / valid : null,
    ci: wilson(reproduced, valid),
    verdicts,
    ttf: {
      median: km.median,
      events: km.events,
      censored: km.censored,
      curve: km.steps.map((s) => ({ t: s.t, s: s.s, atRisk: s.atRisk, events: s.events })),
    },
    titles: histogram(runs.filter((r) => r.verdict === 'reproduced' && r.title).map((r) => r.title as string))
      .map(({ key, count }) => ({ title: key, count })),
    unrelated: histogram(runs.flatMap((r) => r.unrelated)).map(({ key, count }) => ({ title: key, count })),
    infraErrors: {
      count: infra.length,
      messages: histogram(infra.map((r) => r.error ?? 'unknown')).map(({ key, count }) => ({ message: key, count })),
    },
    evidence: evidenceStats(runs, evidenceKinds),
    triggers: triggerStats(runs),
    stallAfter: stallAfterStats(runs),
  };
}

const isValid = (r: RunSummary) => r.verdict === 'reproduced' || r.verdict === 'not-reproduced';

/** Evidence rate over valid runs that had a trace (a run without one says nothing either way). */
export function evidenceStats(runs: RunSummary[], kinds: readonly string[]): LoopStats['evidence'] {
  const traced = runs.filter((r) => isValid(r) && Array.isArray(r.evidence));
  const withEvidence = traced.filter((r) => showsEvidence(r.evidence, kinds)).length;
  return {
    kinds: [...kinds],
    traced: traced.length,
    withEvidence,
    rate: traced.length ? withEvidence / traced.length : null,
    ci: wilson(withEvidence, traced.length),
    byKind: histogram(traced.flatMap((r) => r.evidence!)).map(({ key, count }) => ({ kind: key, runs: count })),
  };
}

export function triggerStats(runs: RunSummary[]): LoopStats['triggers'] {
  const with_ = runs.filter((r) => isValid(r) && r.triggers);
  const total = { ...NO_TRIGGERS };
  for (const r of with_) for (const k of Object.keys(total) as (keyof RunTriggers)[]) total[k] += r.triggers![k] ?? 0;
  const mean = { ...NO_TRIGGERS };
  for (const k of Object.keys(total) as (keyof RunTriggers)[]) mean[k] = with_.length ? total[k] / with_.length : 0;
  return { runs: with_.length, mean, total, perMinute: perMinute(total) };
}

export function stallAfterStats(runs: RunSummary[]): LoopStats['stallAfter'] {
  const values = runs.filter((r) => r.verdict === 'reproduced' && r.stallAfterSec != null).map((r) => r.stallAfterSec as number).sort((a, b) => a - b);
  return { median: median(values), values };
}

/**
 * Loops of the same configuration are comparable across commits: the key
 * hashes everything that shapes a run except the commit (and the build key,
 * which follows from the commit).
 */
export function configKey(c: LoopConfig): string {
  const ident = {
    tree: c.kernel ? null : c.tree,
    kernel: c.kernel,
    profile: c.profile,
    configs: c.configs,
    patches: c.patches.map(patchIdentity),
    cpus: c.cpus,
    memoryMb: c.memoryMb,
    durationSec: c.durationSec,
    accel: c.accel,
    append: c.append ?? null,
    signature: c.signature,
    title: c.title,
    selfTest: c.selfTest,
  };
  return sha256(JSON.stringify(ident)).slice(0, 16);
}

/** Percent with one decimal, "33.3%"; "n/a" for null. */
export function pct(x: number | null): string {
  return x == null ? 'n/a' : `${(x * 100).toFixed(1)}%`;
}
