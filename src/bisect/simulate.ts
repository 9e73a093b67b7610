import { runBisection, newState, DEFAULT_CONFIDENCE } from './driver.ts';
import { LinearHistory } from './linear.ts';
import { syzkallerDecision, syzkallerRuns, syzkallerGoodConfidence, syzkallerUpdateRate } from './policy.ts';
import { EVIDENCE_TYPE } from './signature.ts';
import type { BisectEnv, RunPool, StepRunOutcome } from './types.ts';
import { KreproError } from '../util/errors.ts';
import { Worker } from 'node:worker_threads';
import { availableParallelism } from 'node:os';
import { extname } from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * Simulated bisections: a linear history of `commits` commits after the good
 * endpoint, the culprit drawn uniformly. A run on a commit that carries the
 * bug stalls with probability p, showing one of the bug's faces (titles of
 * one report type, HANG, in the shares `faces`); any run crashes with an
 * unrelated title (ten WARNINGs sharing the rate q), which ends the run
 * and hides the bug when it comes first; with an evidence rate e,
 * a run on a buggy commit also shows the bug's trace evidence with
 * probability e (judged after the run, so it ends at full length).
 *
 * Time: a build takes buildCost seconds; a clean run runCost; a crash ends
 * its run at a uniform time in [0.3, 1] x runCost (boot, the stall, the
 * detector's wait). Up to `jobs` runs go at once for both policies: ours
 * through the driver's run pool (results as they finish, unneeded runs
 * cancelled, their time so far counted), syzkaller's 10 or 20 runs of a step
 * `jobs` at a time (its step waits for all of them; with jobs >= 20 that is
 * its own parallel test, pkg/instance). Machine time is the sum of build and
 * run seconds; wall time is the virtual clock at the end.
 *
 * Both policies run on the same seeded culprits and run streams, cell by
 * cell: the sweep is p x q x faces.
 */
export interface SimOptions {
  rates: number[];
  unrelatedRates: number[];
  faces: number[][];
  jobs: number;
  evidenceRate: number | null;
  trials: number;
  commits: number;
  seed: number;
  buildCost: number;
  runCost: number;
  confidence: number;
  maxRuns: number;
  stepEpsilon?: number;
  endpointCrashes?: number;
  ratePrior?: { alpha: number; beta: number };
}

export const SIM_DEFAULTS: SimOptions = {
  rates: [1.0, 0.5, 0.3, 0.1],
  unrelatedRates: [0, 0.005, 0.02],
  faces: [[1], [0.6, 0.3, 0.1]],
  jobs: 1,
  evidenceRate: null,
  trials: 500,
  commits: 500,
  seed: 1,
  buildCost: 120,
  runCost: 60,
  confidence: DEFAULT_CONFIDENCE,
  maxRuns: 60,
};

export interface PolicyStats {
  accuracy: number; // share of trials naming exactly the culprit
  statedConfidence: number; // mean of what the policy claimed (0 when it named nothing)
  meanRuns: number; // runs started (cancelled ones included)
  meanBuilds: number; // distinct commits built
  meanCost: number; // machine seconds: builds + every run's time
  meanWall: number; // wall seconds with `jobs` runs at once
  noAnswer: number; // share of trials that ended without naming one commit
}

export interface SimRow {
  rate: number;
  unrelatedRate: number;
  faces: number[];
  jobs: number;
  evidenceRate: number | null;
  krepro: PolicyStats;
  syzkaller: PolicyStats;
}

