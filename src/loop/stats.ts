/**
 * Statistics for repeated runs: pure functions of numbers, no I/O.
 *
 * - wilson(): 95% Wilson score interval for a binomial rate (what a loop's
 *   "rate" carries). Unlike the normal approximation it stays inside [0, 1]
 *   and is sensible at 0 of n and n of n, which is the common case here.
 * - kaplanMeier(): time-to-failure as survival data. A run that ends without
 *   a reproduction is censored at its length: it tells us the bug did not
 *   fire *before* then, not that it never would.
 * - fisherExact(): two-sided Fisher's exact test on a 2x2 table, used to flag
 *   a change in rate between two loops (small counts are the norm, so no
 *   chi-square approximation).
 */

/** z for a two-sided 95% interval (qnorm(0.975)). */
export const Z95 = 1.959963984540054;

/** Wilson score interval for `x` successes out of `n` trials. */
export function wilson(x: number, n: number, z = Z95): [number, number] {
  if (!Number.isInteger(x) || !Number.isInteger(n) || x < 0 || n < 0 || x > n) {
    throw new RangeError(`wilson: need integers 0 <= x <= n, got x=${x} n=${n}`);
  }
  if (n === 0) return [0, 1];
  const p = x / n;
  const z2 = z * z;
  const denom = 1 + z2 / n;
  const center = (p + z2 / (2 * n)) / denom;
  const half = (z / denom) * Math.sqrt((p * (1 - p)) / n + z2 / (4 * n * n));
  // At x = 0 (x = n) the lower (upper) bound is exactly 0 (1) in the reals;
  // say so instead of returning rounding noise.
  return [x === 0 ? 0 : Math.max(0, center - half), x === n ? 1 : Math.min(1, center + half)];
}

/** The median of plain values (mean of the middle two for an even count); null for none. */
export function median(values: readonly number[]): number | null {
  const v = [...values].sort((a, b) => a - b);
  const n = v.length;
  return n === 0 ? null : n % 2 ? v[(n - 1) / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/** One observation: time, and whether the event (a reproduction) happened then. */
export interface SurvivalObs {
  t: number;
  event: boolean;
}

export interface KmStep {
  t: number;        // event time
  atRisk: number;   // observations with time >= t
  events: number;   // reproductions at t
  s: number;        // survival just after t
}

export interface KmResult {
  steps: KmStep[];          // one per distinct event time, ascending
  median: number | null;    // smallest t with S(t) <= 0.5; null if never reached
  events: number;
  censored: number;
}

/**
 * Kaplan-Meier product-limit estimate. Censored observations tied with an
 * event time count as at risk at that time (the usual convention).
 */
export function kaplanMeier(obs: SurvivalObs[]): KmResult {
  for (const o of obs) {
    if (!Number.isFinite(o.t) || o.t < 0) throw new RangeError(`kaplanMeier: bad time ${o.t}`);
  }
  const sorted = [...obs].sort((a, b) => a.t - b.t);
  const eventTimes = [...new Set(sorted.filter((o) => o.event).map((o) => o.t))].sort((a, b) => a - b);
  const steps: KmStep[] = [];
  let s = 1;
  let median: number | null = null;
  for (const t of eventTimes) {
    const atRisk = sorted.filter((o) => o.t >= t).length;
    const events = sorted.filter((o) => o.event && o.t === t).length;
    s *= 1 - events / atRisk;
    steps.push({ t, atRisk, events, s });
    if (median === null && s <= 0.5 + 1e-12) median = t;
  }
  const events = obs.filter((o) => o.event).length;
  return { steps, median, events, censored: obs.length - events };
}

/** Survival at time t from a KM result (right-continuous step function). */
export function survivalAt(km: KmResult, t: number): number {
  let s = 1;
  for (const st of km.steps) {
    if (st.t > t) break;
    s = st.s;
  }
  return s;
}

const lfCache: number[] = [0];
function logFactorial(n: number): number {
  for (let i = lfCache.length; i <= n; i++) lfCache[i] = lfCache[i - 1] + Math.log(i);
  return lfCache[n];
}

function logChoose(n: number, k: number): number {
  return logFactorial(n) - logFactorial(k) - logFactorial(n - k);
}

/**
 * Two-sided Fisher's exact test for the table
 *     [ a  b ]
 *     [ c  d ]
 * The p-value sums the hypergeometric probabilities of every table with the
 * same margins that is no more likely than the observed one (R's
 * fisher.test definition, with the same relative tolerance 1e-7).
 */
export function fisherExact(a: number, b: number, c: number, d: number): number {
  for (const v of [a, b, c, d]) {
    if (!Number.isInteger(v) || v < 0) throw new RangeError(`fisherExact: counts must be integers >= 0`);
  }
  const r1 = a + b;
  const r2 = c + d;
  const c1 = a + c;
  const n = r1 + r2;
  if (n === 0) return 1;
  const lo = Math.max(0, c1 - r2);
  const hi = Math.min(r1, c1);
  const logDenom = logChoose(n, c1);
  const prob = (x: number) => Math.exp(logChoose(r1, x) + logChoose(r2, c1 - x) - logDenom);
  const pObs = prob(a);
  let p = 0;
  for (let x = lo; x <= hi; x++) {
    const px = prob(x);
    if (px <= pObs * (1 + 1e-7)) p += px;
  }
  return Math.min(1, p);
}

/** Two loops' rates compared: x1 of n1 vs x2 of n2. */
export function rateChange(x1: number, n1: number, x2: number, n2: number): { p: number; significant: boolean } {
  const p = fisherExact(x1, n1 - x1, x2, n2 - x2);
  return { p, significant: p < 0.05 };
}

/** Count occurrences of each string, most frequent first (ties by name). */
export function histogram(items: string[]): { key: string; count: number }[] {
  const m = new Map<string, number>();
  for (const it of items) m.set(it, (m.get(it) ?? 0) + 1);
  return [...m.entries()]
    .map(([key, count]) => ({ key, count }))
    .sort((x, y) => y.count - x.count || x.key.localeCompare(y.key));
}
