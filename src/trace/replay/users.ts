/**
 * users-mismatch and the crossings of the CPU count. v6.19+ prints the
 * users count it keeps under mm_cid.mutex, so each event moves it by exactly
 * one. 6.12 prints mm_users, read before the event is stamped: tasks other
 * CPUs added within the late-stamp window may be missing from it (excused,
 * recorded), older ones may not.
 */
import type { TraceLine } from '../parse.ts';
import { t6, type Mm, type Replay } from './state.ts';

function cross(r: Replay, m: Mm, prev: number | null, now: number): void {
  if (prev === null || r.cpus === null) return;
  const vf = r.vforkOf.get(m.mm);
  const vforkAlive = vf ? [...m.live.keys()].some((p) => vf.has(p)) : false;
  if (prev <= r.cpus && now > r.cpus) { m.stats.crossUp++; if (vforkAlive) m.stats.crossUpWithVfork++; }
  if (prev > r.cpus && now <= r.cpus) { m.stats.crossDown++; if (vforkAlive) m.stats.crossDownWithVfork++; }
}

export function usersEvent(r: Replay, m: Mm, e: { kind: 'user_add' | 'user_del'; pid: number; users: number; line: TraceLine }): void {
  const prev = m.users;
  if (e.kind === 'user_add') { m.live.set(e.pid, e.line); m.everUsers.add(e.pid); r.touch(e.pid, m); }
  else m.live.delete(e.pid);
  let bad: string | null = null;
  if (r.design === '6.19' && prev !== null) {
    const want = e.kind === 'user_add' ? prev + 1 : prev - 1;
    if (e.users !== want) bad = `users=${e.users} but the replay expects ${want} (was ${prev})`;
  } else if (e.users < m.live.size) {
    // Other CPUs' adds stamped shortly before this event may have come after
    // the read; their dels stamped shortly after it may have come before.
    const recent = [...m.live.values()].filter((l) => l.cpu !== e.line.cpu && e.line.time - l.time <= r.lateWindow);
    const soon = r.delsStampedAfter(m.mm, e.line, r.lateWindow).filter((d) => m.live.has(d.pid)).map((d) => d.line);
    const late = [...recent, ...soon];
    if (e.users < m.live.size - late.length) {
      bad = `users=${e.users} but ${m.live.size} tasks are active users in the replay (${[...m.live.keys()].join(', ')})` +
        (late.length ? `; only ${late.length} of them added or removed on another CPU within ${(r.lateWindow * 1e3).toFixed(0)} ms of this stamp` : '');
    } else {
      const gap = Math.max(...late.map((l) => Math.abs(e.line.time - l.time)));
      r.excuse(m, 'late-users-read', e.line.time, `users=${e.users} with ${m.live.size} active users: ` +
        `${recent.length} added just before this stamp and ${soon.length} removed just after it on other CPUs, ` +
        `within ${(gap * 1e3).toFixed(1)} ms`, [...late, e.line], gap);
    }
  }
  if (bad) {
    const key = `users:${e.line.lineNo}`;
    if (!m.reported.has(key)) {
      m.reported.add(key);
      r.report(m, {
        kind: 'users-mismatch', pid: e.pid, time: e.line.time,
        message: `mm ${m.mm}: ${e.kind === 'user_add' ? 'adding' : 'removing'} pid ${e.pid} at ${t6(e.line.time)}: ${bad}`,
      }, [m.users !== null ? m.lastUsersLine : null, e.line]);
    }
  }
  cross(r, m, prev, e.users);
  m.users = e.users;
  m.lastUsersLine = e.line;
  if (e.users > m.stats.maxUsers) m.stats.maxUsers = e.users;
}
