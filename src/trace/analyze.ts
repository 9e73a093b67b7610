/**
 * Replay mmcid trace events per mm (users, each task's CID, each CPU's CID,
 * which CID bits are taken, fixup walks) and report what breaks the rules:
 *
 * - fixup-missed-task: a task that is an active user of the mm holding a
 *   task-owned CID when a fixup walk starts (not the walker) and is never
 *   visited by that walk, whatever it does afterwards;
 * - cid-duplicate: one CID taken twice without a release, or held by two
 *   tasks (or two CPUs) at once, for longer than cross-CPU clock skew;
 * - cid-leak: a CID bit still taken at the end when its last owner dropped
 *   it without releasing it;
 * - users-mismatch: an event's users count disagrees with the replay;
 * - cid-exhausted: an allocation found every CID taken and did not succeed
 *   within 50 ms (6.12 events, or any kernel printing getcid cid=unset).
 *
 * Pure: takes parsed events, returns data. Nothing here reads files.
 */
import { parseTrace, type ParsedTrace, type TraceEvent, type TraceLine } from './parse.ts';
import { decodeCid, describeCid, hex8 } from './cid.ts';

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
}

export interface TraceAnalysis {
  /** Which MM CID design the values come from ('6.12': lazy per-CPU CIDs; '6.19': ownership modes). */
  design: '6.12' | '6.19' | 'unknown';
  cpus: number | null;
  cpusSource: 'option' | 'header' | 'inferred' | 'none';
  traceLines: number;
  mmcidEvents: number;
  rejectedLines: number;
  /** Set when the ring buffer lost events: the replay starts here (seconds); earlier events are skipped. */
  replayFrom: number | null;
  skippedEvents: number;
  /**
   * The trace stops before the kernel did (see ParsedTrace.truncated, or the
   * caller knew the dump was cut): nothing is concluded from its end, so no
   * cid-leak, unresolved cid-exhausted or open walk is reported there.
   */
  truncated: boolean;
  anomalies: Anomaly[];
  /** Mms with two or more users, or with an anomaly. */
  mms: MmExercise[];
  totals: ExerciseTotals;
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
}

interface Walk {
  walker: number;
  start: TraceLine;
  startLive: Map<number, TraceLine>;
  /** What each of those tasks held when the walk started. */
  startCids: Map<number, { raw: number; line: TraceLine }>;
  usersAtStart: number | null;
  visited: number[];
  visitedSet: Set<number>;
  lines: TraceLine[];
}

interface Slot {
  cid: number;
  get: TraceLine | null;              // the getcid that took it (null: inferred from a holder)
  holders: Map<string, TraceLine>;    // 'task:73' | 'cpu:1' -> line that gave it the CID
  lastDrop: { holder: string; line: TraceLine; since: TraceLine } | null;
}

interface Mm {
  mm: string;
  dead: boolean;
  users: number | null;
  live: Map<number, TraceLine>;
  everUsers: Set<number>;
  taskVal: Map<number, { raw: number; line: TraceLine }>;
  cpuVal: Map<number, { raw: number; line: TraceLine }>;
  slots: Map<number, Slot>;
  walks: Map<number, Walk>;
  /** Failed allocations (cid=unset getcid) per CPU, not yet followed by a success there. */
  exhausted: Map<number, { line: TraceLine; message: string; evidence: (TraceLine | null | undefined)[] }>;
  lastPut: Map<number, number>;       // cid -> line number of its last putcid
  /** Duplicates waiting out the clock-skew window (see SKEW_SECONDS). */
  pendingDup: PendingDup[];
  reported: Set<string>;
  childCid: Map<number, { raw: number; line: TraceLine }>;   // pid -> getcid that followed its user_add
  stats: MmExercise;
  anomalies: number;
}

/** How long an allocation may find every CID taken before it counts (the upstream debug patch warns after 50 ms). */
const EXHAUSTED_SECONDS = 0.05;

/**
 * Per-CPU trace clocks may disagree by a little, so a release on one CPU can
 * sort just after the next take on another. A duplicate counts only if it is
 * not undone (the CID released, the other owner letting go) within this window.
 */
const SKEW_SECONDS = 0.0005;

