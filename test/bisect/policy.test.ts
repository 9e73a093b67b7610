import { describe, it, expect } from 'vitest';
import {
  lnGamma,
  cleanSurvival,
  cleanRunsNeeded,
  classPosterior,
  probBuggy,
  decideStep,
  decideBadEndpoint,
  decideGoodEndpoint,
  syzkallerDecision,
  syzkallerRuns,
  rateEvidence,
  type CandidateClass,
} from '../../src/bisect/policy.ts';
import { LinearHistory } from '../../src/bisect/linear.ts';
import { learnSignature, matchesSignature, countRuns, bugKinds, bugRecurs } from '../../src/bisect/signature.ts';

describe('bisect policy: pure functions of counts', () => {
  it('lnGamma matches factorials', () => {
    for (const [x, f] of [[1, 1], [2, 1], [5, 24], [11, 3628800]] as const) expect(lnGamma(x)).toBeCloseTo(Math.log(f), 9);
    expect(lnGamma(0.5)).toBeCloseTo(0.5 * Math.log(Math.PI), 9);
  });

  it('clean-run survival tends to (1-p)^n as the rate becomes known, and is more cautious with little data', () => {
    // 3000 crashes in 10000 runs: p is 0.3 for sure
    expect(cleanSurvival(9, 3000, 7000)).toBeCloseTo(Math.pow(0.7, 9), 3);
    // 3 crashes in 10 runs: same point estimate, fatter tail toward small p
    expect(cleanSurvival(9, 3, 7)).toBeGreaterThan(Math.pow(0.7, 9));
    expect(cleanRunsNeeded(0.3, 0.95)).toBe(9);
    expect(cleanRunsNeeded(0.1, 0.95)).toBe(29);
    expect(cleanRunsNeeded(1, 0.95)).toBe(1);
  });

  it('posterior over a linear range: a crash bounds the culprit, clean runs push it up', async () => {
    const h = new LinearHistory(8);
    // tested: 8 (bad endpoint, crashes), 0 (good endpoint), 4 (clean runs)
    const tested = ['8', '0', '4'];
    const classes = await h.classes(tested);
    const sizes = classes.map((c) => c.prior);
    expect(sizes).toEqual([4, 4, 1]); // 1..4, 5..8, outside
    const few = classPosterior(classes, [{ matching: 3, clean: 0 }, { matching: 0, clean: 5 }, { matching: 0, clean: 1 }]);
    const many = classPosterior(classes, [{ matching: 3, clean: 0 }, { matching: 0, clean: 5 }, { matching: 0, clean: 20 }]);
    expect(many[1]).toBeGreaterThan(few[1]);
    expect(many[1]).toBeGreaterThan(0.99);
    expect(probBuggy(classes, many, 2)).toBeCloseTo(1 - many[1], 12);
    // a matching crash at 4 rules out 5..8 entirely
    const crashed = classPosterior(classes, [{ matching: 3, clean: 0 }, { matching: 0, clean: 5 }, { matching: 1, clean: 0 }]);
    expect(crashed[1]).toBe(0);
  });

  it('fix mode flips which commits carry the bug', async () => {
    const h = new LinearHistory(8, true);
    const classes = await h.classes(['0', '8', '4']);
    // culprit (first fixed) in 1..4: commit 4 is fixed, commit 0 broken, commit 8 fixed
    expect(classes[0].buggyAt).toEqual([true, false, false]);
    expect(classes[1].buggyAt).toEqual([true, false, true]);
  });

  it('step decisions: a matching crash is bad at once; clean needs the posterior to drop; cap and useless runs skip', () => {
    expect(decideStep({ matching: 1, clean: 9, pBuggy: 1, epsilon: 0.1, maxRuns: 60 }).decision).toBe('buggy');
    expect(decideStep({ matching: 0, clean: 3, pBuggy: 0.2, epsilon: 0.1, maxRuns: 60 }).decision).toBe('continue');
    expect(decideStep({ matching: 0, clean: 7, pBuggy: 0.09, epsilon: 0.1, maxRuns: 60 }).decision).toBe('clean');
    // unrelated crashes alone never decide, and do not count as clean
    expect(decideStep({ matching: 0, clean: 0, unrelated: 2, pBuggy: 0.5, epsilon: 0.1, maxRuns: 60 }).decision).toBe('continue');
    expect(decideStep({ matching: 0, clean: 0, unrelated: 3, unusable: 2, pBuggy: 0.5, epsilon: 0.1, maxRuns: 60 }).decision).toBe('skip');
    expect(decideStep({ matching: 0, clean: 10, pBuggy: 0.3, epsilon: 0.1, maxRuns: 10 }).decision).toBe('clean');
    expect(decideStep({ matching: 0, clean: 10, pBuggy: 0.6, epsilon: 0.1, maxRuns: 10 }).decision).toBe('skip');
  });

  it('endpoint checks', () => {
    expect(decideBadEndpoint({ matching: 2, clean: 5 }, 3, 60)).toBe('continue');
    expect(decideBadEndpoint({ matching: 3, clean: 5 }, 3, 60)).toBe('reproduced');
    expect(decideBadEndpoint({ matching: 0, clean: 60 }, 3, 60)).toBe('not-reproduced');
    expect(decideBadEndpoint({ matching: 1, clean: 59 }, 3, 60)).toBe('reproduced');
    const rate = rateEvidence([{ matching: 3, clean: 7 }]);
    const need = (n: number) => decideGoodEndpoint({ matching: 0, clean: n }, rate, 0.95, 60).decision;
    expect(need(9)).toBe('continue'); // (1-0.3)^9 < 0.05 would do with p known; with 3 of 10 seen it is not enough
    let n = 1;
    while (need(n) === 'continue') n++;
    expect(n).toBeGreaterThan(9);
    expect(n).toBeLessThan(30);
    expect(decideGoodEndpoint({ matching: 1, clean: 3 }, rate, 0.95, 60).decision).toBe('reproduces');
    expect(decideGoodEndpoint({ matching: 0, clean: 5 }, rate, 0.95, 5).decision).toBe('capped');
  });

  it('learnt signature: every face of the bad endpoint\'s most frequent report type, seen or not', () => {
    const runs = (...xs: [string, string, number][]) => xs.flatMap(([title, type, n]) => Array.from({ length: n }, () => ({ kind: 'crash' as const, title, type, unrelated: [] })));
    const sig = learnSignature(runs(['BUG: soft lockup in smp_call_function', 'HANG', 2], ['INFO: rcu detected stall in corrupted', 'HANG', 1],
      ['WARNING in some_driver_probe', 'WARNING', 1]));
    expect(sig).toEqual({ source: 'bad-endpoint', titles: ['BUG: soft lockup in smp_call_function', 'INFO: rcu detected stall in corrupted'], kinds: ['HANG'], exclude: [] });
    // a face the endpoint did not show is still the bug; the WARNING on the side is not
    expect(matchesSignature(sig, 'INFO: silent hang in try_to_wake_up', 'HANG')).toBe(true);
    expect(matchesSignature(sig, 'WARNING in some_driver_probe', 'WARNING')).toBe(false);
    // background the good endpoint showed stays out
    expect(matchesSignature({ ...sig, exclude: ['INFO: task hung in jbd2'] }, 'INFO: task hung in jbd2', 'HANG')).toBe(false);
    // evidence titles match whatever the signature
    expect(matchesSignature(sig, 'mmcid evidence: fixup-missed-task', 'EVIDENCE', ['mmcid evidence: fixup-missed-task'])).toBe(true);
    expect(learnSignature(runs(['B', 'HANG', 2], ['A', 'WARNING', 2], ['C', 'BUG', 1])).kinds).toEqual(['HANG', 'WARNING']);
    // the kind of the most frequent title, not the most frequent kind: background is many titles
    expect(learnSignature(runs(['B', 'HANG', 2], ['W1', 'WARNING', 1], ['W2', 'WARNING', 1], ['W3', 'WARNING', 1])).kinds).toEqual(['HANG']);
    expect(learnSignature(runs(['mmcid evidence: fixup-missed-task', 'EVIDENCE', 5], ['B', 'HANG', 1])).kinds).toEqual(['HANG']);
    expect(learnSignature([]).titles).toEqual([]);
    // background is many one-off titles: nothing is the bug until a title comes back
    const oneOffs = runs(['W1', 'WARNING', 1], ['W2', 'WARNING', 1], ['W3', 'WARNING', 1]);
    expect(bugRecurs(oneOffs)).toBe(false);
    expect(bugRecurs(runs(['B', 'HANG', 2], ['W1', 'WARNING', 1]))).toBe(true);
    // a stall once under each of two faces against one WARNING: a tie, broken by crashes only at the cap
    const capTie = runs(['B1', 'HANG', 1], ['B2', 'HANG', 1], ['W1', 'WARNING', 1]);
    expect(bugKinds(capTie)).toEqual(['HANG', 'WARNING']);
    expect(bugKinds(capTie, [], true)).toEqual(['HANG']);
    expect(bugKinds(runs(['B1', 'HANG', 1], ['W1', 'WARNING', 1]), [], true)).toEqual(['HANG', 'WARNING']);
  });

  it('with evidence on, a clean run without a judged trace is not a clean run; evidence alone is a matching one; late runs do not count', () => {
    const EV = 'mmcid evidence: fixup-missed-task';
    const sig = { source: 'regex' as const, regex: 'silent hang' };
    const runs = [
      { kind: 'clean' as const, title: null, type: null, unrelated: [], traced: true },
      { kind: 'clean' as const, title: null, type: null, unrelated: [], traced: false },
      { kind: 'crash' as const, title: EV, type: 'EVIDENCE', unrelated: [] },
      { kind: 'crash' as const, title: 'INFO: silent hang in mm_get_cid', type: 'HANG', unrelated: [], late: true },
    ];
    expect(countRuns(runs, sig, { evidence: [EV] })).toEqual({ matching: 1, clean: 1, unrelated: 0, unusable: 1 });
    // without evidence the trace does not matter and the evidence title is just another crash
    expect(countRuns(runs, sig)).toEqual({ matching: 0, clean: 2, unrelated: 1, unusable: 0 });
  });

  it("syzkaller's published decision rule", () => {
    expect(syzkallerRuns(false, true)).toBe(20);
    expect(syzkallerRuns(false, false)).toBe(10);
    expect(syzkallerRuns(true, false)).toBe(20);
    expect(syzkallerDecision(10, 2, 8, 0, false)).toBe('bad');
    expect(syzkallerDecision(10, 1, 9, 0, false)).toBe('skip'); // one crash is not enough
    expect(syzkallerDecision(10, 0, 5, 0, false)).toBe('good');
    expect(syzkallerDecision(20, 0, 14, 0, true)).toBe('skip'); // flaky: needs 15 of 20 OK
    expect(syzkallerDecision(20, 0, 15, 0, true)).toBe('good');
    expect(syzkallerDecision(20, 3, 17, 0, true)).toBe('bad');
    expect(syzkallerDecision(20, 2, 18, 0, true)).toBe('skip'); // 20 runs need max(2, 20/6)=3 crashes
    expect(syzkallerDecision(10, 0, 2, 8, false)).toBe('abort');
  });
});

// A check that the classes cover every candidate exactly once.
it('linear classes partition the range', async () => {
  const h = new LinearHistory(100);
  const cls: CandidateClass[] = await h.classes(['100', '0', '50', '75', '62']);
  expect(cls.reduce((s, c) => s + c.prior, 0)).toBe(100 + 1);
});
