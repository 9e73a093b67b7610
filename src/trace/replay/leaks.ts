/**
 * cid-leak: at the end of an mm incarnation (or of a whole trace), a CID bit
 * still taken whose last owner dropped it without a release (no putcid).
 */
import { hex8 } from '../cid.ts';
import { t6, type Mm, type Replay } from './state.ts';

export function finishLeaks(r: Replay, m: Mm): void {
  const usersSeen = m.everUsers.size > 0;
  for (const s of m.slots.values()) {
    if (s.holders.size > 0 || !s.lastDrop) continue;
    const d = s.lastDrop;
    const [kind, id] = d.holder.split(':');
    const who = kind === 'task' ? `pid ${id}` : `CPU ${id}`;
    // An mm older than the trace (the init shell before its exec) whose
    // drop is the last the trace shows of it went away with its CID mask
    // (mm_destroy, no putcid). One that lives on after the drop leaks.
    if (!usersSeen && m.lastEvent !== null && m.lastEvent.lineNo <= d.line.lineNo) {
      r.excuse(m, 'mm-gone', d.line.time, `${who} dropped CID ${hex8(s.cid)} of an mm the trace saw no users of, ` +
        'and the trace shows nothing more of that mm: it went away with its CIDs', [s.get, d.since, d.line]);
      continue;
    }
    r.report(m, {
      kind: 'cid-leak', cid: s.cid, ...(kind === 'task' ? { pid: Number(id) } : { cpu: Number(id) }), time: d.line.time,
      message: `mm ${m.mm}: CID ${hex8(s.cid)} is still taken but nobody holds it: ${who} dropped it at ` +
        `${t6(d.line.time)} (held since ${t6(d.since.time)}) and it was never released (no mmcid_putcid)` +
        (s.get ? `; taken at ${t6(s.get.time)} by pid ${s.get.pid} on CPU ${s.get.cpu}` : '') +
        (!usersSeen && m.lastEvent ? `; the mm predates the trace but lives on (last event at ${t6(m.lastEvent.time)})` : ''),
    }, [s.get, d.since, d.line, !usersSeen ? m.lastEvent : null]);
  }
}
