import { LineDetector } from '../console/detect.ts';
import type { LineDetection } from '../console/types.ts';
import type { WorkloadCounters } from './types.ts';

/**
 * Watches console lines as they arrive: the guest's own markers (init
 * started, heartbeats, workload done), the kernel's reports (through the
 * same rule table `krepro classify` uses) and silence. Time comes from the
 * caller, so the policy is testable with a fake clock.
 */
export const INIT_MARKER = 'krepro-init: started';
export const DONE_MARKER = 'krepro-done';
export const HB_MARKER = 'krepro-hb';
/** Every progress line of guest/init starts so. */
export const INIT_PREFIX = 'krepro-init:';
/** guest/init's line after the workload exits when it exited 0 (a backup for a cut `krepro-done`). */
export const WORKLOAD_EXIT_MARKER = 'krepro-init: workload: exit status 0 ';

export interface MonitorState {
  initAtMs: number | null;
  doneAtMs: number | null;
  lastOutputMs: number;
  lastHeartbeatMs: number | null;
  firstDetection: (LineDetection & { atMs: number }) | null;
  counters: WorkloadCounters | null;
  lines: number;
  bytes: number;
}

/** The workload's counters, as the heartbeat and done lines carry them. */
const COUNTER_KEYS = new Set(['t', 'rc', 'spawns', 'forks', 'vforks', 'threads', 'accepts', 'connects', 'cells', 'errors']);

/**
 * A kernel line that cut into ours: guest output and printk share the
 * serial port, so a heartbeat can read `krepro-hb t=12 accepts=1[   23.1] sched_switch: ...`.
 * Returns where the kernel's part starts, or -1.
 */
export function kernelIntrusion(line: string, from = 0): number {
  const m = /\[\s{0,12}\d{1,8}\.\d{6}\]/.exec(line.slice(from));
  return m ? from + m.index : -1;
}

/** Where a heartbeat or done marker starts in a line, and where a kernel line cut into it (-1: none). */
function ourSpan(line: string): { at: number; cut: number } | null {
  const hb = line.indexOf(HB_MARKER);
  const at = hb >= 0 ? hb : line.indexOf(DONE_MARKER);
  return at < 0 ? null : { at, cut: kernelIntrusion(line, at) };
}

function countersIn(line: string, { at, cut }: { at: number; cut: number }): Partial<WorkloadCounters> {
  const ours = cut >= 0 ? line.slice(at, cut) : line.slice(at);
  const out: Record<string, number> = {};
  for (const m of ours.matchAll(/\b([a-z]+)=(\d+)\b/g)) if (COUNTER_KEYS.has(m[1])) out[m[1]] = Number(m[2]);
  // A value cut short by an intrusion (`accepts=1[ 23.1] ...`) is not a count.
  if (cut >= 0) {
    const last = /\b([a-z]+)=(\d+)$/.exec(ours);
    if (last) delete out[last[1]];
  }
  return out as Partial<WorkloadCounters>;
}

export function parseCounters(line: string): Partial<WorkloadCounters> | null {
  const span = ourSpan(line);
  return span ? countersIn(line, span) : null;
}

export class ConsoleMonitor {
  readonly state: MonitorState;
  private det = new LineDetector();

  constructor(startMs: number) {
    this.state = { initAtMs: null, doneAtMs: null, lastOutputMs: startMs, lastHeartbeatMs: null, firstDetection: null, counters: null, lines: 0, bytes: 0 };
  }

  /** Feed one console line; returns a detection when this line starts a kernel report. */
  push(line: string, nowMs: number): LineDetection | null {
    const s = this.state;
    s.lines++;
    s.bytes += line.length + 1;
    s.lastOutputMs = nowMs;
    // Any line of ours proves init runs: the first one may have been cut by
    // kernel output (a flooded console splits lines at any byte).
    const span = ourSpan(line);
    if (s.initAtMs === null && (span || line.includes(INIT_PREFIX))) s.initAtMs = nowMs;
    if (s.doneAtMs === null && line.includes(WORKLOAD_EXIT_MARKER)) s.doneAtMs = nowMs;
    if (span) {
      const hb = line.includes(HB_MARKER);
      const prev = s.counters ?? { spawns: 0, forks: 0, vforks: 0, threads: 0, accepts: 0, connects: 0, heartbeats: 0 };
      s.counters = { ...prev, ...countersIn(line, span), heartbeats: prev.heartbeats + (hb ? 1 : 0) };
      if (hb) s.lastHeartbeatMs = nowMs;
      if (s.doneAtMs === null && line.includes(DONE_MARKER)) s.doneAtMs = nowMs;
      // The kernel's part of a cut line still goes to the detectors.
      if (span.cut < 0) return null;
      line = line.slice(span.cut);
    }
    const d = this.det.push(line);
    if (d && !s.firstDetection) s.firstDetection = { ...d, atMs: nowMs };
    return d;
  }

  /**
   * Silent hang: after init, neither console output nor a heartbeat for
   * `hangMs`. (Before init, the boot timeout applies instead.)
   */
  silentFor(nowMs: number): number {
    const s = this.state;
    const last = Math.max(s.lastOutputMs, s.lastHeartbeatMs ?? 0);
    return nowMs - last;
  }
}
