import type { BuildProgress } from '../build/types.ts';
import type { WatchProgress } from './watch.ts';

/** What a run reports while it works: its build's progress, then the guest's. */
export type RunProgress = ({ stage: 'build' } & BuildProgress) | ({ stage: 'vm' } & WatchProgress);

function clock(ms: number): string {
  const s = Math.max(0, Math.floor(ms / 1000));
  return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, '0')}`;
}

const PHASE: Record<WatchProgress['phase'], string> = {
  boot: 'booting', workload: 'workload', detected: 'report seen', 'hang-check': 'heartbeat late, sampling vCPUs',
  hang: 'hang seen', stopping: 'stopping', done: 'workload done',
};

/**
 * One line for the guest's progress: phase, uptime, heartbeats,
 * spawns/vforks (and cells), the last kernel line; cut to `width`.
 */
export function vmProgressLine(p: WatchProgress, width = 120): string {
  const c = p.counters;
  const parts = [`${PHASE[p.phase]} ${clock(p.uptimeMs)}`, `hb ${p.heartbeats}`];
  if (c) parts.push(`spawns ${c.spawns} vforks ${c.vforks}${c.cells !== undefined ? ` cells ${c.cells}` : ''}`);
  let line = `krepro: ${parts.join(', ')}`;
  if (p.lastKernelLine) line += ` | ${p.lastKernelLine.trim()}`;
  return line.length > width ? line.slice(0, Math.max(0, width - 1)) + '…' : line;
}

/**
 * When to show the guest's progress: on a TTY the one live line is
 * rewritten at every update (the watch loop ticks 4 times a second); in a
 * pipe a line every `everyMs` (10 s), and at once when the phase changes
 * (a report seen, a late heartbeat, a hang).
 */
export function progressGate(tty: boolean, everyMs = 10_000): (p: WatchProgress, now: number) => boolean {
  let lastAt = -Infinity;
  let lastPhase: WatchProgress['phase'] | null = null;
  return (p, now) => {
    if (tty || p.phase !== lastPhase || now - lastAt >= everyMs) {
      lastAt = now;
      lastPhase = p.phase;
      return true;
    }
    return false;
  };
}
