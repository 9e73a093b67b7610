/**
 * The replay's state: per mm (users, each task's and CPU's CID value, which
 * CID bits are taken, open fixup walks), per CPU (current task, last event)
 * and what has been reported or excused so far. The checkers (walks.ts,
 * duplicates.ts, exhausted.ts, users.ts, leaks.ts) read and change it;
 * analyze.ts feeds it events in trace order.
 */
import type { TraceEvent, TraceLine } from '../parse.ts';
import { decodeCid, type CidValue } from '../cid.ts';
import type { Anomaly, Excuse, MmExercise, ToleranceRule, TraceAccel, TraceDesign } from './types.ts';
import { CLOCK_SKEW_SECONDS, lateStampWindow } from './tolerances.ts';

export interface Held { raw: number; line: TraceLine }

export interface Walk {
  walker: number;
  start: TraceLine;
  startLive: Map<number, TraceLine>;
  /** What each of those tasks held when the walk started. */
  startCids: Map<number, Held>;
  usersAtStart: number | null;
  visited: number[];
  visitedSet: Set<number>;
  lines: TraceLine[];
  /** Damaged lines by the walker during the walk: visits that may be lost (damage.ts). */
  lostVisits: TraceLine[];
}

/** Where the console damaged this mm's lines (damage.ts). */
export interface Damage { from: TraceLine; pids: Set<number>; anyPid: boolean; lines: TraceLine[] }

export interface Slot {
  cid: number;
  get: TraceLine | null;              // the getcid that took it (null: inferred from a holder)
  holders: Map<string, TraceLine>;    // 'task:73' | 'cpu:1' -> line that gave it the CID
  lastDrop: { holder: string; line: TraceLine; since: TraceLine } | null;
}

export interface PendingDup {
  kind: 'double' | 'owner';
  cid: number;
  time: number;
  other?: string;     // 'owner': the holder that must let go in time
  /** The line that made the duplicate (for the excuse's evidence). */
  line: TraceLine;
  fire: () => void;
}

export interface Exhaustion { line: TraceLine; message: string; evidence: (TraceLine | null | undefined)[] }

export interface Mm {
  mm: string;
  dead: boolean;
  users: number | null;
  lastUsersLine: TraceLine | null;
  /** The latest mmcid event naming this mm (does the mm live on after a drop?). */
  lastEvent: TraceLine | null;
  live: Map<number, TraceLine>;
  everUsers: Set<number>;
  taskVal: Map<number, Held>;
  cpuVal: Map<number, Held>;
  slots: Map<number, Slot>;
  walks: Map<number, Walk>;
  /** Failed allocations (cid=unset getcid) per CPU, not yet followed by a success there. */
  exhausted: Map<number, Exhaustion>;
  lastPut: Map<number, number>;       // cid -> line number of its last putcid
  /** Duplicates waiting out the clock-skew / late-stamp window. */
  pendingDup: PendingDup[];
  reported: Set<string>;
  childCid: Map<number, Held>;        // pid -> getcid that followed its user_add
  stats: MmExercise;
  anomalies: number;
  damage: Damage | null;
}

export const t6 = (s: number) => `${s.toFixed(6)}s`;
const byLine = (a: TraceLine, b: TraceLine) => a.lineNo - b.lineNo;

export function evidence(lines: (TraceLine | null | undefined)[]): { lines: string[]; lineNumbers: number[] } {
  const seen = new Map<number, TraceLine>();
  for (const l of lines) if (l) seen.set(l.lineNo, l);
  const sorted = [...seen.values()].sort(byLine);
  return { lines: sorted.map((l) => l.text), lineNumbers: sorted.map((l) => l.lineNo) };
}

export const holderId = (holder: string) => Number(holder.split(':')[1]);
export const isTaskHolder = (holder: string) => holder.startsWith('task:');

export class Replay {
  readonly anomalies: Anomaly[] = [];
  readonly excused: Excuse[] = [];
  readonly finished: Mm[] = [];
  readonly mms = new Map<string, Mm>();
  /** Current task per CPU, from sched_switch. */
  readonly cpuCurr = new Map<number, { pid: number; line: TraceLine }>();
  readonly pidCpu = new Map<number, { cpu: number; line: TraceLine }>();
  /** Time of the previous event each CPU logged (any event). */
  readonly cpuLast = new Map<number, number>();
  readonly pidMms = new Map<number, Set<Mm>>();
  /** Walker pid -> mms it has an open walk in. */
  readonly walkersOpen = new Map<number, Set<Mm>>();
  readonly lateWindow: number;
  /** Per CPU: its latest sched_switch line, and the time of its latest other event. */
  readonly cpuLastSwitch = new Map<number, { line: TraceLine; prevPid: number }>();
  readonly cpuLastOther = new Map<number, number>();
  /** The trace has sched_switch events: a quiet CPU can be told from one running user code. */
  hasSwitches = false;
  /** Every user_del line per mm, in trace order (for counts read before a later-stamped del). */
  readonly delsByMm = new Map<string, { line: TraceLine; pid: number }[]>();

