/**
 * Bisection policy: pure functions of counts. No git, no QEMU, no clock.
 *
 * Model. A single commit (the culprit) introduces the bug (or, with --fixed,
 * removes it). A run on a commit that carries the bug shows a crash matching
 * the signature with an unknown probability p; a run on a commit without it
 * never shows a matching crash. Crashes with other titles are "unrelated":
 * they neither prove nor disprove anything, and a run that ended in one is
 * not counted as a clean run either (the bug may not have had its chance).
 *
 * Overall confidence: a Bayesian posterior over the culprit's position, not a
 * product of per-step confidences. Reasons:
 *  - p is not known; it is learned from every run on a commit proven buggy
 *    (the bad endpoint first, then every commit that crashed). Integrating
 *    over p with a Beta prior gives, for each candidate culprit k, the exact
 *    marginal likelihood B(a + X, b + C_k) / B(a, b), where X is the number
 *    of matching crashes and C_k the number of clean runs on commits that
 *    would carry the bug if k were the culprit. No plug-in estimate of p,
 *    hence no overconfidence from a lucky endpoint.
 *  - a product over steps counts risks that cannot change the answer and
 *    ignores runs made after a step was decided (verification); the
 *    posterior of the named commit is exactly "the probability that this is
 *    the first bad commit, given every run we made" (uniform prior over the
 *    commits in the range). In the simulator its mean matches the measured
 *    accuracy (see simulate.ts), which is what a stated confidence is for.
 *
 * Candidates that no tested commit tells apart form one class (an interval
 * between tested commits in a linear history); the posterior is computed per
 * class, so its cost grows with the number of tested commits, not the range.
 */

/** Beta(alpha, beta) prior on the reproduction rate p. Uniform by default. */
export interface RatePrior {
  alpha: number;
  beta: number;
}
export const UNIFORM_RATE: RatePrior = { alpha: 1, beta: 1 };
/**
 * Jeffreys' Beta(1/2, 1/2): the bisection's default. With the uniform prior
 * the stated confidence ran ahead of the measured accuracy for rare bugs
 * (p=0.1 with 2% unrelated crashes: 94.0% stated, 91.7% right), because it
 * holds p above 0.5 as likely as below and early lucky crashes make a rare
 * bug look frequent; Jeffreys' prior gives small rates their due (92.4%
 * stated, 92.5% right) and still lets p=1 show itself (98.2% stated).
 */
export const JEFFREYS_RATE: RatePrior = { alpha: 0.5, beta: 0.5 };

/** Evidence gathered on one commit. */
export interface Counts {
  matching: number; // runs with a crash matching the signature
  clean: number; // runs with no crash at all
  unrelated?: number; // runs whose only crashes did not match
  unusable?: number; // boot failures and similar: no evidence either way
}

const LANCZOS = [
  0.99999999999980993, 676.5203681218851, -1259.1392167224028, 771.32342877765313,
  -176.61502916214059, 12.507343278686905, -0.13857109526572012, 9.9843695780195716e-6,
  1.5056327351493116e-7,
];

/** ln Gamma(x) for x > 0 (Lanczos, g = 7; ~15 significant digits). */
export function lnGamma(x: number): number {
  if (x < 0.5) return Math.log(Math.PI / Math.sin(Math.PI * x)) - lnGamma(1 - x);
  const z = x - 1;
  let a = LANCZOS[0];
  const t = z + 7.5;
  for (let i = 1; i < 9; i++) a += LANCZOS[i] / (z + i);
  return 0.5 * Math.log(2 * Math.PI) + (z + 0.5) * Math.log(t) - t + Math.log(a);
}

export function lnBeta(a: number, b: number): number {
  return lnGamma(a) + lnGamma(b) - lnGamma(a + b);
}

/**
 * Probability that a commit carrying the bug gives `n` clean runs in a row,
 * given what we know of p: X matching crashes and C clean runs observed on
 * commits known to be buggy. With p known this is (1-p)^n; here p is
 * integrated over its Beta posterior, which is more cautious when few crashes
 * were seen.
 */
export function cleanSurvival(n: number, crashes: number, cleanOnBuggy: number, prior: RatePrior = UNIFORM_RATE): number {
  const a = prior.alpha + crashes;
  const b = prior.beta + cleanOnBuggy;
  return Math.exp(lnBeta(a, b + n) - lnBeta(a, b));
}

/** Posterior mean of p from runs on commits known to be buggy. */
export function rateEstimate(crashes: number, cleanOnBuggy: number, prior: RatePrior = UNIFORM_RATE): number {
  return (prior.alpha + crashes) / (prior.alpha + prior.beta + crashes + cleanOnBuggy);
}

/**
 * Clean runs needed for a "good" verdict when p is known exactly:
 * the smallest n with (1-p)^n <= 1 - confidence. For planning and messages.
 */