/**
 * A trace event is stamped when the tracepoint runs, not when the state it
 * reports changed: the scheduler publishes rq->curr before switch_mm_cid()
 * traces the switch-out, and a count is read before its event is stamped.
 * On a real machine that gap is nanoseconds; a TCG vCPU thread can be
 * descheduled by the host for milliseconds inside it (4 vCPUs on 2 cores),
 * while the other vCPUs go on and log what the change allowed. So a
 * duplicate is also undone when the other owner lets go within this window
 * and its CPU logged nothing between the duplicate and the letting go (it
 * was stalled in between, not running on with the CID).
 */
const HOST_DELAY_SECONDS = 0.05;

interface PendingDup {
  kind: 'double' | 'owner';
  cid: number;
  time: number;
  other?: string;     // 'owner': the holder that must let go in time
  fire: () => void;
}

const byLine = (a: TraceLine, b: TraceLine) => a.lineNo - b.lineNo;

function evidence(lines: (TraceLine | null | undefined)[]): { lines: string[]; lineNumbers: number[] } {
  const seen = new Map<number, TraceLine>();
  for (const l of lines) if (l) seen.set(l.lineNo, l);
  const sorted = [...seen.values()].sort(byLine);
  return { lines: sorted.map((l) => l.text), lineNumbers: sorted.map((l) => l.lineNo) };
}

const t6 = (s: number) => `${s.toFixed(6)}s`;

/** Which design printed these values. */
function detectDesign(events: TraceEvent[]): TraceAnalysis['design'] {
  let old = false;
  let neu = false;
  for (const e of events) {
    if (e.kind === 'fixup_task') neu = true;
    if (e.kind === 'getcid' || e.kind === 'putcid' || e.kind === 'task_update' || e.kind === 'cpu_update' || e.kind === 'fixup_task') {
      const r = e.cid >>> 0;
      // 0x80000000 says nothing: unset on v6.19+, lazy-put CID 0 on 6.12.
      if (r === 0xffffffff || (r & 0x80000000 && r !== 0x80000000)) old = true;
      else if (r !== 0x80000000 && (r & 0x60000000) !== 0) neu = true;
    }
  }
  if (old && !neu) return '6.12';
  if (neu && !old) return '6.19';
  return 'unknown';
}

/**
 * Tasks that left an mm by exec while other tasks still used it: vfork()
 * children (or other CLONE_VM non-threads). A thread's exec first kills its
 * siblings, so the old mm has no live user left when the exec completes.
 */
function classifyVforkChildren(events: TraceEvent[]): Map<string, Set<number>> {
  const out = new Map<string, Set<number>>();
  const live = new Map<string, Set<number>>();
  const leftFrom = new Map<number, string>();   // pid -> mm it last left
  for (const e of events) {
    if (e.kind === 'user_add') {
      const from = leftFrom.get(e.pid);
      if (from !== undefined && from !== e.mm && (live.get(from)?.size ?? 0) > 0) {
        let s = out.get(from);
        if (!s) out.set(from, (s = new Set()));
        s.add(e.pid);
      }
      leftFrom.delete(e.pid);
      let l = live.get(e.mm);
      if (!l) live.set(e.mm, (l = new Set()));
      if (e.users === 1) l.clear();
      l.add(e.pid);
    } else if (e.kind === 'user_del') {
      live.get(e.mm)?.delete(e.pid);
      leftFrom.set(e.pid, e.mm);
    } else if (e.kind === 'exit') {
      leftFrom.delete(e.pid);
    }
  }
  return out;
}

export function analyzeText(text: string, opts: AnalyzeOptions = {}): TraceAnalysis {
  return analyzeTrace(parseTrace(text), opts);
}

