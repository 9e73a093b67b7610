import { runBisection, newState } from './driver.ts';
import { LinearHistory } from './linear.ts';
import { syzkallerDecision, syzkallerRuns, syzkallerGoodConfidence, syzkallerUpdateRate } from './policy.ts';
import type { BisectEnv, StepRunOutcome } from './types.ts';
import { KreproError } from '../util/errors.ts';

/**
 * Simulated bisections: a linear history of `commits` commits after the good
 * endpoint, the culprit drawn uniformly, each run on a buggy commit crashing
 * with the bug's title with probability p, and any run crashing with an
 * unrelated title with probability q. Our policy (driver.ts + policy.ts)
 * and syzkaller's are run on the same seeded histories.
 */
export interface SimOptions {
  rates: number[];
  trials: number;
  commits: number;
  seed: number;
  unrelatedRate: number;
  buildCost: number; // seconds per distinct commit built
  runCost: number; // seconds per run
  confidence: number;
  maxRuns: number;
  stepEpsilon?: number;
  endpointCrashes?: number;
  ratePrior?: { alpha: number; beta: number };
}

export const SIM_DEFAULTS: SimOptions = {
  rates: [1.0, 0.5, 0.3, 0.1],
  trials: 300,
  commits: 500,
  seed: 1,
  unrelatedRate: 0.02,
  buildCost: 120,
  runCost: 60,
  confidence: 0.95,
  maxRuns: 60,
};

export interface PolicyStats {
  accuracy: number; // share of trials naming exactly the culprit
  meanRuns: number;
  meanBuilds: number; // distinct commits built
  meanCost: number; // seconds: builds x buildCost + runs x runCost
  meanConfidence: number; // mean stated confidence (krepro: posterior; syzkaller: product over steps)
  failed: number; // share of trials that ended without naming one commit
}

export interface SimRow {
  rate: number;
  krepro: PolicyStats;
  syzkaller: PolicyStats;
}

export interface SimResult {
  options: SimOptions;
  rows: SimRow[];
}

/** sfc32: a small seeded PRNG, good enough for simulation. */
export function rng(seed: number): () => number {
  let a = 0x9e3779b9 ^ seed;
  let b = 0x243f6a88 ^ (seed * 31);
  let c = 0xb7e15162;
  let d = seed >>> 0;
  const next = () => {
    a >>>= 0; b >>>= 0; c >>>= 0; d >>>= 0;
    let t = (a + b) | 0;
    a = b ^ (b >>> 9);
    b = (c + (c << 3)) | 0;
    c = (c << 21) | (c >>> 11);
    d = (d + 1) | 0;
    t = (t + d) | 0;
    c = (c + t) | 0;
    return (t >>> 0) / 4294967296;
  };
  for (let i = 0; i < 16; i++) next();
  return next;
}

// Background crashes are diverse: ten distinct titles share the rate q.
const UNRELATED_TITLES = Array.from({ length: 10 }, (_, i) => `WARNING in unrelated_${i}`);
export const BUG_TITLE = 'INFO: rcu detected stall in simulated_bug';

/** One simulated run on commit `c` (0 = good endpoint, n = bad endpoint). */
export function simulateRun(r: () => number, c: number, culprit: number, p: number, q: number): StepRunOutcome {
  const buggy = c >= culprit;
  const hit = buggy && r() < p;
  const other = r() < q;
  const unrelated = other ? [{ title: UNRELATED_TITLES[Math.floor(r() * UNRELATED_TITLES.length)], type: 'unrelated' }] : [];
  if (hit) return { kind: 'run', crashed: true, title: BUG_TITLE, type: 'stall', unrelated };
  if (other) return { kind: 'run', crashed: true, title: unrelated[0].title, type: 'unrelated', unrelated: [] };
  return { kind: 'run', crashed: false, title: null, type: null, unrelated: [] };
}

interface TrialResult {
  correct: boolean;
  named: boolean;
  runs: number;
  builds: number;
  confidence: number;
}

export async function kreproTrial(o: SimOptions, p: number, culprit: number, seed: number): Promise<TrialResult> {
  const r = rng(seed);
  const hist = new LinearHistory(o.commits);
  let runs = 0;
  const built = new Set<number>();
  const env: BisectEnv = {
    async test(commit) {
      const c = Number(commit);
      built.add(c);
      runs++;
      return simulateRun(r, c, culprit, p, o.unrelatedRate);
    },
  };
  const state = newState({
    id: 'sim',
    bad: String(o.commits),
    good: '0',
    confidence: o.confidence,
    maxRuns: o.maxRuns,
    stepEpsilon: o.stepEpsilon,
    endpointCrashes: o.endpointCrashes,
    ratePrior: o.ratePrior,
  });
  try {
    const s = await runBisection({ state, env, session: hist, topology: hist, save: async () => {} });
    const a = s.answer!;
    return {
      correct: a.kind === 'found' && a.commit === String(culprit),
      named: a.kind === 'found',
      runs,
      builds: built.size,
      confidence: a.kind === 'found' ? a.confidence : 0,
    };
  } catch (e) {
    if (e instanceof KreproError) return { correct: false, named: false, runs, builds: built.size, confidence: 0 };
    throw e;
  }
}

