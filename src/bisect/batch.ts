import type { BisectEnv, CommitRecord, RunEntry, RunPool, StepRunOutcome } from './types.ts';
import { KreproError } from '../util/errors.ts';

/**
 * Runs of one commit, up to `jobs` at once. Results are taken as they
 * finish but counted in launch order, so the counts are those a one-at-a-
 * time bisection would have had at the same decision: crashes end runs
 * early, and counting whatever finished first would overstate the
 * reproduction rate. A matching crash decides "buggy" whatever the order,
 * so it stops the launches at once and cancels the runs launched after it;
 * the ones launched before it are still waited for (they belong to the
 * same prefix). A run that finishes after the decision is kept, marked late.
 */
export interface BatchWant {
  /** After each counted run: stop now? */
  done(): boolean | Promise<boolean>;
  /** How many more runs could still matter (launches beyond it are waste); asked only with jobs > 1. */
  needed(): number | Promise<number>;
  /** A run that decides the batch whatever came before it (a matching crash). */
  decisive?(run: RunEntry): boolean;
}

export interface BatchHost {
  pool: RunPool;
  maxRuns: number;
  infraRetries: number;
  save(): Promise<void>;
  log(line: string): void;
  short(c: string): string;
}

export type BatchResult = { ok: true } | { ok: false; reason: string };

export function entryOf(out: Extract<StepRunOutcome, { kind: 'run' }>): RunEntry {
  const e: RunEntry = {
    kind: out.bootFailed ? 'boot-failed' : out.crashed ? 'crash' : 'clean',
    title: out.title,
    type: out.type,
    unrelated: out.unrelated.map((u) => u.title),
  };
  if (out.unrelated.length) e.unrelatedTypes = out.unrelated.map((u) => u.type);
  if (out.altTitles?.length) e.altTitles = out.altTitles;
  if (out.runDir) e.runDir = out.runDir;
  if (out.traced !== undefined) e.traced = out.traced;
  return e;
}

export async function runBatch(h: BatchHost, rec: CommitRecord, want: BatchWant): Promise<BatchResult> {
  const inflight = new Map<number, number>(); // pool id -> launch sequence number
  const attempts = new Map<number, number>();
  const buffer = new Map<number, RunEntry>();
  let seq = 0;
  let flushed = 0;
  let stopAt = Infinity; // no launches at or beyond this sequence number
  const cancelFrom = (from: number) => {
    for (const [id, s] of inflight) if (s >= from) {
      h.pool.cancel(id);
      inflight.delete(id);
    }
  };
  const launch = (s: number) => inflight.set(h.pool.launch(rec.commit), s);
  try {
    for (;;) {
      if (await want.done()) return { ok: true };
      const counted = rec.runs.filter((r) => !r.late).length;
      const room = () => seq < stopAt && inflight.size < h.pool.jobs && counted + buffer.size + inflight.size < h.maxRuns;
      if (room() && inflight.size === 0) launch(seq++);
      if (room()) {
        const need = await want.needed();
        while (room() && buffer.size + inflight.size < need) launch(seq++);
      }
      if (inflight.size === 0) return { ok: true }; // nothing more to learn here: the caller's decision covers the cap
      const { id, outcome } = await h.pool.next();
      const s = inflight.get(id);
      if (s === undefined) continue; // a cancelled run that finished anyway
      inflight.delete(id);
      if (outcome.kind === 'run') {
        const e = entryOf(outcome);
        buffer.set(s, e);
        if (want.decisive?.(e)) {
          stopAt = Math.min(stopAt, s + 1);
          cancelFrom(s + 1);
        }
      } else if (outcome.kind === 'skip') {
        return { ok: false, reason: outcome.reason };
      } else if (outcome.kind === 'interrupted') {
        await h.save();
        throw new KreproError('infra', `bisection interrupted (${outcome.reason}); continue with --resume`);
      } else {
        const n = (attempts.get(s) ?? 0) + 1;
        attempts.set(s, n);
        h.log(`infra error on ${h.short(rec.commit)}: ${outcome.reason}`);
        if (n > h.infraRetries) {
          await h.save();
          throw new KreproError(
            'infra',
            `infrastructure error on ${h.short(rec.commit)} after ${n} attempts (${outcome.reason}); state saved, fix the host and continue with --resume`,
          );
        }
        launch(s);
        continue;
      }
      // count the finished prefix in launch order
      while (buffer.has(flushed)) {
        rec.runs.push(buffer.get(flushed)!);
        buffer.delete(flushed);
        flushed++;
        await h.save();
        if (await want.done()) {
          stopAt = flushed;
          cancelFrom(flushed);
          for (const e of [...buffer.keys()].sort((a, b) => a - b)) rec.runs.push({ ...buffer.get(e)!, late: true });
          buffer.clear();
          if (inflight.size === 0) await h.save();
          return { ok: true };
        }
      }
    }
  } finally {
    // Whatever ended the batch (decision, skip, error), nothing of it keeps running.
    cancelFrom(0);
  }
}

/** A pool over a BisectEnv: real runs (or a fake's) as concurrent promises. */
export function envPool(env: BisectEnv, jobs: number): RunPool {
  let nextId = 0;
  const running = new Map<number, { ac: AbortController; p: Promise<{ id: number; commit: string; outcome: StepRunOutcome }> }>();
  return {
    jobs: Math.max(1, Math.floor(jobs)),
    launch(commit) {
      const id = nextId++;
      const ac = new AbortController();
      const p = env.test(commit, ac.signal).then((outcome) => ({ id, commit, outcome }));
      p.catch(() => {}); // a cancelled run's late failure is nobody's business
      running.set(id, { ac, p });
      return id;
    },
    async next() {
      if (!running.size) throw new Error('envPool.next: nothing running');
      const r = await Promise.race([...running.values()].map((x) => x.p));
      running.delete(r.id);
      return r;
    },
    cancel(id) {
      const r = running.get(id);
      if (!r) return;
      running.delete(id);
      r.ac.abort();
    },
  };
}
