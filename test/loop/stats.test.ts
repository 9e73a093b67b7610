import { describe, it, expect } from 'vitest';
import { wilson, kaplanMeier, fisherExact, histogram, survivalAt, rateChange, median } from '../../src/loop/stats.ts';

describe('wilson', () => {
  // Newcombe (1998), Stat Med 17:857, table I, method 3 (score, no continuity correction).
  it.each([
    [81, 263, 0.2553, 0.3662],
    [15, 148, 0.0624, 0.1605],
    [0, 20, 0.0, 0.1611],
    [1, 29, 0.0061, 0.1718],
    // R: prop.test(5, 10, correct = FALSE)$conf.int -> 0.2365931 0.7634069
    [5, 10, 0.2366, 0.7634],
  ])('%i of %i -> [%f, %f]', (x, n, lo, hi) => {
    const [a, b] = wilson(x, n);
    expect(a).toBeCloseTo(lo, 4);
    expect(b).toBeCloseTo(hi, 4);
  });

  it('is symmetric: x of n mirrors n-x of n', () => {
    const [a, b] = wilson(3, 17);
    const [c, d] = wilson(14, 17);
    expect(a).toBeCloseTo(1 - d, 12);
    expect(b).toBeCloseTo(1 - c, 12);
  });

  it('n of n reaches 1 and no runs say nothing', () => {
    expect(wilson(10, 10)[1]).toBe(1);
    expect(wilson(10, 10)[0]).toBeCloseTo(0.7225, 4);
    expect(wilson(0, 0)).toEqual([0, 1]);
  });

  it('rejects impossible counts', () => {
    expect(() => wilson(3, 2)).toThrow(RangeError);
    expect(() => wilson(-1, 2)).toThrow(RangeError);
  });
});

describe('kaplanMeier', () => {
  // Freireich et al. (1963) 6-MP arm, remission weeks, + = censored; the
  // estimates are the textbook ones (Kleinbaum & Klein, Survival Analysis, ch. 2).
  const sixMp = '6 6 6 6+ 7 9+ 10 10+ 11+ 13 16 17+ 19+ 20+ 22 23 25+ 32+ 32+ 34+ 35+'
    .split(' ')
    .map((s) => ({ t: Number(s.replace('+', '')), event: !s.endsWith('+') }));

  it('matches the 6-MP textbook table', () => {
    const km = kaplanMeier(sixMp);
    expect(km.steps.map((s) => s.t)).toEqual([6, 7, 10, 13, 16, 22, 23]);
    expect(km.steps.map((s) => s.atRisk)).toEqual([21, 17, 15, 12, 11, 7, 6]);
    expect(km.steps.map((s) => s.events)).toEqual([3, 1, 1, 1, 1, 1, 1]);
    const want = [0.8571, 0.8067, 0.7529, 0.6902, 0.6275, 0.5378, 0.4482];
    km.steps.forEach((s, i) => expect(s.s).toBeCloseTo(want[i], 4));
    expect(km.median).toBe(23);
    expect(km.events).toBe(9);
    expect(km.censored).toBe(12);
    expect(survivalAt(km, 12)).toBeCloseTo(0.7529, 4);
    expect(survivalAt(km, 5)).toBe(1);
  });

  it('has no median when half the runs never fail', () => {
    const km = kaplanMeier([{ t: 3, event: true }, { t: 60, event: false }, { t: 60, event: false }]);
    expect(km.median).toBeNull();
    expect(km.steps[0].s).toBeCloseTo(2 / 3, 12);
  });

  it('all failing: the curve reaches 0', () => {
    const km = kaplanMeier([{ t: 9, event: true }, { t: 12, event: true }, { t: 30, event: true }]);
    km.steps.forEach((s, i) => expect(s.s).toBeCloseTo([2 / 3, 1 / 3, 0][i], 12));
    expect(km.median).toBe(12);
  });
});

describe('fisherExact (two-sided, as R fisher.test)', () => {
  it.each([
    // Fisher's tea-tasting table: R gives p-value = 0.4857
    [3, 1, 1, 3, 0.4857],
    // Dieting example (Wikipedia "Fisher's exact test"): 0.002759
    [1, 9, 11, 3, 0.002759],
    // 10/10 vs 0/10: 2 / choose(20, 10) = 1.0825e-05
    [10, 0, 0, 10, 1.0825e-5],
    // identical rates: nothing to see
    [5, 5, 5, 5, 1],
  ])('[%i %i; %i %i] -> %f', (a, b, c, d, p) => {
    const got = fisherExact(a, b, c, d);
    expect(Math.abs(got - p) / p).toBeLessThan(1e-3);
  });

  it('rateChange flags 1/10 vs 8/10 but not 3/10 vs 5/10', () => {
    expect(rateChange(1, 10, 8, 10).significant).toBe(true);
    expect(rateChange(3, 10, 5, 10).significant).toBe(false);
  });
});

it('histogram sorts by count then name', () => {
  expect(histogram(['b', 'a', 'b', 'c', 'a', 'b'])).toEqual([
    { key: 'b', count: 3 }, { key: 'a', count: 2 }, { key: 'c', count: 1 },
  ]);
});

describe('median', () => {
  it('middle value, mean of the middle two, null for none; order does not matter', () => {
    expect(median([7, 0, 2])).toBe(2);
    expect(median([3, 1, 2, 0])).toBe(1.5);
    expect(median([])).toBeNull();
  });
});