export interface SimResult {
  options: SimOptions;
  rows: SimRow[];
  seconds: number;
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

const UNRELATED_TITLES = Array.from({ length: 10 }, (_, i) => `WARNING in unrelated_${i}`);
/** The bug's faces, most frequent first (the shapes the 7.2 stall showed). */
export const FACE_TITLES = ['INFO: silent hang in mm_get_cid', 'BUG: soft lockup in smp_call_function', 'INFO: rcu detected stall in simulated', 'INFO: silent hang in try_to_wake_up'];
export const EVIDENCE_TITLE = 'mmcid evidence: fixup-missed-task';

export interface SimCell {
  p: number;
  q: number;
  faces: number[];
  e: number | null;
}

/** One simulated run on commit `c` (0 = old endpoint): its outcome and how long it took. */
export function simulateRun(r: () => number, c: number, culprit: number, cell: SimCell, runCost: number): { out: StepRunOutcome; sec: number } {
  const buggy = c >= culprit;
  const hit = buggy && r() < cell.p;
  const face = hit ? pickFace(r(), cell.faces) : 0;
  const ev = buggy && cell.e !== null && r() < cell.e;
  const other = r() < cell.q;
  const unrel = other ? [{ title: UNRELATED_TITLES[Math.floor(r() * UNRELATED_TITLES.length)], type: 'WARNING' }] : [];
  const end = 0.3 + 0.7 * r();
  // An unrelated crash ends the run (krepro stops a run after its first
  // report): when it comes first, the bug had no chance to show.
  const otherEnd = other ? 0.3 + 0.7 * r() : Infinity;
  if (hit && otherEnd < end) {
    return { out: { kind: 'run', crashed: true, title: unrel[0].title, type: 'WARNING', unrelated: [], ...(cell.e !== null ? { traced: false } : {}) }, sec: otherEnd * runCost };
  }
  if (hit) {
    const extra = ev ? [...unrel, { title: EVIDENCE_TITLE, type: EVIDENCE_TYPE }] : unrel;
    return { out: { kind: 'run', crashed: true, title: FACE_TITLES[face], type: 'HANG', unrelated: extra }, sec: end * runCost };
  }
  // without a stall the trace is judged at the end of the run
  const traced = cell.e !== null ? { traced: true } : {};
  if (ev) return { out: { kind: 'run', crashed: true, title: EVIDENCE_TITLE, type: EVIDENCE_TYPE, unrelated: unrel, ...traced }, sec: runCost };
  if (other) return { out: { kind: 'run', crashed: true, title: unrel[0].title, type: 'WARNING', unrelated: [], ...traced }, sec: otherEnd * runCost };
  return { out: { kind: 'run', crashed: false, title: null, type: null, unrelated: [], ...traced }, sec: runCost };
}

function pickFace(u: number, shares: number[]): number {
  let acc = 0;
  for (let i = 0; i < shares.length; i++) {
    acc += shares[i];
    if (u < acc) return i;
  }
  return shares.length - 1;
}

interface TrialResult {
  correct: boolean;
  named: boolean;
  runs: number;
  builds: number;
  cost: number;
  wall: number;
  confidence: number;
}

/** A run pool on a virtual clock: machine and wall time of what the driver asked for. */
export class SimPool implements RunPool {
  now = 0;
  machine = 0;
  started = 0;
  private nextId = 0;
  private readyAt = new Map<string, number>();
  private running = new Map<number, { commit: string; start: number; end: number; out: StepRunOutcome }>();

  constructor(readonly jobs: number, private buildCost: number, private draw: (commit: string) => { out: StepRunOutcome; sec: number }) {}

  get builds(): number {
    return this.readyAt.size;
  }

  launch(commit: string): number {
    let ready = this.readyAt.get(commit);
    if (ready === undefined) {
      ready = this.now + this.buildCost;
      this.readyAt.set(commit, ready);
      this.machine += this.buildCost;
    }
    const { out, sec } = this.draw(commit);
    const start = Math.max(this.now, ready);
    const id = this.nextId++;
    this.running.set(id, { commit, start, end: start + sec, out });
    this.started++;
    return id;
  }

  async next(): Promise<{ id: number; commit: string; outcome: StepRunOutcome }> {
    let best: number | null = null;
    for (const [id, r] of this.running) if (best === null || r.end < this.running.get(best)!.end) best = id;
    if (best === null) throw new Error('SimPool.next: nothing running');
    const r = this.running.get(best)!;
    this.running.delete(best);
    this.now = Math.max(this.now, r.end);
    this.machine += r.end - r.start;
    return { id: best, commit: r.commit, outcome: r.out };
  }

