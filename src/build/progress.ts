import type { BuildProgress } from './types.ts';

const STEP = /^\s{2}(CC|AS|LD|AR|HOSTCC|HOSTLD|GEN|CALL|SYNC|UPD|OBJCOPY|MODPOST|BTF|VDSO|RELOCS|KSYMS|WRAP|SYSHDR|SYSTBL|POLICY|CHK|MKPIGGY|ZOFFSET|VOFFSET|MKREQ|CPUSTR|BUILD|LDS|EXPORTS|TEST|DESCEND|INSTALL|SIGN|STRIP|XZKERN|GZIP)\s+(?:\[M\]\s+)?\S/;

/**
 * Turns make's output lines into percent and ETA: progress is the count of
 * build steps so far over the count the previous build of this tree printed
 * (or a fixed estimate for a first cold build). The ETA comes from this
 * build's own rate once it has one (steps over the last RATE_WINDOW_MS, at
 * least RATE_MIN_MS and RATE_MIN_STEPS of it): a build whose pace changes
 * (ccache hits early, big objects late, a second build starting beside it)
 * gets an ETA that follows it instead of one from the average since the
 * start.
 */
export const RATE_WINDOW_MS = 120_000;
export const RATE_MIN_MS = 20_000;
export const RATE_MIN_STEPS = 20;

export function progressTracker(expected: number | null, emit: (p: BuildProgress) => void, now: () => number = Date.now) {
  const start = now();
  let n = 0;
  let lastEmit = 0;
  const seen: [number, number][] = [[start, 0]];   // (time, steps) at each emit, for the rate
  return {
    line(l: string) {
      if (!STEP.test(l)) return;
      n++;
      const t = now();
      if (t - lastEmit < 500) return;
      lastEmit = t;
      seen.push([t, n]);
      while (seen.length > 2 && t - seen[1][0] >= RATE_WINDOW_MS) seen.shift();
      const [t0, n0] = seen[0];
      const rate = t - t0 >= RATE_MIN_MS && n - n0 >= RATE_MIN_STEPS ? (n - n0) / (t - t0) : null;
      const p = progressAt(n, expected, t - start, rate);
      emit({ phase: 'make', ...p, message: l.trim() });
    },
    count: () => n,
  };
}

/** Percent of `expected` steps; ETA from `ratePerMs` (the current rate) when known, else from the average since the start. */
export function progressAt(done: number, expected: number | null, elapsedMs: number, ratePerMs: number | null = null): { percent?: number; etaSec?: number } {
  if (!expected || expected <= 0) return {};
  const frac = Math.min(done / expected, 0.99);
  const percent = Math.round(frac * 100);
  // Past the previous build's count the remainder is unknown; 1% of it is shown, as the percent stops at 99.
  if (ratePerMs !== null && ratePerMs > 0) return { percent, etaSec: Math.round(Math.max(expected - done, expected * 0.01) / ratePerMs / 1000) };
  const etaSec = frac > 0.01 ? Math.round(((elapsedMs / frac) * (1 - frac)) / 1000) : undefined;
  return { percent, etaSec };
}

/** The first compiler errors of a build log: what a developer wants to see first. */
export function firstCompilerErrors(log: string, max = 5): string[] {
  const out: string[] = [];
  for (const l of log.split('\n')) {
    if (/\berror:|\*\*\* \[.*\] Error \d/.test(l) || /undefined reference to/.test(l)) {
      out.push(l.trim());
      if (out.length >= max) break;
    }
  }
  return out;
}
