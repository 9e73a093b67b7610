/**
 * Replay mmcid trace events per mm (users, each task's CID, each CPU's CID,
 * which CID bits are taken, fixup walks) and report what breaks the rules:
 *
 * - fixup-missed-task: a task that is an active user of the mm holding a
 *   task-owned CID when a fixup walk starts (not the walker) and is never
 *   visited by that walk, whatever it does afterwards (replay/walks.ts);
 * - cid-duplicate: one CID taken twice without a release, or held by two
 *   tasks (or two CPUs) at once (replay/duplicates.ts);
 * - cid-leak: a CID bit still taken at the end when its last owner dropped
 *   it without releasing it (replay/leaks.ts);
 * - users-mismatch: an event's users count disagrees with the replay
 *   (replay/users.ts);
 * - cid-exhausted: an allocation found every CID taken and did not succeed
 *   within 50 ms (replay/exhausted.ts).
 *
 * The allowances for how events are stamped are in replay/tolerances.ts;
 * each use that changed an outcome is listed in `excused`.
 *
 * Pure: takes parsed events, returns data. Nothing here reads files.
 */
import { parseTrace, type ParsedTrace } from './parse.ts';
import { Replay, type Mm } from './replay/state.ts';
import { classifyVforkChildren, detectDesign } from './replay/design.ts';
import { closeWalksAtModeFlip, closeWalksBy, closeWalksIn, walkVisit } from './replay/walks.ts';
import { checkDuplicateOwner, firePending, noteRelease, noteTake } from './replay/duplicates.ts';
import { finishExhausted, noteFailedAlloc, resolveExhausted } from './replay/exhausted.ts';
import { usersEvent } from './replay/users.ts';
import { finishLeaks } from './replay/leaks.ts';
import { markDamaged, repair, resolvePartialMm } from './replay/damage.ts';
import type { Anomaly, AnalyzeOptions, ExerciseTotals, TraceAnalysis } from './replay/types.ts';

export type {
  Anomaly, AnomalyKind, AnalyzeOptions, Excuse, ExerciseTotals, MmExercise, ToleranceRule, TraceAccel, TraceAnalysis,
  TraceDesign,
} from './replay/types.ts';

export function analyzeText(text: string, opts: AnalyzeOptions = {}): TraceAnalysis {
  return analyzeTrace(parseTrace(text), opts);
}

/**
 * End of an mm incarnation, or of the trace. cutAt: the time of the last
 * event of a truncated trace; what needs the events after it (an open walk,
 * a leak, a duplicate still in its window) is withheld, what lies before
 * it stands.
 */
function finish(r: Replay, m: Mm, cutAt: number | null): void {
  if (cutAt === null) closeWalksIn(r, m);
  else m.walks.clear();
  firePending(r, m, cutAt);
  finishExhausted(r, m, cutAt);
  if (cutAt === null) finishLeaks(r, m);
  m.stats.tasks = m.everUsers.size;
  r.finished.push(m);
}