export function cleanRunsNeeded(p: number, confidence: number): number {
  if (p >= 1) return 1;
  if (p <= 0) return Infinity;
  return Math.max(1, Math.ceil(Math.log(1 - confidence) / Math.log(1 - p)));
}

/** A group of candidate culprits no tested commit tells apart. */
export interface CandidateClass {
  /** Prior mass (number of candidate commits in the class, or any weight). */
  prior: number;
  /** buggyAt[i]: would tested commit i carry the bug if the culprit were in this class? */
  buggyAt: boolean[];
}

/**
 * Posterior probability of each class given the counts on the tested
 * commits (aligned with buggyAt). A class is impossible when a commit it
 * calls clean showed a matching crash.
 */
export function classPosterior(classes: CandidateClass[], tested: Counts[], prior: RatePrior = UNIFORM_RATE): number[] {
  let crashes = 0;
  for (const t of tested) crashes += t.matching;
  const logw = classes.map((cls) => {
    if (cls.prior <= 0) return -Infinity;
    let clean = 0;
    for (let i = 0; i < tested.length; i++) {
      if (cls.buggyAt[i]) clean += tested[i].clean;
      else if (tested[i].matching > 0) return -Infinity;
    }
    return Math.log(cls.prior) + lnBeta(prior.alpha + crashes, prior.beta + clean);
  });
  const max = Math.max(...logw);
  if (max === -Infinity) return classes.map(() => 0);
  const w = logw.map((l) => Math.exp(l - max));
  const sum = w.reduce((a, b) => a + b, 0);
  return w.map((x) => x / sum);
}

/** P(tested commit i carries the bug) under a class posterior. */
export function probBuggy(classes: CandidateClass[], post: number[], i: number): number {
  let s = 0;
  for (let j = 0; j < classes.length; j++) if (classes[j].buggyAt[i]) s += post[j];
  return s;
}

/** Knowledge of p: matching crashes and clean runs on commits proven buggy. */
export function rateEvidence(tested: Counts[]): { crashes: number; cleanOnBuggy: number } {
  let crashes = 0;
  let cleanOnBuggy = 0;
  for (const t of tested) {
    if (t.matching > 0) {
      crashes += t.matching;
      cleanOnBuggy += t.clean;
    }
  }
  return { crashes, cleanOnBuggy };
}

export type StepDecision = 'buggy' | 'clean' | 'continue' | 'skip';

export interface StepInput extends Counts {
  /** Posterior probability that this commit carries the bug, runs included. */
  pBuggy: number;
  /** Decide "clean" once pBuggy <= epsilon. */
  epsilon: number;
  /** Runs allowed on this commit (all kinds). */
  maxRuns: number;
  /** Clean runs a "clean" needs at the least, whatever the rate looks like (default MIN_CLEAN_RUNS). */
  minClean?: number;
}

/**
 * A commit is called clean after 3 clean runs at the least. When the first
 * crashes come in a lucky streak (3 of 3 on the bad endpoint of a p=0.3
 * bug) the rate looks like 1, a commit was called clean after one or two
 * runs, and the answer was wrong while the posterior said 97%: at p=0.3
 * with 2% unrelated crashes 94.8% were right for 97.3% stated. It costs
 * nothing where p is small (clean calls take more runs anyway) and little
 * where it is high (runs are then short and few).
 */
export const MIN_CLEAN_RUNS = 3;

/**
 * One bisection step. A matching crash decides "buggy" at once (the
 * signature makes it strong evidence). "Clean" needs the posterior
 * probability of the bug to fall to epsilon: with p known and a 50/50 prior
 * that is (1-p)^n <= epsilon. At the cap, a commit that is more likely clean
 * than not is called clean (the final confidence says how sure), otherwise
 * it is skipped. A commit that gives no usable run is skipped.
 */
export function decideStep(s: StepInput): { decision: StepDecision; reason: string } {
  const runs = s.matching + s.clean + (s.unrelated ?? 0) + (s.unusable ?? 0);
  if (s.matching > 0) return { decision: 'buggy', reason: `${s.matching} matching crash(es) in ${runs} runs` };
  if (s.clean >= Math.min(s.minClean ?? MIN_CLEAN_RUNS, s.maxRuns) && s.pBuggy <= s.epsilon) {
    return { decision: 'clean', reason: `${s.clean} clean runs, P(bug present) ${fmtP(s.pBuggy)}` };
  }
  const useless = (s.unrelated ?? 0) + (s.unusable ?? 0);
  if (s.clean === 0 && useless >= Math.min(5, s.maxRuns)) {
    return { decision: 'skip', reason: `${useless} runs without a usable outcome` };
  }
  if (runs >= s.maxRuns) {
    if (s.clean > 0 && s.pBuggy <= 0.5) {
      return { decision: 'clean', reason: `run cap ${s.maxRuns} reached, P(bug present) ${fmtP(s.pBuggy)}` };
    }
    return { decision: 'skip', reason: `run cap ${s.maxRuns} reached, P(bug present) ${fmtP(s.pBuggy)}` };
  }
  return { decision: 'continue', reason: '' };
}

