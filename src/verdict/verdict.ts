import type { CrashReport } from '../console/types.ts';

/** What one run means (run.json's verdict). */
export type Verdict =
  | 'reproduced'
  | 'not-reproduced'
  | 'boot-failed'
  | 'skip'
  | 'infra-error'
  | 'interrupted';

/**
 * What a run means, as a pure function of what was observed. The rules:
 * - interrupted by the user wins over everything (nothing is concluded);
 * - a QEMU that failed to start, or died without the kernel saying
 *   anything, is the host's fault: infra-error, never a kernel verdict;
 * - a crash report (or a silent hang) that matches the signature is
 *   `reproduced`; reports that do not match are kept as unrelated;
 * - no init banner: boot-failed (the commit cannot be tested), unless the
 *   boot timed out while the console was still flooding: the kernel was
 *   alive, so that is the set-up's fault (infra-error), not the commit's;
 * - otherwise not-reproduced, but only if the workload ran to its end.
 */
export interface Observed {
  interrupted: boolean;
  qemuStarted: boolean;
  qemuExit: { code: number | null; signal: string | null; byUs: boolean } | null;
  initSeen: boolean;
  workloadDone: boolean;
  reports: CrashReport[];            // from classify() over the whole console
  silentHang: CrashReport | null;    // synthesized from vCPU registers when the guest went silent
  signature: string | null;          // regex source
  title: string | null;              // exact title
  /** Bytes of console output when the boot timed out while the console was still busy. */
  floodedBootBytes?: number | null;
}

export interface Decision {
  verdict: Verdict;
  report: CrashReport | null;
  unrelated: { title: string; type: string }[];
  reason: string;
}

/** A signature: a regex over titles, or exact titles. */
export type TitleSignature = { regex: string } | { titles: readonly string[] };

/**
 * The one signature test (runs, loops, bisections): does any of a report's
 * titles (its title and its alternative titles) match? No signature
 * matches everything; an invalid regex matches nothing.
 */
export function titlesMatch(titles: readonly string[], sig: TitleSignature | null): boolean {
  if (!sig) return true;
  if ('titles' in sig) return titles.some((t) => sig.titles.includes(t));
  let re: RegExp;
  try {
    re = new RegExp(sig.regex);
  } catch {
    return false;
  }
  return titles.some((t) => re.test(t));
}

export function matches(r: CrashReport, signature: string | null, title: string | null): boolean {
  return titlesMatch([r.title, ...r.altTitles], title ? { titles: [title] } : signature ? { regex: signature } : null);
}

export function decide(o: Observed): Decision {
  // A silent hang comes first: what the kernel printed after it was provoked
  // by our NMI (or is the panic that NMI causes).
  const all = [...(o.silentHang ? [o.silentHang] : []), ...o.reports];
  const matching = all.filter((r) => matches(r, o.signature, o.title));
  const unrelated = all.filter((r) => !matching.includes(r)).map((r) => ({ title: r.title, type: r.type }));
  if (o.interrupted) {
    return { verdict: 'interrupted', report: matching[0] ?? null, unrelated, reason: 'interrupted by signal' };
  }
  if (!o.qemuStarted) return { verdict: 'infra-error', report: null, unrelated, reason: 'QEMU did not start' };
  if (matching.length) {
    return { verdict: o.initSeen ? 'reproduced' : 'boot-failed', report: matching[0], unrelated, reason: o.initSeen ? 'matching report' : 'crashed before init' };
  }
  const ex = o.qemuExit;
  const killedFromOutside = !!ex && !ex.byUs && (ex.signal !== null || (ex.code !== 0 && ex.code !== null));
  if (killedFromOutside && !o.workloadDone && all.length === 0) {
    return { verdict: 'infra-error', report: null, unrelated, reason: `QEMU exited unexpectedly (${ex!.signal ?? `code ${ex!.code}`})` };
  }
  if (!o.initSeen && all.length === 0 && o.floodedBootBytes) {
    const mb = (o.floodedBootBytes / 2 ** 20).toFixed(1);
    return {
      verdict: 'infra-error', report: null, unrelated,
      reason: `the boot timed out while the console was still flooding (${mb} MB printed): the kernel is alive but too busy printing to reach init; print less (tp_printk, ignore_loglevel) or raise --boot-timeout`,
    };
  }
  if (!o.initSeen) return { verdict: 'boot-failed', report: null, unrelated, reason: all.length ? 'crashed before init' : 'no init banner' };
  if (o.workloadDone) return { verdict: 'not-reproduced', report: null, unrelated, reason: unrelated.length ? 'only unrelated reports' : 'workload finished cleanly' };
  if (all.length) return { verdict: 'not-reproduced', report: null, unrelated, reason: 'only unrelated reports' };
  return { verdict: 'infra-error', report: null, unrelated, reason: 'workload did not finish and the kernel reported nothing' };
}

export const EXIT_FOR_VERDICT: Record<Verdict, number> = {
  'not-reproduced': 0,
  reproduced: 1,
  'boot-failed': 125,
  skip: 125,
  'infra-error': 255,
  interrupted: 255,
};
