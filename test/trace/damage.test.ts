/**
 * Console lines that lost characters (seen in real 7.2 stall dumps: a
 * serial console under a panic's flood drops bytes) and traces cut short:
 * each repair or withholding is shown next to the smallest buggy trace it
 * must not hide.
 */
import { describe, expect, it } from 'vitest';
import { analyzeText, type TraceAnalysis } from '../../src/trace/analyze.ts';
import { TraceWriter, UNSET619, TRANSIT, UNSET612, ONCPU } from './traces.ts';

const A = '00000000a11ce000';
const B = '00000000b0b00000';
const kinds = (r: TraceAnalysis) => r.anomalies.map((a) => a.kind);
/** What the real consoles did: characters dropped from the middle of a line. */
const drop = (line: string, from: string, to: string) => {
  const i = line.indexOf(from);
  const j = line.indexOf(to, i + from.length);
  if (i < 0 || j < 0) throw new Error(`cannot damage ${line}`);
  return line.slice(0, i + from.length) + line.slice(j);
};

/** v6.19: mm A, walker 1 and users 71..73 with task-owned CIDs; the walk starts when 74 makes users 5 > 4 CPUs. */
function walkTrace(opts: { skip?: number; before?: (w: TraceWriter) => void; damageVisitOf?: number }): string {
  const w = new TraceWriter('console');
  w.userAdd(1, 3, 1, 1, A).getcid(1, 3, A, 0).task(1, 3, 1, 0, A);
  let users = 1;
  for (const pid of [71, 72, 73]) w.userAdd(1, 3, pid, ++users, A).getcid(1, 3, A, pid - 70).task(1, 3, pid, pid - 70, A);
  opts.before?.(w);
  w.userAdd(1, 3, 74, 5, A);
  w.task(1, 3, 1, TRANSIT | 0, A);
  for (const pid of [71, 72, 73]) {
    if (pid === opts.skip) continue;
    w.fixup(1, 3, pid, pid - 70, 5 - (pid - 70), A);
    if (pid === opts.damageVisitOf) {
      const t = w.text().trimEnd().split('\n');
      const last = t.pop()!;
      return [...t, drop(last, 'mmcid_fixup_ta', 'd=0000')].join('\n') + '\n';
    }
    w.task(1, 3, pid, UNSET619, A).putcid(1, 3, A, pid - 70);
  }
  return w.text();
}

