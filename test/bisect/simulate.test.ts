import { describe, it, expect } from 'vitest';
import { simulate, formatSimTable } from '../../src/bisect/simulate.ts';

// Seeded, so deterministic; the bounds are what was measured (see the
// closing note for the 500-trial tables), with room for small policy tweaks.
describe('bisect simulator: our policy next to syzkaller\'s', () => {
  it('without unrelated crashes: p=0.3 as accurate at about half the cost; p=0.1 still ~90%', async () => {
    const res = await simulate({ rates: [0.3, 0.1], trials: 200, seed: 7, unrelatedRate: 0 });
    const [r3, r1] = res.rows;
    expect(r3.krepro.accuracy).toBeGreaterThanOrEqual(0.9);
    expect(r3.krepro.accuracy).toBeGreaterThanOrEqual(r3.syzkaller.accuracy - 0.03);
    expect(r3.krepro.meanCost).toBeLessThanOrEqual(0.55 * r3.syzkaller.meanCost);
    expect(r1.krepro.accuracy).toBeGreaterThanOrEqual(0.86);
    expect(r1.syzkaller.accuracy).toBeLessThan(0.2); // a fixed 20-run policy breaks down at 10%
    // the stated confidence is honest: close to the measured accuracy
    for (const r of res.rows) expect(Math.abs(r.krepro.meanConfidence - r.krepro.accuracy)).toBeLessThan(0.06);
    expect(formatSimTable(res)).toMatch(/0\.30 +krepro/);
  });

  it('with unrelated crashes (q=0.02) syzkaller, counting every crash, fails most bisections; ours does not', async () => {
    const res = await simulate({ rates: [0.3], trials: 150, seed: 3, unrelatedRate: 0.02 });
    const r = res.rows[0];
    expect(r.krepro.accuracy).toBeGreaterThanOrEqual(0.9);
    expect(r.syzkaller.accuracy).toBeLessThan(0.6);
    expect(r.krepro.failed).toBe(0);
  });

  it('p=1: one crash per bad step, few runs', async () => {
    const res = await simulate({ rates: [1], trials: 50, seed: 2, unrelatedRate: 0 });
    expect(res.rows[0].krepro.accuracy).toBe(1);
    expect(res.rows[0].krepro.meanRuns).toBeLessThan(0.3 * res.rows[0].syzkaller.meanRuns);
  });
});