export type BadEndpointDecision = 'reproduced' | 'not-reproduced' | 'continue';

/**
 * The bad endpoint (the old one with --fixed) must reproduce. Runs continue
 * until `wantCrashes` matching crashes, which also pins down p and the
 * default signature; a single crash at the cap is accepted.
 */
export function decideBadEndpoint(c: Counts, wantCrashes: number, maxRuns: number): BadEndpointDecision {
  const runs = c.matching + c.clean + (c.unrelated ?? 0) + (c.unusable ?? 0);
  if (c.matching >= wantCrashes) return 'reproduced';
  if (runs >= maxRuns) return c.matching > 0 ? 'reproduced' : 'not-reproduced';
  return 'continue';
}

export type GoodEndpointDecision = 'clean' | 'reproduces' | 'capped' | 'continue';

/**
 * The good endpoint (the new one with --fixed) must not reproduce, to the
 * target: a buggy commit would have shown a matching crash within these
 * clean runs with probability >= confidence. Any matching crash fails it.
 */
export function decideGoodEndpoint(
  c: Counts,
  rate: { crashes: number; cleanOnBuggy: number },
  confidence: number,
  maxRuns: number,
  prior: RatePrior = UNIFORM_RATE,
): { decision: GoodEndpointDecision; confidence: number } {
  const runs = c.matching + c.clean + (c.unrelated ?? 0) + (c.unusable ?? 0);
  const conf = 1 - cleanSurvival(c.clean, rate.crashes, rate.cleanOnBuggy, prior);
  if (c.matching > 0) return { decision: 'reproduces', confidence: 0 };
  if (conf >= confidence) return { decision: 'clean', confidence: conf };
  if (runs >= maxRuns) return { decision: 'capped', confidence: conf };
  return { decision: 'continue', confidence: conf };
}

// The signature learnt from the bad endpoint is in signature.ts.

/**
 * Which clean-decided commit to run again when the answer is not yet sure
 * enough: the one most likely to carry the bug after all. Re-running a
 * commit that is already built costs a run, not a build.
 */
export function pickVerification(
  candidates: { index: number; runs: number }[],
  pBuggyOf: (index: number) => number,
  maxRuns: number,
): number | null {
  let best: number | null = null;
  let bestP = 0;
  for (const c of candidates) {
    if (c.runs >= maxRuns) continue;
    const p = pBuggyOf(c.index);
    if (p > bestP) {
      bestP = p;
      best = c.index;
    }
  }
  return best;
}

// ---------------------------------------------------------------------------
// syzkaller's published policy (pkg/bisect/bisect.go), for comparison.
// Re-stated from its description, not copied: 10 runs per commit, 20 for the
// first test and once the bug is seen as flaky (a bad verdict with fewer
// than half the runs crashing). Every crash counts, whatever its title.

export type SyzVerdict = 'bad' | 'good' | 'skip' | 'abort';

/** syzkaller's runs per test: 10, doubled for the first test and once flaky. */
export function syzkallerRuns(flaky: boolean, firstTest: boolean): number {
  return flaky || firstTest ? 20 : 10;
}

/**
 * syzkaller's verdict from counts: total runs, crashed (any title), ok, infra.
 * good: no crash and at least half the runs OK (three quarters once flaky);
 * bad: at least max(2, (total - infra) / 6) crashes and at least half the runs
 * with a result; otherwise skip, or abort if infra errors dominate.
 */
export function syzkallerDecision(total: number, bad: number, good: number, infra: number, flaky: boolean): SyzVerdict {
  const skip = total - bad - good - infra;
  const wantBad = Math.max(2, Math.trunc((total - infra) / 6));
  const wantTotal = Math.trunc(total / 2);
  const wantGood = flaky ? Math.trunc((total * 3) / 4) : Math.trunc(total / 2);
  if (bad === 0 && good >= wantGood) return 'good';
  if (bad >= wantBad && good + bad >= wantTotal) return 'bad';
  if (infra > skip) return 'abort';
  return 'skip';
}

/** syzkaller's confidence update: a good verdict may be a false negative. */
export function syzkallerGoodConfidence(reproChance: number, good: number): number {
  return 1 - Math.pow(1 - reproChance, good);
}

/** syzkaller's rate update after a bad verdict: only ever decreases, halfway. */
export function syzkallerUpdateRate(reproChance: number, badRatio: number): number {
  return Math.min(reproChance, (reproChance + badRatio) / 2);
}

export function fmtP(p: number): string {
  if (p === 0) return '0';
  if (p < 0.001) return p.toExponential(1);
  return p.toFixed(3);
}
