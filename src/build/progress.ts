import type { BuildProgress } from './types.ts';

const STEP = /^\s{2}(CC|AS|LD|AR|HOSTCC|HOSTLD|GEN|CALL|SYNC|UPD|OBJCOPY|MODPOST|BTF|VDSO|RELOCS|KSYMS|WRAP|SYSHDR|SYSTBL|POLICY|CHK|MKPIGGY|ZOFFSET|VOFFSET|MKREQ|CPUSTR|BUILD|LDS|EXPORTS|TEST|DESCEND|INSTALL|SIGN|STRIP|XZKERN|GZIP)\s+(?:\[M\]\s+)?\S/;

/**
 * Turns make's output lines into percent and ETA: progress is the count of
 * build steps so far over the count the previous build of this tree printed
 * (or a fixed estimate for a first cold build).
 */
export function progressTracker(expected: number | null, emit: (p: BuildProgress) => void, now: () => number = Date.now) {
  const start = now();
  let n = 0;
  let lastEmit = 0;
  return {
    line(l: string) {
      if (!STEP.test(l)) return;
      n++;
      const t = now();
      if (t - lastEmit < 500) return;
      lastEmit = t;
      const p = progressAt(n, expected, t - start);
      emit({ phase: 'make', ...p, message: l.trim() });
    },
    count: () => n,
  };
}

export function progressAt(done: number, expected: number | null, elapsedMs: number): { percent?: number; etaSec?: number } {
  if (!expected || expected <= 0) return {};
  const frac = Math.min(done / expected, 0.99);
  const percent = Math.round(frac * 100);
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