export function analyzeTrace(parsed: ParsedTrace, opts: AnalyzeOptions = {}): TraceAnalysis {
  // With lost events only the tail that every CPU's buffer still covers is complete.
  const replayFrom = parsed.completeFrom ?? (opts.startMayBeCut ? parsed.coveredFrom : null);
  const events = replayFrom === null ? parsed.events : parsed.events.filter((e) => e.line.time >= replayFrom);
  const skippedEvents = parsed.events.length - events.length;
  const design = detectDesign(events);
  let cpus: number | null = null;
  let cpusSource: TraceAnalysis['cpusSource'] = 'none';
  if (opts.cpus && opts.cpus > 0) { cpus = opts.cpus; cpusSource = 'option'; }
  else if (parsed.cpus) { cpus = parsed.cpus; cpusSource = 'header'; }
  else if (parsed.maxCpu >= 0) { cpus = parsed.maxCpu + 1; cpusSource = 'inferred'; }
  const accel = opts.accel ?? 'unknown';
  const r = new Replay(design, cpus, accel, classifyVforkChildren(events));
  r.hasSwitches = events.some((e) => e.kind === 'switch');
  for (const e of events) {
    if (e.kind !== 'user_del') continue;
    let l = r.delsByMm.get(e.mm);
    if (!l) r.delsByMm.set(e.mm, (l = []));
    l.push({ line: e.line, pid: e.pid });
  }
  const lastAddBy = new Map<number, { pid: number; mm: string }>();
  let mmcidEvents = 0;

  let prevLine = null as (typeof events)[number]['line'] | null;
  for (const raw of events) {
    let e = raw;
    const line = e.line;
    r.noteLine(prevLine);
    prevLine = line;
    switch (e.kind) {
      case 'switch':
        r.noteSwitch(e);
        continue;
      case 'exit':
        closeWalksBy(r, e.pid);
        for (const m of r.pidMms.get(e.pid) ?? []) {
          if (r.mms.get(m.mm) !== m) continue;
          m.live.delete(e.pid);
          r.dropHolder(m, `task:${e.pid}`, line);
        }
        r.pidMms.delete(e.pid);
        continue;
      case 'fork':
      case 'exec':
        closeWalksBy(r, line.pid);
        continue;
      default:
        break;
    }
    mmcidEvents++;
    if (e.kind === 'damaged' && e.mm.startsWith('?')) {
      // A pointer that lost digits: the one mm seen so far it can be what is left of.
      const owner = resolvePartialMm(e.mm.slice(1), r.mms.keys());
      if (!owner) continue;
      e = { ...e, mm: owner };
    }
    let m = r.getMm(e.mm, line);
    if (e.kind === 'damaged') {
      const fixed = repair(m, e);
      if (!fixed) { markDamaged(r, m, line, e.body); m.lastEvent = line; continue; }
      r.excuse(m, 'damaged-line', line.time, `repaired a damaged line as mmcid_${fixed.kind}: ${e.body}`, [line]);
      e = fixed;
    }
    if (e.kind !== 'getcid') lastAddBy.delete(line.pid);
    switch (e.kind) {
      case 'user_add': {
        closeWalksBy(r, line.pid);
        // Users change only under mm_cid.mutex, which a walker holds: any walk in this mm is over.
        closeWalksIn(r, m);
        if (m.dead || (e.users === 1 && (m.users !== null || m.slots.size > 0))) {
          finish(r, m, null);
          r.mms.set(e.mm, (m = r.newMm(e.mm, line)));
        }
        usersEvent(r, m, e);
        lastAddBy.set(line.pid, { pid: e.pid, mm: e.mm });
        break;
      }
      case 'user_del':
        closeWalksBy(r, line.pid);
        closeWalksIn(r, m);
        usersEvent(r, m, e);
        r.dropHolder(m, `task:${e.pid}`, line);
        if (e.users === 0) m.dead = true;
        break;
      case 'getcid': {
        const v = r.dc(e.cid);
        const la = lastAddBy.get(line.pid);
        lastAddBy.delete(line.pid);
        if (v.unset) { noteFailedAlloc(r, m, line); break; }
        resolveExhausted(r, m, line);
        noteTake(r, m, v.cid!, line);
        if (la && la.mm === e.mm) m.childCid.set(la.pid, { raw: e.cid, line });
        break;
      }
      case 'putcid': {
        const v = r.dc(e.cid);
        if (v.cid !== null) noteRelease(r, m, v.cid, line);
        break;
      }
      case 'task_update':
        closeWalksAtModeFlip(r, m, e.cid);
        checkDuplicateOwner(r, m, `task:${e.pid}`, e.cid, line);
        r.setHolder(m, `task:${e.pid}`, e.cid, line);
        break;
      case 'cpu_update': {
        // 6.12 sets the lazy-put flag only by cmpxchg from the slot's plain
        // CID (a remote clear or a migration steal). If the replay has the
        // slot already unset or on another CID, the flag was set before that
        // and stamped late: stale, it changes nothing.
        const v = r.dc(e.cid);
        if (design === '6.12' && v.lazy) {
          const cur = m.cpuVal.get(e.cpu);
          const cv = cur ? r.dc(cur.raw) : null;
          if (cv && !cv.lazy && cv.cid !== v.cid) {
            r.excuse(m, 'stale-lazy-flag', line.time, `CPU ${e.cpu}'s lazy-put flag on CID ${v.cid} stamped at ` +
              `${line.time.toFixed(6)}s, after its slot moved on to ${cv.cid === null ? 'unset' : `CID ${cv.cid}`}`,
            [cur!.line, line], line.time - cur!.line.time);
            break;
          }
        }
        closeWalksAtModeFlip(r, m, e.cid);
        checkDuplicateOwner(r, m, `cpu:${e.cpu}`, e.cid, line);
        r.setHolder(m, `cpu:${e.cpu}`, e.cid, line);
        break;
      }
      case 'fixup_task':
        walkVisit(r, m, e.pid, line);
        r.setHolder(m, `task:${e.pid}`, e.cid, line);
        break;
    }
    m.lastEvent = line;
  }
  const truncated = !!opts.truncated || parsed.truncated;
  const cutAt = truncated ? (prevLine?.time ?? 0) : null;
  for (const m of r.mms.values()) finish(r, m, cutAt);

  const anomalies = r.anomalies.sort((a, b) => a.time - b.time || (a.lineNumbers[0] ?? 0) - (b.lineNumbers[0] ?? 0));
  const keep = r.finished.filter((m) => m.stats.maxUsers >= 2 || m.anomalies > 0);
  const span = events.length ? events[events.length - 1].line.time - events[0].line.time : 0;
  const totals = totalsOf(r.finished.map((m) => m.stats), r, span);
  return {
    design, cpus, cpusSource, accel, lateStampWindow: r.lateWindow, traceLines: parsed.traceLines, mmcidEvents,
    rejectedLines: parsed.rejected, damagedLines: parsed.damaged, replayFrom, skippedEvents, truncated, anomalies, excused: r.excused,
    mms: keep.map((m) => m.stats).sort((a, b) => a.firstTime - b.firstTime), totals,
    perMinute: span > 0 ? {
      crossUp: totals.crossUp * 60 / span, crossUpWithVfork: totals.crossUpWithVfork * 60 / span,
      fixupWalks: totals.fixupWalks * 60 / span, walksWithVfork: totals.walksWithVfork * 60 / span,
      walksMissed: totals.walksMissed * 60 / span,
    } : null,
  };
}

