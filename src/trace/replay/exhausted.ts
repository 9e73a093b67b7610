/**
 * cid-exhausted: an allocation found every CID taken (a getcid printing the
 * unset value) and did not succeed on that CPU within EXHAUSTED_SECONDS. The
 * 6.12 allocator may find the mask full for a moment while a remote clear or
 * a migration owns a CID: that resolves quickly.
 */
import type { TraceLine } from '../parse.ts';
import { t6, type Exhaustion, type Mm, type Replay } from './state.ts';
import { EXHAUSTED_SECONDS } from './tolerances.ts';

export function noteFailedAlloc(r: Replay, m: Mm, line: TraceLine): void {
  if (m.exhausted.has(line.cpu)) return;
  const held = [...m.slots.values()].sort((a, b) => a.cid - b.cid);
  const name = (h: string) => h.replace('task:', 'pid ').replace('cpu:', 'CPU ');
  const desc = held.map((s) => `${s.cid}: ` + (s.holders.size
    ? [...s.holders.keys()].map(name).join('+')
    : s.lastDrop ? `nobody (dropped by ${name(s.lastDrop.holder)} at ${t6(s.lastDrop.line.time)}, never released)` : 'nobody'));
  m.exhausted.set(line.cpu, {
    line,
    message: `mm ${m.mm}: pid ${line.pid} on CPU ${line.cpu} found every CID taken at ${t6(line.time)}` +
      (r.cpus !== null ? ` (${held.length} taken in the replay, ${r.cpus} CPUs)` : '') +
      (desc.length ? `; held: ${desc.join('; ')}` : ''),
    evidence: [line, ...held.flatMap((s) => [s.get, s.lastDrop?.line])],
  });
}

function reportExhausted(r: Replay, m: Mm, x: Exhaustion, end: TraceLine | null, cutAt: number | null): void {
  r.report(m, {
    kind: 'cid-exhausted', pid: x.line.pid, cpu: x.line.cpu, time: x.line.time,
    message: x.message + (end ? `; the allocation only succeeded at ${t6(end.time)}`
      : cutAt !== null ? `; no allocation succeeded on that CPU in the ${((cutAt - x.line.time) * 1e3).toFixed(0)} ms before the trace was cut`
        : '; no allocation succeeded on that CPU afterwards'),
  }, [...x.evidence, end]);
}

/** A successful getcid on this CPU ends its failed allocation: late success still counts. */
export function resolveExhausted(r: Replay, m: Mm, line: TraceLine): void {
  const x = m.exhausted.get(line.cpu);
  if (!x) return;
  m.exhausted.delete(line.cpu);
  if (line.time - x.line.time > EXHAUSTED_SECONDS) reportExhausted(r, m, x, line, null);
}

/**
 * End of the mm or of the trace: allocations still failing. At a cut
 * (`cutAt`) only those already failing for longer than EXHAUSTED_SECONDS
 * when the trace stops: a success after that would not excuse them.
 */
export function finishExhausted(r: Replay, m: Mm, cutAt: number | null): void {
  for (const x of m.exhausted.values()) {
    if (cutAt === null || cutAt - x.line.time > EXHAUSTED_SECONDS) reportExhausted(r, m, x, null, cutAt);
  }
  m.exhausted.clear();
}