export function analyzeTrace(parsed: ParsedTrace, opts: AnalyzeOptions = {}): TraceAnalysis {
  // With lost events only the tail that every CPU's buffer still covers is complete.
  const replayFrom = parsed.completeFrom ?? (opts.startMayBeCut ? parsed.coveredFrom : null);
  const events = replayFrom === null ? parsed.events : parsed.events.filter((e) => e.line.time >= replayFrom);
  const skippedEvents = parsed.events.length - events.length;
  const design = detectDesign(events);
  const dc = (raw: number) => decodeCid(raw, design);
  let cpus: number | null = null;
  let cpusSource: TraceAnalysis['cpusSource'] = 'none';
  if (opts.cpus && opts.cpus > 0) { cpus = opts.cpus; cpusSource = 'option'; }
  else if (parsed.cpus) { cpus = parsed.cpus; cpusSource = 'header'; }
  else if (parsed.maxCpu >= 0) { cpus = parsed.maxCpu + 1; cpusSource = 'inferred'; }
  const exactUsers = design === '6.19';
  const vforkOf = classifyVforkChildren(events);

  const anomalies: Anomaly[] = [];
  const finished: Mm[] = [];
  const mms = new Map<string, Mm>();
  const cpuCurr = new Map<number, { pid: number; line: TraceLine }>();
  const pidCpu = new Map<number, { cpu: number; line: TraceLine }>();
  const lastAddBy = new Map<number, { pid: number; mm: string }>();
  let mmcidEvents = 0;

  const newMm = (mm: string, line: TraceLine): Mm => ({
    mm, dead: false, users: null, live: new Map(), everUsers: new Set(), taskVal: new Map(), cpuVal: new Map(),
    slots: new Map(), walks: new Map(), exhausted: new Map(), lastPut: new Map(), pendingDup: [], reported: new Set(), childCid: new Map(), anomalies: 0,
    stats: {
      mm, firstTime: line.time, tasks: 0, maxUsers: 0, crossUp: 0, crossDown: 0, crossUpWithVfork: 0,
      crossDownWithVfork: 0, vforkChildren: vforkOf.get(mm)?.size ?? 0, fixupWalks: 0, walksWithVfork: 0, walksMissed: 0,
    },
  });

  const report = (m: Mm, a: Omit<Anomaly, 'mm' | 'lines' | 'lineNumbers'>, ev: (TraceLine | null | undefined)[]) => {
    m.anomalies++;
    anomalies.push({ ...a, mm: m.mm, ...evidence(ev) });
  };

  const getMm = (mm: string, line: TraceLine): Mm => {
    let m = mms.get(mm);
    if (!m) mms.set(mm, (m = newMm(mm, line)));
    return m;
  };

  /** Where a pid's CID came from, for messages. */
  const cidOfTask = (m: Mm, pid: number): { raw: number; line: TraceLine } | null => {
    const tv = m.taskVal.get(pid);
    if (tv && !dc(tv.raw).unset) return tv;
    const pc = pidCpu.get(pid);
    if (pc && cpuCurr.get(pc.cpu)?.pid === pid) {
      const cv = m.cpuVal.get(pc.cpu);
      if (cv && !dc(cv.raw).unset && cv.line.lineNo > pc.line.lineNo) return cv;
    }
    return m.childCid.get(pid) ?? tv ?? null;
  };

  /** Time of the previous event each CPU logged (any event), for undoneInTime. */
  const cpuLast = new Map<number, number>();
  /** A duplicate noticed at `since` is undone by `line` (see SKEW_SECONDS, HOST_DELAY_SECONDS). */
  const undoneInTime = (since: number, line: TraceLine) => {
    const dt = line.time - since;
    return dt <= SKEW_SECONDS || (dt <= HOST_DELAY_SECONDS && (cpuLast.get(line.cpu) ?? -Infinity) <= since);
  };
  const pidMms = new Map<number, Set<Mm>>();   // pid -> mms it used (for exits)
  const touch = (pid: number, m: Mm) => {
    let set = pidMms.get(pid);
    if (!set) pidMms.set(pid, (set = new Set()));
    set.add(m);
  };
  const setHolder = (m: Mm, holder: string, raw: number, line: TraceLine) => {
    const isTask = holder.startsWith('task:');
    const map = isTask ? m.taskVal : m.cpuVal;
    const id = Number(holder.split(':')[1]);
    if (isTask) touch(id, m);
    const old = map.get(id);
    const oldV = old ? dc(old.raw) : null;
    const newV = dc(raw);
    if (oldV && oldV.cid !== null && oldV.cid !== newV.cid && m.pendingDup.length) {
      const cid = oldV.cid;
      m.pendingDup = m.pendingDup.filter((p) => !(p.kind === 'owner' && p.other === holder && p.cid === cid && undoneInTime(p.time, line)));
    }
    if (oldV && oldV.cid !== null && oldV.cid !== newV.cid) {
      const s = m.slots.get(oldV.cid);
      if (s && s.holders.has(holder)) {
        const since = s.holders.get(holder)!;
        s.holders.delete(holder);
        if (s.holders.size === 0) s.lastDrop = { holder, line, since };
      }
    }
    if (newV.cid !== null) {
      let s = m.slots.get(newV.cid);
      if (!s) m.slots.set(newV.cid, (s = { cid: newV.cid, get: null, holders: new Map(), lastDrop: null }));
      if (!s.holders.has(holder)) s.holders.set(holder, line);
    }
    map.set(id, { raw, line });
  };

  const dropHolder = (m: Mm, holder: string, line: TraceLine) => {
    const map = holder.startsWith('task:') ? m.taskVal : m.cpuVal;
    if (map.has(Number(holder.split(':')[1]))) setHolder(m, holder, 0xffffffff, line);
  };

  /** Task-owned (plain) or CPU-owned values of the same CID held by two owners. */
  const checkDuplicateOwner = (m: Mm, holder: string, raw: number, line: TraceLine) => {
    const v = dc(raw);
    if (v.cid === null) return;
    const isTask = holder.startsWith('task:');
    const owns = (x: ReturnType<typeof decodeCid>) =>
      isTask ? !x.onCpu && !x.transit && !x.lazy
        : design === '6.12' ? true : x.onCpu && !x.transit;
    if (!owns(v)) return;
    const map = isTask ? m.taskVal : m.cpuVal;
    const id = Number(holder.split(':')[1]);
    const slot = m.slots.get(v.cid);
    if (!slot) return;
    // The slot lists every current holder of this CID (released CIDs drop their slot).
    for (const holderKey of slot.holders.keys()) {
      if (holderKey.startsWith('task:') !== isTask) continue;
      const other = Number(holderKey.split(':')[1]);
      const ov = map.get(other);
      if (other === id || !ov) continue;
      const o = dc(ov.raw);
      if (o.cid !== v.cid || !owns(o)) continue;
      if (isTask && !m.live.has(other) && m.everUsers.has(other)) continue;
      if (ov.line.lineNo < (m.lastPut.get(v.cid) ?? -1)) continue; // held before the CID was released: stale
      const key = `dup:${holder}:${isTask ? 'task' : 'cpu'}:${other}:${v.cid}`;
      if (m.reported.has(key)) continue;
      m.reported.add(key);
      const who = isTask ? 'pid' : 'CPU';
      const cid = v.cid;
      const get = m.slots.get(cid)?.get;
      m.pendingDup.push({
        kind: 'owner', cid, time: line.time, other: holderKey,
        fire: () => report(m, {
          kind: 'cid-duplicate', cid, ...(isTask ? { pid: id } : { cpu: id }), time: line.time,
          message: `mm ${m.mm}: CID ${hex8(cid)} held by ${who} ${id} and ${who} ${other} at once: ` +
            `${who} ${other} has it since ${t6(ov.line.time)}, ${who} ${id} got it at ${t6(line.time)}`,
        }, [ov.line, line, get]),
      });
    }
  };

  /**
   * The 6.12 allocator may find the mask full for a moment while a remote
   * clear or a migration owns a CID: that resolves. Exhaustion is a failed
   * allocation that never resolves, or resolves only after 50 ms.
   */
  const reportExhausted = (m: Mm, x: { line: TraceLine; message: string; evidence: (TraceLine | null | undefined)[] }, end: TraceLine | null) => {
    report(m, {
      kind: 'cid-exhausted', pid: x.line.pid, cpu: x.line.cpu, time: x.line.time,
      message: x.message + (end ? `; the allocation only succeeded at ${t6(end.time)}` : '; no allocation succeeded on that CPU afterwards'),
    }, [...x.evidence, end]);
  };
  const resolveExhausted = (m: Mm, line: TraceLine) => {
    const x = m.exhausted.get(line.cpu);
    if (!x) return;
    m.exhausted.delete(line.cpu);
    if (line.time - x.line.time > EXHAUSTED_SECONDS) reportExhausted(m, x, line);
  };

  /**
   * Judge a walk when it ends. Every task that was an active user holding a
   * task-owned CID when the walk started must have been visited. Nothing
   * that happens after the walk excuses a miss: the walker holds
   * mm->mm_cid.mutex for the whole walk, and a task can only leave the users
   * (sched_mm_cid_exit(), which exec and exit both go through) under that
   * mutex, so a user_del stamped inside the walk's span cannot have happened
   * during it; it ends the walk (see usersEvent).
   */
  const closeWalk = (m: Mm, w: Walk) => {
    m.walks.delete(w.walker);
    walkersOpen.get(w.walker)?.delete(m);
    let missed = false;
    for (const [pid, addLine] of w.startLive) {
      if (pid === w.walker || w.visitedSet.has(pid)) continue;
      const held = w.startCids.get(pid) ?? null;
      const v = held ? dc(held.raw) : null;
      // Only a task-owned CID needs the walk: an unset one (a task still in fork) has nothing to hand over.
      if (!v || v.unset || v.onCpu || v.transit || v.cid === null) continue;
      missed = true;
      const pc = pidCpu.get(pid);
      const running = pc && cpuCurr.get(pc.cpu)?.pid === pid ? pc : null;
      const visitedList = w.visited.join(', ');
      const cidText = held && v && !v.unset ? ` holding ${describeCid(held.raw, design)} (since ${t6(held.line.time)})` : '';
      report(m, {
        kind: 'fixup-missed-task', pid, ...(v && v.cid !== null ? { cid: v.cid } : {}),
        ...(running ? { cpu: running.cpu } : {}), walker: w.walker, time: w.start.time,
        message: `mm ${m.mm}: the fixup walk pid ${w.walker} started at ${t6(w.start.time)}` +
          (w.usersAtStart !== null ? ` (users=${w.usersAtStart})` : '') +
          ` visited pids ${visitedList} but never pid ${pid}, an active user since ${t6(addLine.time)}` +
          ` (added by pid ${addLine.pid} on CPU ${addLine.cpu})${cidText}` +
          (running ? `, running on CPU ${running.cpu} since ${t6(running.line.time)}` : ''),
      }, [addLine, held?.line, m.slots.get(v?.cid ?? -1)?.get, running?.line,
        running ? m.cpuVal.get(running.cpu)?.line : null, ...w.lines]);
    }
    if (missed) m.stats.walksMissed++;
  };

  /**
   * v6.19+: while a task-to-CPU walk runs the mm's mode is ONCPU|TRANSIT, and
   * a task scheduled in then gets its CPU's CID with the TRANSIT bit
   * (mm_cid_from_cpu()). A CID that is CPU-owned without TRANSIT is only
   * handed out after mm_cid_complete_transit(), i.e. after the walk: the
   * kernel itself says the walk is over, even when the trace stops before
   * the mm's next user_add/user_del.
   */
  /** Judge every open walk in this mm. */
  const closeWalksIn = (m: Mm) => {
    for (const w of [...m.walks.values()]) closeWalk(m, w);
  };

  const closeWalksAtModeFlip = (m: Mm, raw: number) => {
    if (design !== '6.19' || !m.walks.size) return;
    const v = dc(raw);
    if (v.onCpu && !v.transit && !v.unset) closeWalksIn(m);
  };

  const walkersOpen = new Map<number, Set<Mm>>();   // walker pid -> mms it has an open walk in
  const closeWalksBy = (pid: number) => {
    const open = walkersOpen.get(pid);
    if (!open) return;
    for (const m of [...open]) {
      const w = m.walks.get(pid);
      if (w) closeWalk(m, w);
    }
    walkersOpen.delete(pid);
  };

  /**
   * End of an mm incarnation (or of the trace): CIDs whose last owner dropped
   * them unreleased. atCut: the end of a truncated trace, where what comes
   * next is unknown, so nothing is reported there.
   */
  const finish = (m: Mm, atCut = false) => {
    if (atCut) {
      m.walks.clear();
      m.pendingDup = [];
      m.exhausted.clear();
      m.stats.tasks = m.everUsers.size;
      finished.push(m);
      return;
    }
    closeWalksIn(m);
    for (const p of m.pendingDup) p.fire();
    m.pendingDup = [];
    for (const x of m.exhausted.values()) reportExhausted(m, x, null);
    m.exhausted.clear();
    // An mm whose users the trace never saw (it predates tracing, like the
    // init shell that then execs): when its last task exec'd or exited, its
    // CID mask went away with it, without any mmcid_putcid. Not a leak.
    const usersSeen = m.everUsers.size > 0;
    for (const s of m.slots.values()) {
      if (s.holders.size > 0 || !s.lastDrop || !usersSeen) continue;
      const d = s.lastDrop;
      const [kind, id] = d.holder.split(':');
      const who = kind === 'task' ? `pid ${id}` : `CPU ${id}`;
      report(m, {
        kind: 'cid-leak', cid: s.cid, ...(kind === 'task' ? { pid: Number(id) } : { cpu: Number(id) }), time: d.line.time,
        message: `mm ${m.mm}: CID ${hex8(s.cid)} is still taken but nobody holds it: ${who} dropped it at ` +
          `${t6(d.line.time)} (held since ${t6(d.since.time)}) and it was never released (no mmcid_putcid)` +
          (s.get ? `; taken at ${t6(s.get.time)} by pid ${s.get.pid} on CPU ${s.get.cpu}` : ''),
      }, [s.get, d.since, d.line]);
    }
    const st = m.stats;
    st.tasks = m.everUsers.size;
    finished.push(m);
  };

  const cross = (m: Mm, prev: number | null, now: number) => {
    if (prev === null || cpus === null) return;
    const vf = vforkOf.get(m.mm);
    const vforkAlive = vf ? [...m.live.keys()].some((p) => vf.has(p)) : false;
    if (prev <= cpus && now > cpus) { m.stats.crossUp++; if (vforkAlive) m.stats.crossUpWithVfork++; }
    if (prev > cpus && now <= cpus) { m.stats.crossDown++; if (vforkAlive) m.stats.crossDownWithVfork++; }
  };

  const usersEvent = (m: Mm, e: { kind: 'user_add' | 'user_del'; pid: number; users: number; line: TraceLine }) => {
    const prev = m.users;
    if (e.kind === 'user_add') { m.live.set(e.pid, e.line); m.everUsers.add(e.pid); touch(e.pid, m); }
    else m.live.delete(e.pid);
    let bad: string | null = null;
    if (exactUsers && prev !== null) {
      const want = e.kind === 'user_add' ? prev + 1 : prev - 1;
      if (e.users !== want) bad = `users=${e.users} but the replay expects ${want} (was ${prev})`;
    } else {
      // mm_users was read before the event was stamped; tasks that other
      // CPUs added in between (a host-stalled vCPU, see HOST_DELAY_SECONDS)
      // may be missing from it. Older ones may not.
      let recent = 0;
      for (const l of m.live.values()) if (l.cpu !== e.line.cpu && e.line.time - l.time <= HOST_DELAY_SECONDS) recent++;
      if (e.users < m.live.size - recent) {
        bad = `users=${e.users} but ${m.live.size} tasks are active users in the replay (${[...m.live.keys()].join(', ')})` +
          (recent ? `, ${m.live.size - recent} of them added more than ${HOST_DELAY_SECONDS * 1000} ms earlier or on this CPU` : '');
      }
    }
    if (bad) {
      const key = `users:${e.line.lineNo}`;
      if (!m.reported.has(key)) {
        m.reported.add(key);
        report(m, {
          kind: 'users-mismatch', pid: e.pid, time: e.line.time,
          message: `mm ${m.mm}: ${e.kind === 'user_add' ? 'adding' : 'removing'} pid ${e.pid} at ${t6(e.line.time)}: ${bad}`,
        }, [m.users !== null ? lastUsersLine.get(m) : null, e.line]);
      }
    }
    cross(m, prev, e.users);
    m.users = e.users;
    lastUsersLine.set(m, e.line);
    if (e.users > m.stats.maxUsers) m.stats.maxUsers = e.users;
  };
  const lastUsersLine = new WeakMap<Mm, TraceLine>();

  let prevLine: TraceLine | null = null;
  for (const e of events) {
    const line = e.line;
    if (prevLine) cpuLast.set(prevLine.cpu, prevLine.time);
    prevLine = line;
    switch (e.kind) {
      case 'switch':
        cpuCurr.set(line.cpu, { pid: e.nextPid, line });
        pidCpu.set(e.nextPid, { cpu: line.cpu, line });
        continue;
      case 'exit':
        closeWalksBy(e.pid);
        for (const m of pidMms.get(e.pid) ?? []) {
          if (mms.get(m.mm) !== m) continue;
          m.live.delete(e.pid);
          dropHolder(m, `task:${e.pid}`, line);
        }
        pidMms.delete(e.pid);
        continue;
      case 'fork':
      case 'exec':
        closeWalksBy(line.pid);
        continue;
      default:
        break;
    }
    mmcidEvents++;
    let m = getMm(e.mm, line);
    if (e.kind !== 'getcid') lastAddBy.delete(line.pid);
    switch (e.kind) {
      case 'user_add': {
        closeWalksBy(line.pid);
        // Users change only under mm_cid.mutex, which a walker holds: any walk in this mm is over.
        closeWalksIn(m);
        if (m.dead || (e.users === 1 && (m.users !== null || m.slots.size > 0))) {
          finish(m);
          mms.set(e.mm, (m = newMm(e.mm, line)));
        }
        usersEvent(m, e);
        lastAddBy.set(line.pid, { pid: e.pid, mm: e.mm });
        break;
      }
      case 'user_del': {
        closeWalksBy(line.pid);
        closeWalksIn(m);
        usersEvent(m, e);
        dropHolder(m, `task:${e.pid}`, line);
        if (e.users === 0) m.dead = true;
        break;
      }
      case 'getcid': {
        const v = dc(e.cid);
        const la = lastAddBy.get(line.pid);
        lastAddBy.delete(line.pid);
        if (v.unset) {
          if (!m.exhausted.has(line.cpu)) {
            const held = [...m.slots.values()].sort((a, b) => a.cid - b.cid);
            const name = (h: string) => h.replace('task:', 'pid ').replace('cpu:', 'CPU ');
            const desc = held.map((s) => `${s.cid}: ` + (s.holders.size
              ? [...s.holders.keys()].map(name).join('+')
              : s.lastDrop ? `nobody (dropped by ${name(s.lastDrop.holder)} at ${t6(s.lastDrop.line.time)}, never released)` : 'nobody'));
            m.exhausted.set(line.cpu, {
              line,
              message: `mm ${m.mm}: pid ${line.pid} on CPU ${line.cpu} found every CID taken at ${t6(line.time)}` +
                (cpus !== null ? ` (${held.length} taken in the replay, ${cpus} CPUs)` : '') +
                (desc.length ? `; held: ${desc.join('; ')}` : ''),
              evidence: [line, ...held.flatMap((s) => [s.get, s.lastDrop?.line])],
            });
          }
          break;
        }
        resolveExhausted(m, line);
        const c = v.cid!;
        const s = m.slots.get(c);
        if (s && s.get) {
          const key = `double:${c}:${s.get.lineNo}`;
          if (!m.reported.has(key)) {
            m.reported.add(key);
            const prev = s.get;
            m.pendingDup.push({
              kind: 'double', cid: c, time: line.time,
              fire: () => report(m, {
                kind: 'cid-duplicate', cid: c, pid: line.pid, cpu: line.cpu, time: line.time,
                message: `mm ${m.mm}: CID ${hex8(c)} taken again at ${t6(line.time)} by pid ${line.pid} on CPU ${line.cpu} ` +
                  `without a release since pid ${prev.pid} took it at ${t6(prev.time)}`,
              }, [prev, line]),
            });
          }
        }
        if (s) { s.get = line; }
        else m.slots.set(c, { cid: c, get: line, holders: new Map(), lastDrop: null });
        if (la && la.mm === e.mm) m.childCid.set(la.pid, { raw: e.cid, line });
        break;
      }
      case 'putcid': {
        const v = dc(e.cid);
        if (v.cid === null) break;
        m.lastPut.set(v.cid, line.lineNo);
        // A release that sorted just after a second take belongs to the first one.
        const early = m.pendingDup.findIndex((p) => p.kind === 'double' && p.cid === v.cid && undoneInTime(p.time, line));
        if (early >= 0) m.pendingDup.splice(early, 1);
        else m.slots.delete(v.cid);
        break;
      }
      case 'task_update':
        closeWalksAtModeFlip(m, e.cid);
        checkDuplicateOwner(m, `task:${e.pid}`, e.cid, line);
        setHolder(m, `task:${e.pid}`, e.cid, line);
        break;
      case 'cpu_update': {
        // 6.12 sets the lazy-put flag only by cmpxchg from the slot's plain
        // CID (a remote clear or a migration steal). If the replay has the
        // slot already unset or on another CID, the flag was set before that
        // and stamped late (the stealing vCPU stalled between its cmpxchg
        // and the tracepoint): stale, it changes nothing.
        const v = dc(e.cid);
        if (design === '6.12' && v.lazy) {
          const cur = m.cpuVal.get(e.cpu);
          const cv = cur ? dc(cur.raw) : null;
          if (cv && !cv.lazy && cv.cid !== v.cid) break;
        }
        closeWalksAtModeFlip(m, e.cid);
        checkDuplicateOwner(m, `cpu:${e.cpu}`, e.cid, line);
        setHolder(m, `cpu:${e.cpu}`, e.cid, line);
        break;
      }
      case 'fixup_task': {
        let w = m.walks.get(line.pid);
        if (!w) {
          const startLive = new Map(m.live);
          startLive.delete(line.pid);
          const startCids = new Map<number, { raw: number; line: TraceLine }>();
          for (const pid of startLive.keys()) {
            const held = cidOfTask(m, pid);
            if (held) startCids.set(pid, held);
          }
          w = {
            walker: line.pid, start: line, startLive, startCids, usersAtStart: m.users, visited: [], visitedSet: new Set(),
            lines: [],
          };
          const vf = vforkOf.get(m.mm);
          if (vf && [...startLive.keys()].some((p) => vf.has(p))) m.stats.walksWithVfork++;
          m.walks.set(line.pid, w);
          let open = walkersOpen.get(line.pid);
          if (!open) walkersOpen.set(line.pid, (open = new Set()));
          open.add(m);
          m.stats.fixupWalks++;
        }
        w.visited.push(e.pid);
        w.visitedSet.add(e.pid);
        w.lines.push(line);
        setHolder(m, `task:${e.pid}`, e.cid, line);
        break;
      }
    }
  }
  const truncated = !!opts.truncated || parsed.truncated;
  for (const m of mms.values()) finish(m, truncated);

  anomalies.sort((a, b) => a.time - b.time || (a.lineNumbers[0] ?? 0) - (b.lineNumbers[0] ?? 0));
  const keep = finished.filter((m) => m.stats.maxUsers >= 2 || m.anomalies > 0);
  const totals: ExerciseTotals = {
    mms: finished.length, sharedMms: 0, maxUsers: 0, crossUp: 0, crossDown: 0, crossUpWithVfork: 0,
    crossDownWithVfork: 0, vforkChildren: 0, fixupWalks: 0, walksWithVfork: 0, walksMissed: 0,
  };
  for (const m of finished) {
    const s = m.stats;
    if (s.maxUsers >= 2) totals.sharedMms++;
    totals.maxUsers = Math.max(totals.maxUsers, s.maxUsers);
    totals.crossUp += s.crossUp;
    totals.crossDown += s.crossDown;
    totals.crossUpWithVfork += s.crossUpWithVfork;
    totals.crossDownWithVfork += s.crossDownWithVfork;
    totals.fixupWalks += s.fixupWalks;
    totals.walksWithVfork += s.walksWithVfork;
    totals.walksMissed += s.walksMissed;
  }
  for (const s of vforkOf.values()) totals.vforkChildren += s.size;
  return {
    design, cpus, cpusSource, traceLines: parsed.traceLines, mmcidEvents, rejectedLines: parsed.rejected, replayFrom, skippedEvents,
    truncated, anomalies, mms: keep.map((m) => m.stats).sort((a, b) => a.firstTime - b.firstTime), totals,
  };
}

/** What `krepro run` keeps in run.json: findings and how hard the trace exercised the trigger. */
export interface TraceSummary {
  design: TraceAnalysis['design'];
  cpus: number | null;
  mmcidEvents: number;
  replayFrom: number | null;
  truncated: boolean;
  anomalies: Omit<Anomaly, 'lines' | 'lineNumbers'>[];
  exercise: ExerciseTotals;
}

export function summarizeAnalysis(r: TraceAnalysis): TraceSummary {
  return {
    design: r.design,
    cpus: r.cpus,
    mmcidEvents: r.mmcidEvents,
    replayFrom: r.replayFrom,
    truncated: r.truncated,
    anomalies: r.anomalies.map(({ lines: _l, lineNumbers: _n, ...a }) => a),
    exercise: r.totals,
  };
}
