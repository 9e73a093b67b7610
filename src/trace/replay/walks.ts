/**
 * fixup-missed-task: v6.19+'s task-to-CPU fixup walk must visit every task
 * that is an active user of the mm holding a task-owned CID when the walk
 * starts (mm_cid_fixup_tasks_to_cpus()). A walk is judged when the kernel's
 * own events end it, and nothing the missed task does afterwards (exec,
 * exit, user_del) excuses the miss.
 */
import type { TraceLine } from '../parse.ts';
import { describeCid } from '../cid.ts';
import { t6, type Held, type Mm, type Replay, type Walk } from './state.ts';

/** A mmcid_fixup_task line: the first of a walker in this mm opens a walk. */
export function walkVisit(r: Replay, m: Mm, pid: number, line: TraceLine): void {
  let w = m.walks.get(line.pid);
  if (!w) {
    const startLive = new Map(m.live);
    startLive.delete(line.pid);
    const startCids = new Map<number, Held>();
    for (const p of startLive.keys()) {
      const held = r.cidOfTask(m, p);
      if (held) startCids.set(p, held);
    }
    w = {
      walker: line.pid, start: line, startLive, startCids, usersAtStart: m.users, visited: [], visitedSet: new Set(), lines: [],
      lostVisits: [],
    };
    const vf = r.vforkOf.get(m.mm);
    if (vf && [...startLive.keys()].some((p) => vf.has(p))) m.stats.walksWithVfork++;
    m.walks.set(line.pid, w);
    let open = r.walkersOpen.get(line.pid);
    if (!open) r.walkersOpen.set(line.pid, (open = new Set()));
    open.add(m);
    m.stats.fixupWalks++;
  }
  w.visited.push(pid);
  w.visitedSet.add(pid);
  w.lines.push(line);
}

/**
 * Judge a walk when it ends. The walker holds mm->mm_cid.mutex for the whole
 * walk, and a task can only leave the users (sched_mm_cid_exit(), which exec
 * and exit both go through) under that mutex, so a user_del stamped inside
 * the walk's span cannot have happened during it; it ends the walk.
 */
export function closeWalk(r: Replay, m: Mm, w: Walk): void {
  m.walks.delete(w.walker);
  r.walkersOpen.get(w.walker)?.delete(m);
  const misses: { pid: number; addLine: TraceLine; held: Held; v: ReturnType<Replay['dc']> & { cid: number } }[] = [];
  for (const [pid, addLine] of w.startLive) {
    if (pid === w.walker || w.visitedSet.has(pid)) continue;
    const held = w.startCids.get(pid) ?? null;
    const v = held ? r.dc(held.raw) : null;
    // Only a task-owned CID needs the walk: an unset one (a task still in fork) has nothing to hand over.
    if (!held || !v || v.unset || v.onCpu || v.transit || v.cid === null) continue;
    misses.push({ pid, addLine, held, v: v as typeof v & { cid: number } });
  }
  // Damaged lines (damage.ts): a lost user_del of the task before the walk, or lost visits of the walk.
  const d = m.damage;
  const lostLeave = (pid: number) => !!d && d.from.lineNo < w.start.lineNo && (d.anyPid || d.pids.has(pid));
  const lostVisit = misses.length > 0 && misses.length <= w.lostVisits.length;
  let missed = false;
  for (const { pid, addLine, held, v } of misses) {
    if (lostLeave(pid) || lostVisit) {
      r.excuse(m, 'damaged-line', w.start.time, `the fixup walk pid ${w.walker} at ${t6(w.start.time)} did not visit pid ${pid}, ` +
        (lostVisit ? `but ${w.lostVisits.length} of the walker's lines in the walk are damaged: the visit may be one of them`
          : `but a damaged line of this mm before the walk may be pid ${pid} leaving`), [addLine, w.start, ...(d?.lines ?? []).slice(0, 3), ...w.lostVisits]);
      continue;
    }
    missed = true;
    const pc = r.pidCpu.get(pid);
    const running = pc && r.cpuCurr.get(pc.cpu)?.pid === pid ? pc : null;
    const cidText = ` holding ${describeCid(held.raw, r.design)} (since ${t6(held.line.time)})`;
    r.report(m, {
      kind: 'fixup-missed-task', pid, cid: v.cid, ...(running ? { cpu: running.cpu } : {}), walker: w.walker, time: w.start.time,
      message: `mm ${m.mm}: the fixup walk pid ${w.walker} started at ${t6(w.start.time)}` +
        (w.usersAtStart !== null ? ` (users=${w.usersAtStart})` : '') +
        ` visited pids ${w.visited.join(', ')} but never pid ${pid}, an active user since ${t6(addLine.time)}` +
        ` (added by pid ${addLine.pid} on CPU ${addLine.cpu})${cidText}` +
        (running ? `, running on CPU ${running.cpu} since ${t6(running.line.time)}` : '') +
        (w.lostVisits.length ? `; ${w.lostVisits.length} of the walker's lines are damaged, fewer than the ${misses.length} tasks missed` : ''),
    }, [addLine, held.line, m.slots.get(v.cid)?.get, running?.line,
      running ? m.cpuVal.get(running.cpu)?.line : null, ...w.lines]);
  }
  if (missed) m.stats.walksMissed++;
}

/** Judge every open walk in this mm (users changed: the walker's mutex is gone). */
export function closeWalksIn(r: Replay, m: Mm): void {
  for (const w of [...m.walks.values()]) closeWalk(r, m, w);
}

/**
 * v6.19+: while a task-to-CPU walk runs the mm's mode is ONCPU|TRANSIT, and a
 * task scheduled in then gets its CPU's CID with the TRANSIT bit
 * (mm_cid_from_cpu()). A CPU-owned CID without TRANSIT is only handed out
 * after mm_cid_complete_transit(), i.e. after the walk: the kernel itself
 * says the walk is over.
 */
export function closeWalksAtModeFlip(r: Replay, m: Mm, raw: number): void {
  if (r.design !== '6.19' || !m.walks.size) return;
  const v = r.dc(raw);
  if (v.onCpu && !v.transit && !v.unset) closeWalksIn(r, m);
}

/** The walker did something else that ends its walks (fork, exec, exit, a users change of its own). */
export function closeWalksBy(r: Replay, pid: number): void {
  const open = r.walkersOpen.get(pid);
  if (!open) return;
  for (const m of [...open]) {
    const w = m.walks.get(pid);
    if (w) closeWalk(r, m, w);
  }
  r.walkersOpen.delete(pid);
}
