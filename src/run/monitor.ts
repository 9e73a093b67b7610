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

export interface MonitorState {
  initAtMs: number | null;
  doneAtMs: number | null;
  lastOutputMs: number;
  lastHeartbeatMs: number | null;
  firstDetection: (LineDetection & { atMs: number }) | null;
  counters: WorkloadCounters | null;
  lines: number;
}

export function parseCounters(line: string): Partial<WorkloadCounters> | null {
  const i = line.indexOf(HB_MARKER) >= 0 ? line.indexOf(HB_MARKER) : line.indexOf(DONE_MARKER);
  if (i < 0) return null;
  const out: Record<string, number> = {};
  for (const m of line.slice(i).matchAll(/\b([a-z]+)=(\d+)/g)) out[m[1]] = Number(m[2]);
  return out as Partial<WorkloadCounters>;
}

export class ConsoleMonitor {
  readonly state: MonitorState;
  private det = new LineDetector();

  constructor(startMs: number) {
    this.state = { initAtMs: null, doneAtMs: null, lastOutputMs: startMs, lastHeartbeatMs: null, firstDetection: null, counters: null, lines: 0 };
  }

  /** Feed one console line; returns a detection when this line starts a kernel report. */
  push(line: string, nowMs: number): LineDetection | null {
    const s = this.state;
    s.lines++;
    s.lastOutputMs = nowMs;
    if (s.initAtMs === null && line.includes(INIT_MARKER)) s.initAtMs = nowMs;
    if (line.includes(HB_MARKER) || line.includes(DONE_MARKER)) {
      const c = parseCounters(line);
      if (c) {
        const prev = s.counters ?? { spawns: 0, forks: 0, vforks: 0, threads: 0, accepts: 0, connects: 0, heartbeats: 0 };
        s.counters = { ...prev, ...c, heartbeats: prev.heartbeats + (line.includes(HB_MARKER) ? 1 : 0) };
      }
      if (line.includes(HB_MARKER)) s.lastHeartbeatMs = nowMs;
      if (line.includes(DONE_MARKER) && s.doneAtMs === null) s.doneAtMs = nowMs;
      return null;
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
