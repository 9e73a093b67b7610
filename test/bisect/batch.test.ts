import { describe, it, expect } from 'vitest';
import { runBatch, envPool } from '../../src/bisect/batch.ts';
import type { CommitRecord, RunPool, StepRunOutcome } from '../../src/bisect/types.ts';

const crash: StepRunOutcome = { kind: 'run', crashed: true, title: 'BUG: soft lockup in f', type: 'HANG', unrelated: [] };
const clean: StepRunOutcome = { kind: 'run', crashed: false, title: null, type: null, unrelated: [] };

/** A pool whose runs finish in a scripted order: finishOrder[k] = the launch number that finishes k-th. */
function scripted(jobs: number, outcomes: StepRunOutcome[], finishOrder: number[]) {
  const log: string[] = [];
  let launched = 0;
  const running = new Set<number>();
  let peak = 0;
  const pool: RunPool = {
    jobs,
    launch() {
      const id = launched++;
      running.add(id);
      peak = Math.max(peak, running.size);
      log.push(`launch ${id}`);
      return id;
    },
    async next() {
      const id = finishOrder.find((x) => running.has(x));
      if (id === undefined) throw new Error('nothing in flight');
      running.delete(id);
      log.push(`finish ${id}`);
      return { id, commit: 'c', outcome: outcomes[id] };
    },
    cancel(id) {
      if (running.delete(id)) log.push(`cancel ${id}`);
    },
  };
  return { pool, log, peak: () => peak };
}

const host = (pool: RunPool) => ({ pool, maxRuns: 60, infraRetries: 2, save: async () => {}, log: () => {}, short: (c: string) => c });
const rec = (): CommitRecord => ({ commit: 'c', role: 'step', runs: [], decision: null });

describe('runs of one commit, several at once', () => {
  it('counts in launch order: a crash that finishes first stops the launches, cancels the runs after it and waits for the ones before', async () => {
    // 4 at once; run 2 crashes first; 0 and 1 finish clean after it; 3 is cancelled
    const s = scripted(4, [clean, clean, crash, clean, clean], [2, 0, 1, 3]);
    const r = rec();
    const out = await runBatch(host(s.pool), r, {
      done: () => r.runs.some((x) => x.kind === 'crash'),
      needed: () => 10,
      decisive: (e) => e.kind === 'crash',
    });
    expect(out).toEqual({ ok: true });
    expect(s.peak()).toBe(4);
    expect(r.runs.map((x) => x.kind)).toEqual(['clean', 'clean', 'crash']);
    expect(s.log).toContain('cancel 3');
    expect(s.log).not.toContain('launch 4');
  });

  it('a run that finished out of order after the decision is kept, marked late, and not counted', async () => {
    // the decision comes with run 0 (a crash, not marked decisive here); run 1 had already finished
    const s = scripted(2, [crash, clean], [1, 0]);
    const r = rec();
    await runBatch(host(s.pool), r, { done: () => r.runs.filter((x) => !x.late).length >= 1, needed: () => 2 });
    expect(r.runs).toHaveLength(2);
    expect(r.runs[0].kind).toBe('crash');
    expect(r.runs[1]).toMatchObject({ kind: 'clean', late: true });
  });

  it('launches no more runs than could still matter', async () => {
    const s = scripted(8, Array(10).fill(clean), [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    const r = rec();
    await runBatch(host(s.pool), r, { done: () => r.runs.length >= 3, needed: () => 3 - r.runs.length });
    expect(s.peak()).toBe(3);
    expect(r.runs).toHaveLength(3);
  });

  it('envPool runs a BisectEnv concurrently and aborts the signal of a cancelled run', async () => {
    const aborted: number[] = [];
    let active = 0;
    let peak = 0;
    let n = 0;
    const pool = envPool({
      async test(_c, signal) {
        const me = n++;
        active++;
        peak = Math.max(peak, active);
        await new Promise<void>((res) => {
          const t = setTimeout(res, me === 1 ? 5 : 200);
          signal?.addEventListener('abort', () => { clearTimeout(t); aborted.push(me); res(); });
        });
        active--;
        return me === 1 ? crash : clean;
      },
    }, 3);
    const r = rec();
    await runBatch(host(pool), r, { done: () => r.runs.some((x) => x.kind === 'crash'), needed: () => 10, decisive: (e) => e.kind === 'crash' });
    expect(peak).toBe(3);
    expect(aborted).toEqual([2]); // launched after the crash: cancelled; run 0 came before it and was waited for
    expect(r.runs.map((x) => x.kind)).toEqual(['clean', 'crash']);
  });
});