/**
 * syzkaller's bisection as published (pkg/bisect): the bad endpoint tested
 * with 20 runs must be "bad"; its crash ratio is the first repro-chance
 * estimate and marks the bug flaky when below 1/2; the good endpoint must be
 * "good"; then git bisect with 10 runs per commit (20 once flaky), every
 * crash counted whatever its title, "skip" verdicts skipped.
 */
export function syzkallerTrial(o: SimOptions, p: number, culprit: number, seed: number): TrialResult {
  const r = rng(seed);
  const hist = new LinearHistory(o.commits);
  let runs = 0;
  let tests = 0;
  let flaky = false;
  let reproChance = 0;
  let confidence = 1;
  const built = new Set<number>();
  const test = (c: number) => {
    built.add(c);
    const total = syzkallerRuns(flaky, tests === 0);
    tests++;
    let bad = 0;
    let good = 0;
    for (let i = 0; i < total; i++) {
      runs++;
      const out = simulateRun(r, c, culprit, p, o.unrelatedRate);
      if (out.kind === 'run' && out.crashed) bad++;
      else good++;
    }
    const verdict = syzkallerDecision(total, bad, good, 0, flaky);
    const badRatio = bad + good > 0 ? bad / (bad + good) : 0;
    if (verdict === 'bad' && badRatio < 0.5) flaky = true;
    return { verdict, badRatio, good };
  };
  const fail = (): TrialResult => ({ correct: false, named: false, runs, builds: built.size, confidence: 0 });
  const first = test(o.commits);
  if (first.verdict !== 'bad') return fail();
  reproChance = first.badRatio;
  const g = test(0);
  if (g.verdict !== 'good') return fail();
  let next = hist.next();
  while (next.kind === 'test') {
    const c = Number(next.commit);
    const t = test(c);
    if (t.verdict === 'abort') return fail();
    if (t.verdict === 'good') confidence *= syzkallerGoodConfidence(reproChance, t.good);
    if (t.verdict === 'bad') reproChance = syzkallerUpdateRate(reproChance, t.badRatio);
    const term = t.verdict === 'bad' ? 'new' : t.verdict === 'good' ? 'old' : 'skip';
    next = hist.markNow({ commit: next.commit, term });
  }
  if (next.kind === 'ambiguous') return fail();
  return { correct: next.first === String(culprit), named: true, runs, builds: built.size, confidence };
}

function summarize(trials: TrialResult[], o: SimOptions): PolicyStats {
  const n = trials.length;
  const mean = (f: (t: TrialResult) => number) => trials.reduce((a, t) => a + f(t), 0) / n;
  const meanRuns = mean((t) => t.runs);
  const meanBuilds = mean((t) => t.builds);
  return {
    accuracy: mean((t) => (t.correct ? 1 : 0)),
    meanRuns,
    meanBuilds,
    meanCost: meanBuilds * o.buildCost + meanRuns * o.runCost,
    meanConfidence: mean((t) => t.confidence),
    failed: mean((t) => (t.named ? 0 : 1)),
  };
}

export async function simulate(opts: Partial<SimOptions> = {}): Promise<SimResult> {
  const o: SimOptions = { ...SIM_DEFAULTS, ...opts };
  const rows: SimRow[] = [];
  for (const p of o.rates) {
    const r = rng(o.seed * 1000003 + Math.round(p * 1000));
    const ours: TrialResult[] = [];
    const syz: TrialResult[] = [];
    for (let i = 0; i < o.trials; i++) {
      const culprit = 1 + Math.floor(r() * o.commits);
      const seed = Math.floor(r() * 2 ** 31);
      ours.push(await kreproTrial(o, p, culprit, seed));
      syz.push(syzkallerTrial(o, p, culprit, seed));
    }
    rows.push({ rate: p, krepro: summarize(ours, o), syzkaller: summarize(syz, o) });
  }
  return { options: o, rows };
}

export function formatSimTable(res: SimResult): string {
  const o = res.options;
  const lines: string[] = [];
  lines.push(
    `${o.trials} trials per rate, ${o.commits} commits, unrelated-crash rate ${o.unrelatedRate}, seed ${o.seed}, ` +
      `target confidence ${o.confidence}, max ${o.maxRuns} runs/commit; cost = builds x ${o.buildCost}s + runs x ${o.runCost}s`,
  );
  lines.push('');
  const h = ['p', 'policy', 'accuracy', 'stated conf', 'no answer', 'runs', 'builds', 'cost (h)'];
  const rows: string[][] = [h];
  for (const row of res.rows) {
    for (const [name, s] of [['krepro', row.krepro], ['syzkaller', row.syzkaller]] as const) {
      rows.push([
        row.rate.toFixed(2),
        name,
        `${(s.accuracy * 100).toFixed(1)}%`,
        `${(s.meanConfidence * 100).toFixed(1)}%`,
        `${(s.failed * 100).toFixed(1)}%`,
        s.meanRuns.toFixed(1),
        s.meanBuilds.toFixed(1),
        (s.meanCost / 3600).toFixed(2),
      ]);
    }
  }
  const widths = h.map((_, i) => Math.max(...rows.map((r) => r[i].length)));
  for (const r of rows) lines.push(r.map((c, i) => (i < 2 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join('  '));
  return lines.join('\n');
}
