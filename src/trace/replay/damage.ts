/**
 * Console lines that lost characters (the serial console under a panic's
 * flood drops bytes): the event they were is gone. What the replay does:
 *
 * - repair: when the intact `key=value ... mm=` run of one event survived and
 *   says what it was (`pid= users= mm=` whose count moves the replay's by one,
 *   `pid= cid= active= users= mm=` of a fixup walk, `pid= cid= mm=`,
 *   `cpu= cid= mm=`), the event is replayed as that, and the repair listed;
 * - otherwise the mm is uncertain from that line: findings that need its
 *   whole event stream (duplicates, leaks, exhaustion, counts after it) are
 *   withheld and listed as excused ('damaged-line'); a fixup walk's miss is
 *   withheld only when the damaged line could be that task's own lost
 *   user_del (its pid, or no pid readable) before the walk, or a lost visit
 *   of the walk itself. The users count re-syncs at the next users event.
 */
import type { TraceEvent, TraceLine } from '../parse.ts';
import type { Mm, Replay } from './state.ts';

const USERS = /^pid=(\d+) users=(\d+) mm=([0-9a-f]{16})$/;
const FIXUP = /^pid=(\d+) cid=([0-9a-f]{8}) active=(\d+) users=(\d+) mm=([0-9a-f]{16})$/;
const TASK = /^pid=(\d+) cid=([0-9a-f]{8}) mm=([0-9a-f]{16})$/;
const CPU = /^cpu=(\d+) cid=([0-9a-f]{8}) mm=([0-9a-f]{16})$/;
const PID = /\bpid=(\d+)/;

/** The event a damaged line still says it was, or null. */
export function repair(m: Mm, e: { mm: string; body: string; line: TraceLine }): TraceEvent | null {
  const line = e.line;
  let x = FIXUP.exec(e.body);
  if (x && line.pid >= 0) {
    return { kind: 'fixup_task', pid: Number(x[1]), cid: parseInt(x[2], 16) >>> 0, active: Number(x[3]), users: Number(x[4]), mm: e.mm, line };
  }
  x = USERS.exec(e.body);
  if (x && m.users !== null) {
    const pid = Number(x[1]);
    const users = Number(x[2]);
    if (users === m.users + 1 && !m.live.has(pid)) return { kind: 'user_add', pid, users, mm: e.mm, line };
    if (users === m.users - 1 && m.live.has(pid)) return { kind: 'user_del', pid, users, mm: e.mm, line };
    return null;
  }
  x = TASK.exec(e.body);
  if (x) return { kind: 'task_update', pid: Number(x[1]), cid: parseInt(x[2], 16) >>> 0, mm: e.mm, line };
  x = CPU.exec(e.body);
  if (x) return { kind: 'cpu_update', cpu: Number(x[1]), cid: parseInt(x[2], 16) >>> 0, mm: e.mm, line };
  return null;
}

/** An unrepairable damaged line: the mm's replay is uncertain from here. */
export function markDamaged(r: Replay, m: Mm, line: TraceLine, body: string): void {
  const pid = PID.exec(body) ?? PID.exec(line.text.replace(/^.*?:\s/, ''));
  if (!m.damage) m.damage = { from: line, pids: new Set(), anyPid: false, lines: [] };
  m.damage.lines.push(line);
  if (pid) m.damage.pids.add(Number(pid[1]));
  else m.damage.anyPid = true;
  // A lost users event: the next one re-syncs the count.
  m.users = null;
  // A lost visit of an open walk by this line's task.
  const w = line.pid >= 0 ? m.walks.get(line.pid) : undefined;
  if (w) w.lostVisits.push(line);
  else if (line.pid < 0) for (const ow of m.walks.values()) ow.lostVisits.push(line);
}

/** The only mm name of which `partial` is what is left after characters were dropped (a subsequence), or null. */
export function resolvePartialMm(partial: string, mms: Iterable<string>): string | null {
  let found: string | null = null;
  for (const mm of mms) {
    let i = 0;
    for (let j = 0; j < mm.length && i < partial.length; j++) if (mm[j] === partial[i]) i++;
    if (i < partial.length) continue;
    if (found !== null) return null;
    found = mm;
  }
  return found;
}