describe('damaged console lines', () => {
  it('a users event that lost its name but kept pid, users and mm is repaired by its count', () => {
    const w = new TraceWriter('console');
    w.userAdd(1, 0, 1, 1, A).getcid(1, 0, A, 0).task(1, 0, 1, 0, A).userAdd(1, 0, 2, 2, A).getcid(1, 0, A, 1).task(1, 0, 2, 1, A);
    w.task(2, 1, 2, UNSET619, A).putcid(2, 1, A, 1).userDel(2, 1, 2, 1, A);
    w.userAdd(1, 0, 3, 2, A).cpuCid(1, 0, 0, ONCPU | 2, A);   // a CPU-owned CID: the v6.19 design, exact counts
    const lines = w.text().trimEnd().split('\n');
    const whole = analyzeText(lines.join('\n'));
    expect(whole.anomalies).toEqual([]);
    lines[8] = drop(lines[8], 'mmcid', 'el: pid=');  // `mmcidel: pid=2 users=1 mm=...`
    const r = analyzeText(lines.join('\n'));
    expect(r.anomalies).toEqual([]);
    expect(r.excused.map((x) => x.rule)).toEqual(['damaged-line']);
    expect(r.excused[0].message).toMatch(/repaired .* as mmcid_user_del/);
    // a count that is wrong after the repaired line is still a mismatch
    lines[9] = lines[9].replace('users=2', 'users=3');
    expect(kinds(analyzeText(lines.join('\n')))).toEqual(['users-mismatch']);
  });
  it('an unrepairable line withholds the duplicates of its mm (listed), not of other mms', () => {
    const dup = (mm: string, damage: boolean) => {
      const w = new TraceWriter('console');
      w.userAdd(1, 0, 1, 1, mm).userAdd(1, 0, 2, 2, mm).getcid(1, 0, mm, 0).task(1, 0, 1, 0, mm);
      w.userAdd(9, 2, 9, 1, B).getcid(9, 2, B, 0).task(9, 2, 9, 0, B);
      w.task(1, 0, 1, UNSET619, mm).putcid(1, 0, mm, 0);
      w.getcid(1, 1, mm, 0).task(1, 1, 2, 0, mm).getcid(1, 1, mm, 0);   // CID 0 taken twice
      const lines = w.text().trimEnd().split('\n');
      if (damage) lines[8] = drop(lines[8], 'mmcid_p', ': mm=');        // `mmcid_p: mm=... cid=...`: a get or a put?
      return analyzeText(lines.join('\n'));
    };
    expect(kinds(dup(A, false))).toEqual(['cid-duplicate']);
    const r = dup(A, true);
    expect(r.anomalies).toEqual([]);
    expect(r.excused.map((x) => x.rule)).toContain('damaged-line');
  });
  it('a pointer whose ` mm=` was lost runs on from the cid: still the one mm it can be left of', () => {
    const w = new TraceWriter('console');
    w.userAdd(1, 0, 1, 1, A).getcid(1, 0, A, 0).task(1, 0, 1, 0, A).userAdd(1, 0, 2, 2, A);
    w.userAdd(9, 2, 9, 1, B).getcid(9, 2, B, 0).task(9, 2, 9, 0, B);
    w.task(1, 0, 1, UNSET619, A).putcid(1, 0, A, 0).getcid(2, 1, A, 0).task(2, 1, 2, 0, A);
    const lines = w.text().trimEnd().split('\n');
    lines[7] = lines[7].replace(` mm=${A}`, '0000a11ce000');   // `cid=800000000000a11ce000`
    const r = analyzeText(lines.join('\n'));
    expect(r.anomalies).toEqual([]);
    expect(r.damagedLines).toBe(1);
  });
  it('a pointer that lost digits is the one mm it can be left of', () => {
    const w = new TraceWriter('console');
    w.userAdd(1, 0, 1, 1, A).getcid(1, 0, A, 0).task(1, 0, 1, 0, A);
    w.userAdd(9, 2, 9, 1, B).getcid(9, 2, B, 0).task(9, 2, 9, 0, B);
    w.task(1, 0, 1, UNSET619, A).putcid(1, 0, A, 0);
    w.getcid(1, 1, A, 0).task(1, 1, 1, 0, A);
    const lines = w.text().trimEnd().split('\n');
    lines[7] = lines[7].replace(`mm=${A}`, 'mm=00000000a11c00');          // `a11ce000` lost `e0`
    const r = analyzeText(lines.join('\n'));
    expect(r.anomalies).toEqual([]);
    expect(r.excused.map((x) => x.rule)).toContain('damaged-line');
    expect(r.excused.some((x) => x.mm === A)).toBe(true);
  });
  it('a walk that missed a task: a damaged line of another pid before it does not hide the miss', () => {
    const miss = analyzeText(walkTrace({ skip: 73 }));
    expect(miss.anomalies.map((a) => [a.kind, a.pid])).toEqual([['fixup-missed-task', 73]]);
    const other = analyzeText(walkTrace({
      skip: 73,
      before: (w) => w.raw(`[    4.100000] task1-1    3d..1. 1000100us : mmcid_user_a: pid=71 users=9 mm=${A}`),
    }));
    expect(other.anomalies.map((a) => [a.kind, a.pid])).toEqual([['fixup-missed-task', 73]]);
    // the same damage naming the missed task itself could be it leaving: withheld, and said
    const same = analyzeText(walkTrace({
      skip: 73,
      before: (w) => w.raw(`[    4.100000] task1-1    3d..1. 1000100us : mmcid_user_a: pid=73 users=9 mm=${A}`),
    }));
    expect(same.anomalies).toEqual([]);
    expect(same.excused.some((x) => x.rule === 'damaged-line' && /pid 73 leaving/.test(x.message))).toBe(true);
  });
  it('a walk whose own visit line is damaged may have visited the task: withheld, and said', () => {
    const r = analyzeText(walkTrace({ damageVisitOf: 73 }));
    expect(r.anomalies).toEqual([]);
    // the damaged visit stands for one task at most: a second miss in the same walk is still one
    const two = analyzeText(walkTrace({ skip: 72, damageVisitOf: 73 }));
    expect(two.anomalies.map((a) => a.kind)).toEqual(['fixup-missed-task', 'fixup-missed-task']);
    expect(two.anomalies[0].message).toMatch(/lines are damaged, fewer than the 2 tasks missed/);
  });
  it('prose that mentions an mm is no damaged line', () => {
    const r = analyzeText(walkTrace({ skip: 73, before: (w) => w.raw(`note: the mm=${A} of pid=73 is the one to watch`) }));
    expect(r.anomalies.map((a) => a.pid)).toEqual([73]);
    expect(r.rejectedLines).toBe(0);
  });
});

describe('a trace cut short withholds only what the cut removes', () => {
  const header = (text: string, extra: number) =>
    `# tracer: nop\n#\n# entries-in-buffer/entries-written: ${text.trim().split('\n').length + extra}/0   #P:4\n#\n` + text;
  it('a duplicate whose window closed before the cut stands; one at the very end is withheld', () => {
    const w = new TraceWriter('tracefs', false);
    w.userAdd(1, 0, 1, 1, A).userAdd(1, 0, 2, 2, A).getcid(1, 0, A, 0).cpuCid(1, 0, 0, 0, A);
    w.getcid(2, 1, A, 0).cpuCid(2, 1, 1, 0, A);     // CID 0 taken twice ...
    const atEnd = header(w.text(), 5);
    w.wait(200_000).userAdd(1, 2, 3, 3, A);         // ... and the trace goes on for 200 ms
    const early = header(w.text(), 5);
    expect(analyzeText(early).truncated).toBe(true);
    expect(kinds(analyzeText(early))).toEqual(['cid-duplicate']);
    expect(analyzeText(atEnd).anomalies).toEqual([]);
  });
  it('an allocation failing for longer than 50 ms before the cut stands', () => {
    const w = new TraceWriter('tracefs', false, 2);
    w.userAdd(1, 0, 1, 1, A).userAdd(1, 0, 2, 2, A).userAdd(1, 0, 3, 3, A);
    w.getcid(1, 0, A, 0).cpuCid(1, 0, 0, 0, A).getcid(2, 1, A, 1).cpuCid(2, 1, 1, 1, A);
    w.getcid(3, 1, A, UNSET612);
    const soon = header(w.wait(10_000).userAdd(1, 0, 4, 4, A).text(), 3);
    const late = header(w.wait(90_000).userAdd(1, 0, 5, 5, A).text(), 3);
    expect(analyzeText(soon).anomalies).toEqual([]);
    const r = analyzeText(late);
    expect(kinds(r)).toEqual(['cid-exhausted']);
    expect(r.anomalies[0].message).toMatch(/before the trace was cut/);
  });
});