function totalsOf(stats: Mm['stats'][], r: Replay, span: number): ExerciseTotals {
  const t: ExerciseTotals = {
    mms: stats.length, sharedMms: 0, maxUsers: 0, crossUp: 0, crossDown: 0, crossUpWithVfork: 0,
    crossDownWithVfork: 0, vforkChildren: 0, fixupWalks: 0, walksWithVfork: 0, walksMissed: 0, span,
  };
  for (const s of stats) {
    if (s.maxUsers >= 2) t.sharedMms++;
    t.maxUsers = Math.max(t.maxUsers, s.maxUsers);
    t.crossUp += s.crossUp;
    t.crossDown += s.crossDown;
    t.crossUpWithVfork += s.crossUpWithVfork;
    t.crossDownWithVfork += s.crossDownWithVfork;
    t.fixupWalks += s.fixupWalks;
    t.walksWithVfork += s.walksWithVfork;
    t.walksMissed += s.walksMissed;
  }
  for (const s of r.vforkOf.values()) t.vforkChildren += s.size;
  return t;
}

/** What `krepro run` keeps in run.json: findings and how hard the trace exercised the trigger. */
export interface TraceSummary {
  design: TraceAnalysis['design'];
  cpus: number | null;
  accel: TraceAnalysis['accel'];
  mmcidEvents: number;
  replayFrom: number | null;
  truncated: boolean;
  anomalies: Omit<Anomaly, 'lines' | 'lineNumbers'>[];
  /** How many times each allowance changed an outcome. */
  excused: Record<string, number>;
  exercise: ExerciseTotals;
}

export function summarizeAnalysis(a: TraceAnalysis): TraceSummary {
  const excused: Record<string, number> = {};
  for (const x of a.excused) excused[x.rule] = (excused[x.rule] ?? 0) + 1;
  return {
    design: a.design,
    cpus: a.cpus,
    accel: a.accel,
    mmcidEvents: a.mmcidEvents,
    replayFrom: a.replayFrom,
    truncated: a.truncated,
    anomalies: a.anomalies.map(({ lines: _l, lineNumbers: _n, ...x }) => x),
    excused,
    exercise: a.totals,
  };
}