  /** user_del lines of `mm` after `line` on other CPUs, stamped within `window` of it. */
  delsStampedAfter(mm: string, line: TraceLine, window: number): { line: TraceLine; pid: number }[] {
    const all = this.delsByMm.get(mm);
    if (!all) return [];
    let lo = 0;
    let hi = all.length;
    while (lo < hi) { const mid = (lo + hi) >> 1; if (all[mid].line.lineNo <= line.lineNo) lo = mid + 1; else hi = mid; }
    const out: { line: TraceLine; pid: number }[] = [];
    for (let i = lo; i < all.length && all[i].line.time - line.time <= window; i++) if (all[i].line.cpu !== line.cpu) out.push(all[i]);
    return out;
  }

  constructor(
    readonly design: TraceDesign,
    readonly cpus: number | null,
    readonly accel: TraceAccel,
    readonly vforkOf: Map<string, Set<number>>,
  ) {
    this.lateWindow = lateStampWindow(accel, design);
  }

  dc(raw: number): CidValue { return decodeCid(raw, this.design); }

  newMm(mm: string, line: TraceLine): Mm {
    return {
      mm, dead: false, users: null, lastUsersLine: null, lastEvent: null, live: new Map(), everUsers: new Set(), taskVal: new Map(),
      cpuVal: new Map(), slots: new Map(), walks: new Map(), exhausted: new Map(), lastPut: new Map(), pendingDup: [],
      reported: new Set(), childCid: new Map(), anomalies: 0, damage: null,
      stats: {
        mm, firstTime: line.time, tasks: 0, maxUsers: 0, crossUp: 0, crossDown: 0, crossUpWithVfork: 0,
        crossDownWithVfork: 0, vforkChildren: this.vforkOf.get(mm)?.size ?? 0, fixupWalks: 0, walksWithVfork: 0,
        walksMissed: 0,
      },
    };
  }

  getMm(mm: string, line: TraceLine): Mm {
    let m = this.mms.get(mm);
    if (!m) this.mms.set(mm, (m = this.newMm(mm, line)));
    return m;
  }

  report(m: Mm, a: Omit<Anomaly, 'mm' | 'lines' | 'lineNumbers'>, ev: (TraceLine | null | undefined)[]): void {
    const d = m.damage;
    // Findings that need the mm's whole event stream stand only without damage (damage.ts);
    // walks judge their own (walks.ts), a count before the damage stands.
    if (d && a.kind !== 'fixup-missed-task' && !(a.kind === 'users-mismatch' && a.time < d.from.time)) {
      this.excuse(m, 'damaged-line', a.time, `${a.kind} withheld: ${a.message}; the console damaged ` +
        `${d.lines.length} line(s) of this mm from ${t6(d.from.time)} on, so an event it needs may be lost`, [...ev, ...d.lines.slice(0, 3)]);
      return;
    }
    m.anomalies++;
    this.anomalies.push({ ...a, mm: m.mm, ...evidence(ev) });
  }

  excuse(m: Mm, rule: ToleranceRule, time: number, message: string, ev: (TraceLine | null | undefined)[], gap?: number): void {
    this.excused.push({ rule, mm: m.mm, time, ...(gap !== undefined ? { gap } : {}), message, ...evidence(ev) });
  }

  touch(pid: number, m: Mm): void {
    let set = this.pidMms.get(pid);
    if (!set) this.pidMms.set(pid, (set = new Set()));
    set.add(m);
  }

  /** Where a pid's CID came from, for messages and walk starts. */
  cidOfTask(m: Mm, pid: number): Held | null {
    const tv = m.taskVal.get(pid);
    if (tv && !this.dc(tv.raw).unset) return tv;
    const pc = this.pidCpu.get(pid);
    if (pc && this.cpuCurr.get(pc.cpu)?.pid === pid) {
      const cv = m.cpuVal.get(pc.cpu);
      if (cv && !this.dc(cv.raw).unset && cv.line.lineNo > pc.line.lineNo) return cv;
    }
    return m.childCid.get(pid) ?? tv ?? null;
  }

