/**
 * The allowances the replay makes for how trace events are stamped, each
 * with what justifies it. Every use of one that changes an outcome is
 * recorded as an Excuse in the analysis (rule, gap, evidence lines).
 *
 * - clock-skew (CLOCK_SKEW_SECONDS): ftrace's default clock is `local`,
 *   sched_clock read per CPU without cross-CPU synchronisation, so a release
 *   on one CPU can sort a little after the next take on another.
 * - late-stamp (lateStampWindow): an event is stamped when its tracepoint
 *   runs, not when the state it reports changed (the scheduler publishes
 *   rq->curr before trace_sched_switch() and switch_mm_cid(); a count is read
 *   before its event is stamped). On hardware the gap is nanoseconds; a TCG
 *   vCPU thread can be descheduled by the host inside it for milliseconds (4
 *   vCPUs on 2 host cores). The window is bounded per accelerator by what was
 *   measured on that accelerator (README "What the analyzer excuses"); with
 *   no measurement (KVM here, or a trace of unknown origin) it is zero.
 * - stale-lazy-flag (6.12): the lazy-put flag is set only by cmpxchg from the
 *   slot's plain CID (sched_mm_cid_remote_clear, migration); a flag stamped
 *   after the replay saw the slot move on was set before that.
 * - mm-gone: an mm whose start the trace did not see loses its CIDs with it
 *   when its last user leaves (mm_destroy frees the CID mask, no putcid);
 *   only an mm the trace saw go away (users reached 0) is excused. An old mm
 *   that lives on and drops a CID without a release leaks it.
 */
import type { TraceAccel, TraceDesign } from './types.ts';

export const CLOCK_SKEW_SECONDS = 0.0005;

/** How long an allocation may find every CID taken before it counts (the upstream debug patch warns after 50 ms). */
export const EXHAUSTED_SECONDS = 0.05;

/**
 * Largest late stamp measured per accelerator (seconds). TCG: see README; no
 * KVM host was available to measure, so KVM gets no allowance beyond clock skew.
 */
export const MEASURED_LATE_STAMP: Record<TraceAccel, number> = {
  tcg: 0.05,
  kvm: 0,
  unknown: 0,
};

export function lateStampWindow(accel: TraceAccel, _design: TraceDesign): number {
  return MEASURED_LATE_STAMP[accel];
}
