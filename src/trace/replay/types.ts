/**
 * What the mmcid replay reports (the analysis record that run.json's
 * summary, analysis.json, `krepro analyze --json` and the reports read).
 */

export type AnomalyKind = 'fixup-missed-task' | 'cid-duplicate' | 'cid-leak' | 'users-mismatch' | 'cid-exhausted';

export interface Anomaly {
  kind: AnomalyKind;
  mm: string;
  pid?: number;
  cid?: number;
  cpu?: number;
  /** Pid of the task that ran the fixup walk (fixup-missed-task). */
  walker?: number;
  /** Trace time (seconds) the anomaly is anchored at. */
  time: number;
  /** Evidence: the trace lines, in trace order. */
  lines: string[];
  lineNumbers: number[];
  message: string;
}

/**
 * The allowances the replay makes for how events are stamped (see
 * tolerances.ts). Each one that changed an outcome is listed in the
 * analysis, so a reader sees what was excused and by how much.
 */
export type ToleranceRule =
  | 'clock-skew'          // a release stamped just after the next take on another CPU
  | 'late-stamp'          // the other owner's CPU was quiet (descheduled vCPU) and let go late
  | 'late-users-read'     // 6.12: mm_users read before other CPUs' adds were stamped
  | 'stale-lazy-flag'     // 6.12: a lazy-put flag stamped after the slot moved on
  | 'mm-gone'             // an mm older than the trace went away with its CIDs
  | 'damaged-line';       // the console damaged a line this finding needs (damage.ts)

export interface Excuse {
  rule: ToleranceRule;
  mm: string;
  time: number;
  /** The gap the allowance covered (seconds), where it is about time. */
  gap?: number;
  message: string;
  lines: string[];
  lineNumbers: number[];
}

/** How hard the trace exercised one mm (one incarnation of an mm address). */
export interface MmExercise {
  mm: string;
  firstTime: number;
  tasks: number;          // distinct pids that used the mm
  maxUsers: number;
  crossUp: number;        // users went from <= cpus to > cpus
  crossDown: number;      // users went from > cpus to <= cpus
  crossUpWithVfork: number;
  crossDownWithVfork: number;
  vforkChildren: number;  // tasks that left the mm by exec while others still used it
  fixupWalks: number;     // v6.19+ only
  walksWithVfork: number; // walks that started while a vfork child of the mm was an active user
  walksMissed: number;    // walks that missed at least one task (fixup-missed-task)
}

export interface ExerciseTotals {
  mms: number;
  sharedMms: number;      // mms with 2 or more users at some point
  maxUsers: number;
  crossUp: number;
  crossDown: number;
  crossUpWithVfork: number;
  crossDownWithVfork: number;
  vforkChildren: number;
  fixupWalks: number;
  walksWithVfork: number;
  walksMissed: number;
  /** Trace time from the first to the last replayed event (seconds), for per-minute rates. */
  span: number;
}

export type TraceDesign = '6.12' | '6.19' | 'unknown';

/** The accelerator the traced kernel ran on: it bounds the late-stamp allowance (tolerances.ts). */
export type TraceAccel = 'tcg' | 'kvm' | 'unknown';

export interface TraceAnalysis {
  /** Which MM CID design the values come from ('6.12': lazy per-CPU CIDs; '6.19': ownership modes). */
  design: TraceDesign;
  cpus: number | null;
  cpusSource: 'option' | 'header' | 'inferred' | 'none';
  /** The accelerator the allowances were bounded by, and the bound (seconds). */
  accel: TraceAccel;
  lateStampWindow: number;
  traceLines: number;
  mmcidEvents: number;
  rejectedLines: number;
  /** mmcid lines the console damaged (characters lost) that still name an mm (replay/damage.ts). */
  damagedLines: number;
  /** Set when the ring buffer lost events: the replay starts here (seconds); earlier events are skipped. */
  replayFrom: number | null;
  skippedEvents: number;
  /**
   * The trace stops before the kernel did (see ParsedTrace.truncated, or the
   * caller knew the dump was cut): conclusions that need what comes after
   * the cut (a leak, an open walk, a duplicate still in its window) are
   * withheld; findings whose evidence lies before the cut stand.
   */
  truncated: boolean;
  anomalies: Anomaly[];
  /** What the allowances excused, each with its evidence. */
  excused: Excuse[];
  /** Mms with two or more users, or with an anomaly. */
  mms: MmExercise[];
  totals: ExerciseTotals;
  /** The trigger counts per minute of trace (totals / span); null when the trace spans no time. */
  perMinute: { crossUp: number; crossUpWithVfork: number; fixupWalks: number; walksWithVfork: number; walksMissed: number } | null;
}

export interface AnalyzeOptions {
  /** CPU count for the threshold; else the trace header `#P:N`; else highest CPU seen + 1. */
  cpus?: number;
  /** The text is known to stop before the trace did (e.g. a transfer cut short). */
  truncated?: boolean;
  /**
   * The text is a ring-buffer dump without a tracefs header (ftrace_dump_on_oops
   * on the console): each CPU's buffer drops its oldest pages on its own when
   * full, so before the latest of the CPUs' first events some CPU's events may
   * be missing. The replay then starts there, as for a `[LOST]` marker.
   */
  startMayBeCut?: boolean;
  /** The accelerator the kernel ran on (run.json's accel); unknown: no late-stamp allowance. */
  accel?: TraceAccel;
}