  cancel(id: number): void {
    const r = this.running.get(id);
    if (!r) return;
    this.running.delete(id);
    this.machine += Math.max(0, this.now - r.start);
  }
}

export async function kreproTrial(o: SimOptions, cell: SimCell, culprit: number, seed: number): Promise<TrialResult> {
  const r = rng(seed);
  const hist = new LinearHistory(o.commits);
  const pool = new SimPool(o.jobs, o.buildCost, (commit) => simulateRun(r, Number(commit), culprit, cell, o.runCost));
  const env: BisectEnv = { test: () => Promise.reject(new Error('the simulator runs through its pool')) };
  const state = newState({
    id: 'sim',
    bad: String(o.commits),
    good: '0',
    confidence: o.confidence,
    maxRuns: o.maxRuns,
    stepEpsilon: o.stepEpsilon,
    endpointCrashes: o.endpointCrashes,
    ratePrior: o.ratePrior,
    evidence: cell.e !== null ? [EVIDENCE_TITLE] : undefined,
    jobs: o.jobs,
  });
  const base = () => ({ runs: pool.started, builds: pool.builds, cost: pool.machine, wall: pool.now });
  try {
    const s = await runBisection({ state, env, pool, session: hist, topology: hist, save: async () => {} });
    const a = s.answer!;
    return { correct: a.kind === 'found' && a.commit === String(culprit), named: a.kind === 'found', confidence: a.kind === 'found' ? a.confidence : 0, ...base() };
  } catch (e) {
    if (e instanceof KreproError) return { correct: false, named: false, confidence: 0, ...base() };
    throw e;
  }
}

/**
 * syzkaller's bisection as published (pkg/bisect): the bad endpoint tested
 * with 20 runs must be "bad"; its crash ratio is the first repro-chance
 * estimate and marks the bug flaky when below 1/2; the good endpoint must be
 * "good"; then git bisect with 10 runs per commit (20 once flaky), every
 * crash counted whatever its title, "skip" verdicts skipped. Trace evidence
 * means nothing to it: a run that only shows evidence is an OK run.
 */
export function syzkallerTrial(o: SimOptions, cell: SimCell, culprit: number, seed: number): TrialResult {
  const r = rng(seed);
  const hist = new LinearHistory(o.commits);
  let runs = 0;
  let tests = 0;
  let flaky = false;
  let reproChance = 0;
  let confidence = 1;
  let machine = 0;
  let wall = 0;
  const built = new Set<number>();
  const test = (c: number) => {
    if (!built.has(c)) {
      built.add(c);
      machine += o.buildCost;
      wall += o.buildCost;
    }
    const total = syzkallerRuns(flaky, tests === 0);
    tests++;
    let bad = 0;
    let good = 0;
    const vms = new Array<number>(Math.min(o.jobs, total)).fill(0);
    for (let i = 0; i < total; i++) {
      runs++;
      const { out, sec } = simulateRun(r, c, culprit, cell, o.runCost);
      const crashed = out.kind === 'run' && out.crashed && out.type !== EVIDENCE_TYPE;
      // a run that only showed trace evidence ran to its end without a crash
      const t = crashed ? sec : o.runCost;
      machine += t;
      let k = 0;
      for (let j = 1; j < vms.length; j++) if (vms[j] < vms[k]) k = j;
      vms[k] += t;
      if (crashed) bad++;
      else good++;
    }
    wall += Math.max(...vms);
    const verdict = syzkallerDecision(total, bad, good, 0, flaky);
    const badRatio = bad + good > 0 ? bad / (bad + good) : 0;
    if (verdict === 'bad' && badRatio < 0.5) flaky = true;
    return { verdict, badRatio, good };
  };
  const res = (correct: boolean, named: boolean): TrialResult => ({ correct, named, runs, builds: built.size, cost: machine, wall, confidence: named ? confidence : 0 });
  const first = test(o.commits);
  if (first.verdict !== 'bad') return res(false, false);
  reproChance = first.badRatio;
  const g = test(0);
  if (g.verdict !== 'good') return res(false, false);
  let next = hist.next();
  while (next.kind === 'test') {
    const c = Number(next.commit);
    const t = test(c);
    if (t.verdict === 'abort') return res(false, false);
    if (t.verdict === 'good') confidence *= syzkallerGoodConfidence(reproChance, t.good);
    if (t.verdict === 'bad') reproChance = syzkallerUpdateRate(reproChance, t.badRatio);
    const term = t.verdict === 'bad' ? 'new' : t.verdict === 'good' ? 'old' : 'skip';
    next = hist.markNow({ commit: next.commit, term });
  }
  if (next.kind === 'ambiguous') return res(false, false);
  return res(next.first === String(culprit), true);
}

function summarize(trials: TrialResult[]): PolicyStats {
  const n = trials.length;
  const mean = (f: (t: TrialResult) => number) => trials.reduce((a, t) => a + f(t), 0) / n;
  return {
    accuracy: mean((t) => (t.correct ? 1 : 0)),
    statedConfidence: mean((t) => t.confidence),
    meanRuns: mean((t) => t.runs),
    meanBuilds: mean((t) => t.builds),
    meanCost: mean((t) => t.cost),
    meanWall: mean((t) => t.wall),
    noAnswer: mean((t) => (t.named ? 0 : 1)),
  };
}

/** The cells of a sweep, in table order: faces, then q, then p. */
export function cells(o: SimOptions): SimCell[] {
  const out: SimCell[] = [];
  for (const faces of o.faces) for (const q of o.unrelatedRates) for (const p of o.rates) out.push({ p, q, faces, e: o.evidenceRate });
  return out;
}

export async function simulateCell(o: SimOptions, cell: SimCell): Promise<SimRow> {
  // The same culprits and run streams in every cell (common random numbers).
  const r = rng(o.seed * 1000003 + 17);
  const ours: TrialResult[] = [];
  const syz: TrialResult[] = [];
  for (let i = 0; i < o.trials; i++) {
    const culprit = 1 + Math.floor(r() * o.commits);
    const seed = Math.floor(r() * 2 ** 31);
    ours.push(await kreproTrial(o, cell, culprit, seed));
    syz.push(syzkallerTrial(o, cell, culprit, seed));
  }
  return { rate: cell.p, unrelatedRate: cell.q, faces: cell.faces, jobs: o.jobs, evidenceRate: cell.e, krepro: summarize(ours), syzkaller: summarize(syz) };
}

/**
 * The sweep, its cells spread over `threads` worker threads (default: one
 * per core, at most 4); each cell is seeded on its own, so the rows are
 * the same whatever the number of threads.
 */
export async function simulate(opts: Partial<SimOptions> = {}, threads = Math.min(4, availableParallelism())): Promise<SimResult> {
  const o: SimOptions = { ...SIM_DEFAULTS, ...opts };
  const t0 = Date.now();
  const all = cells(o);
  const rows: SimRow[] = new Array(all.length);
  const n = Math.max(1, Math.min(threads, all.length));
  if (n === 1) {
    for (let i = 0; i < all.length; i++) rows[i] = await simulateCell(o, all[i]);
  } else {
    // Longest cells (small p) first, dealt round-robin.
    const order = all.map((cell, i) => ({ i, cell })).sort((a, b) => a.cell.p - b.cell.p);
    const parts = Array.from({ length: n }, (_, k) => order.filter((_, j) => j % n === k));
    await Promise.all(parts.map((part) => runWorker(o, part, (i, row) => (rows[i] = row))));
  }
  return { options: o, rows, seconds: (Date.now() - t0) / 1000 };
}

function runWorker(o: SimOptions, part: { i: number; cell: SimCell }[], onRow: (i: number, row: SimRow) => void): Promise<void> {
  // Run from the TypeScript sources (tsx) or from compiled JavaScript alike.
  const self = fileURLToPath(import.meta.url);
  const ext = extname(self);
  const file = new URL(`./sim-worker${ext}`, import.meta.url);
  const w =
    ext === '.ts'
      ? new Worker(
          `import(${JSON.stringify(import.meta.resolve('tsx/esm/api'))}).then((m) => { m.register(); return import(${JSON.stringify(file.href)}); });`,
          { eval: true, workerData: { o, cells: part } },
        )
      : new Worker(file, { workerData: { o, cells: part } });
  return new Promise((resolve, reject) => {
    w.on('message', (m: { i: number; row: SimRow }) => onRow(m.i, m.row));
    w.on('error', reject);
    w.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`simulation worker exited with ${code}`))));
  });
}

