/**
 * cid-duplicate: one CID taken twice without a release (getcid, getcid), or
 * owned by two tasks (or two CPUs) at once. A duplicate waits out the
 * clock-skew and late-stamp windows (Replay.undoneInTime) before it counts.
 */
import type { TraceLine } from '../parse.ts';
import { decodeCid, hex8 } from '../cid.ts';
import { holderId, isTaskHolder, t6, type Mm, type Replay } from './state.ts';
import { CLOCK_SKEW_SECONDS } from './tolerances.ts';

/** Task-owned (plain) or CPU-owned values of the same CID held by two owners. */
export function checkDuplicateOwner(r: Replay, m: Mm, holder: string, raw: number, line: TraceLine): void {
  const v = r.dc(raw);
  if (v.cid === null) return;
  const isTask = isTaskHolder(holder);
  const owns = (x: ReturnType<typeof decodeCid>) =>
    isTask ? !x.onCpu && !x.transit && !x.lazy
      : r.design === '6.12' ? true : x.onCpu && !x.transit;
  if (!owns(v)) return;
  const map = isTask ? m.taskVal : m.cpuVal;
  const id = holderId(holder);
  const slot = m.slots.get(v.cid);
  if (!slot) return;
  // The slot lists every current holder of this CID (released CIDs drop their slot).
  for (const holderKey of slot.holders.keys()) {
    if (isTaskHolder(holderKey) !== isTask) continue;
    const other = holderId(holderKey);
    const ov = map.get(other);
    if (other === id || !ov) continue;
    const o = r.dc(ov.raw);
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
      kind: 'owner', cid, time: line.time, other: holderKey, line,
      fire: () => r.report(m, {
        kind: 'cid-duplicate', cid, ...(isTask ? { pid: id } : { cpu: id }), time: line.time,
        message: `mm ${m.mm}: CID ${hex8(cid)} held by ${who} ${id} and ${who} ${other} at once: ` +
          `${who} ${other} has it since ${t6(ov.line.time)}, ${who} ${id} got it at ${t6(line.time)}`,
      }, [ov.line, line, get]),
    });
  }
}

/** A getcid of CID c: taken again while the slot still has its earlier take? */
export function noteTake(r: Replay, m: Mm, c: number, line: TraceLine): void {
  const s = m.slots.get(c);
  if (s && s.get) {
    const key = `double:${c}:${s.get.lineNo}`;
    if (!m.reported.has(key)) {
      m.reported.add(key);
      const prev = s.get;
      m.pendingDup.push({
        kind: 'double', cid: c, time: line.time, line,
        fire: () => r.report(m, {
          kind: 'cid-duplicate', cid: c, pid: line.pid, cpu: line.cpu, time: line.time,
          message: `mm ${m.mm}: CID ${hex8(c)} taken again at ${t6(line.time)} by pid ${line.pid} on CPU ${line.cpu} ` +
            `without a release since pid ${prev.pid} took it at ${t6(prev.time)}`,
        }, [prev, line]),
      });
    }
  }
  if (s) s.get = line;
  else m.slots.set(c, { cid: c, get: line, holders: new Map(), lastDrop: null });
}

/** A putcid: a release that sorted just after a second take belongs to the first one. */
export function noteRelease(r: Replay, m: Mm, c: number, line: TraceLine): void {
  m.lastPut.set(c, line.lineNo);
  const early = m.pendingDup.findIndex((p) => p.kind === 'double' && p.cid === c && r.undoneInTime(m, p.time, line, p.line));
  if (early >= 0) m.pendingDup.splice(early, 1);
  else m.slots.delete(c);
}

/**
 * Report the duplicates still waiting. At the end of a whole trace all of
 * them; at a cut only those whose window closed before the cut (`cutAt`):
 * the rest could still be undone by what the cut removed.
 */
export function firePending(r: Replay, m: Mm, cutAt: number | null): void {
  const window = Math.max(r.lateWindow, CLOCK_SKEW_SECONDS);
  for (const p of m.pendingDup) if (cutAt === null || cutAt - p.time > window) p.fire();
  m.pendingDup = [];
}