  /**
   * Is a duplicate noticed at `since` undone by `line` in time? Within clock
   * skew always; within the accelerator's late-stamp window only when the
   * letting-go CPU logged nothing in between (it was stalled, not running on
   * with the CID). Uses that changed the outcome are excused with their gap.
   */
  undoneInTime(m: Mm, since: number, line: TraceLine, dupLine: TraceLine, ownerPid?: number): boolean {
    const dt = line.time - since;
    if (dt <= CLOCK_SKEW_SECONDS) {
      if (dt > 0) this.excuse(m, 'clock-skew', since, `a release on CPU ${line.cpu} stamped ${(dt * 1e6).toFixed(0)} us after the take on CPU ${dupLine.cpu}`, [dupLine, line], dt);
      return true;
    }
    if (dt > this.lateWindow) return false;
    if (this.hasSwitches) {
      // trace_sched_switch() runs after rq->curr is published and before
      // switch_mm_cid() lets go: a CPU whose only event in between is the
      // owner's switch-out was in its switch path (another CPU may take the
      // CID then); one whose last switch put the owner on it, logging
      // nothing since, was running user code with the CID.
      const sw = this.cpuLastSwitch.get(line.cpu);
      if (!sw || (ownerPid !== undefined && sw.prevPid !== ownerPid)) return false;
      const from = Math.min(since, sw.line.time);
      if ((this.cpuLastOther.get(line.cpu) ?? -Infinity) > from || line.time - from > this.lateWindow) return false;
      this.excuse(m, 'late-stamp', since, `CPU ${line.cpu} switched ${ownerPid !== undefined ? `pid ${ownerPid} ` : ''}out at ` +
        `${t6(sw.line.time)} and logged nothing else until it let go ${((line.time - from) * 1e3).toFixed(1)} ms later of what ` +
        `CPU ${dupLine.cpu} took (a vCPU stalled in its switch path; window ${(this.lateWindow * 1e3).toFixed(0)} ms on ${this.accel})`,
      [sw.line, dupLine, line], line.time - from);
      return true;
    }
    if ((this.cpuLast.get(line.cpu) ?? -Infinity) > since) return false;
    this.excuse(m, 'late-stamp', since, `CPU ${line.cpu} logged nothing for ${(dt * 1e3).toFixed(1)} ms and then let go ` +
      `of what CPU ${dupLine.cpu} took (a descheduled vCPU stamping late; window ${(this.lateWindow * 1e3).toFixed(0)} ms on ${this.accel}; ` +
      'the trace has no sched_switch events to tell a stalled CPU from one running user code)', [dupLine, line], dt);
    return true;
  }

  /** Give `holder` the value `raw`; the checkers that care about a holder letting go run first (see analyze.ts). */
  setHolder(m: Mm, holder: string, raw: number, line: TraceLine): void {
    const isTask = isTaskHolder(holder);
    const map = isTask ? m.taskVal : m.cpuVal;
    const id = holderId(holder);
    if (isTask) this.touch(id, m);
    const old = map.get(id);
    const oldV = old ? this.dc(old.raw) : null;
    const newV = this.dc(raw);
    if (oldV && oldV.cid !== null && oldV.cid !== newV.cid && m.pendingDup.length) {
      const cid = oldV.cid;
      m.pendingDup = m.pendingDup.filter((p) =>
        !(p.kind === 'owner' && p.other === holder && p.cid === cid &&
          this.undoneInTime(m, p.time, line, p.line, isTask ? id : undefined)));
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
  }

  dropHolder(m: Mm, holder: string, line: TraceLine): void {
    const map = isTaskHolder(holder) ? m.taskVal : m.cpuVal;
    if (map.has(holderId(holder))) this.setHolder(m, holder, 0xffffffff, line);
  }

  /** Keep per-CPU facts current before an event is judged. */
  noteLine(prev: TraceLine | null): void {
    if (!prev) return;
    this.cpuLast.set(prev.cpu, prev.time);
    if (prev.event !== 'sched_switch') this.cpuLastOther.set(prev.cpu, prev.time);
  }

  noteSwitch(e: Extract<TraceEvent, { kind: 'switch' }>): void {
    this.cpuLastSwitch.set(e.line.cpu, { line: e.line, prevPid: e.prevPid });
    this.cpuCurr.set(e.line.cpu, { pid: e.nextPid, line: e.line });
    this.pidCpu.set(e.nextPid, { cpu: e.line.cpu, line: e.line });
  }
}