const pct = (x: number) => `${(x * 100).toFixed(1)}%`;
const hours = (s: number) => (s / 3600).toFixed(2);

export function formatSimTable(res: SimResult): string {
  const o = res.options;
  const lines: string[] = [];
  lines.push(
    `${o.trials} trials per cell, ${o.commits} commits, ${o.jobs} job(s), seed ${o.seed}, target confidence ${o.confidence}, ` +
      `max ${o.maxRuns} runs/commit${o.evidenceRate !== null ? `, evidence rate ${o.evidenceRate}` : ''}; build ${o.buildCost}s, run ${o.runCost}s ` +
      `(a crash ends its run early); machine = build + run seconds, wall = with ${o.jobs} run(s) at once`,
  );
  lines.push('');
  const h = ['faces', 'q', 'p', 'krepro acc', 'stated', 'machine h', 'wall h', 'syz acc', 'stated', 'machine h', 'wall h', 'machine ratio'];
  const rows: string[][] = [h];
  for (const r of res.rows) {
    const k = r.krepro;
    const z = r.syzkaller;
    rows.push([
      r.faces.length === 1 ? 'single' : r.faces.map((f) => Math.round(f * 100)).join('/'),
      String(r.unrelatedRate),
      String(r.rate),
      pct(k.accuracy),
      pct(k.statedConfidence),
      hours(k.meanCost),
      hours(k.meanWall),
      pct(z.accuracy),
      pct(z.statedConfidence),
      hours(z.meanCost),
      hours(z.meanWall),
      (k.meanCost / z.meanCost).toFixed(2),
    ]);
  }
  const widths = h.map((_, i) => Math.max(...rows.map((r) => r[i].length)));
  for (const r of rows) lines.push(r.map((c, i) => (i < 1 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join('  '));
  lines.push('');
  lines.push(`${res.rows.length} cells in ${res.seconds.toFixed(1)} s`);
  return lines.join('\n');
}
