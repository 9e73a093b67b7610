import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { readWalkMisses } from '../helpers/walk-reading.ts';
import { analyzeText } from '../../src/trace/analyze.ts';
import { formatAnalysis } from '../../src/trace/format.ts';
import { parseTrace } from '../../src/trace/parse.ts';

// The upstream message (Message-ID 87y0jzrhqn.ffs@tglx): debug patch, mail
// quoting, a real trace excerpt, and one elided hypothetical trace line.
const SEED = new URL('../../../shared/seeds/000_470b5232869457b7.txt', import.meta.url);
const text = readFileSync(SEED, 'utf8');

describe('the seed message', () => {
  it('parses the quoted trace lines and ignores the rest', () => {
    const p = parseTrace(text);
    expect(p.events.filter((e) => e.kind === 'user_add').map((e) => 'pid' in e && e.pid)).toEqual([1, 71, 72, 73, 74]);
    expect(p.events.filter((e) => e.kind === 'fixup_task').map((e) => 'pid' in e && e.pid)).toEqual([71, 72, 74, 71]);
    // tglx's "We'd see it and print: ... pid=73 cid=00000003 active=0 ..." is elided: not an event
    expect(p.rejected).toBe(1);
    expect(p.events.some((e) => e.kind === 'fixup_task' && e.pid === 73)).toBe(false);
  });

  it('finds exactly one fixup-missed-task: pid 73, CID 3, in the walk pid 1 started', () => {
    const r = analyzeText(text);
    expect(r.design).toBe('6.19');
    expect(r.anomalies).toHaveLength(1);
    const a = r.anomalies[0];
    expect(a).toMatchObject({ kind: 'fixup-missed-task', mm: '000000002b3f8459', pid: 73, cid: 3, walker: 1, cpu: 1 });
    expect(a.time).toBeCloseTo(1.116014, 6);
    expect(a.lines.some((l) => l.includes('mmcid_getcid: mm=000000002b3f8459 cid=00000003'))).toBe(true);
    expect(a.lines.filter((l) => l.includes('mmcid_fixup_task'))).toHaveLength(4);
    const human = formatAnalysis(r);
    expect(human).toContain('fixup-missed-task  mm 000000002b3f8459  pid 73  CID 00000003  CPU 1  walk by pid 1');
    expect(human).toMatch(/visited pids 71, 72, 74, 71 but never pid 73/);
  });

  it('still finds pid 73 when the line that follows in real life is added: the missed vfork child execs', () => {
    // posix_spawn/vfork children always exec; the exec removes 73 from the users.
    const more = text + '\n' + 'virtme-n-73 1d..1. 1116018us : mmcid_user_del: pid=73 users=4 mm=000000002b3f8459\n';
    const r = analyzeText(more);
    expect(r.anomalies.map((a) => [a.kind, a.pid, a.cid, a.walker])).toEqual([['fixup-missed-task', 73, 3, 1]]);
    expect(r.totals.walksMissed).toBe(1);
  });

  it('counts the crossing of 4 CPUs that started the walk', () => {
    const r = analyzeText(text, { cpus: 4 });
    expect(r.mms).toHaveLength(1);
    expect(r.mms[0]).toMatchObject({ maxUsers: 5, crossUp: 1, crossDown: 0, fixupWalks: 1 });
  });

  it('takes seconds at most, on the message repeated 500 times', () => {
    const big = Array.from({ length: 500 }, () => text).join('\n');
    const t0 = performance.now();
    const r = analyzeText(big);
    expect(performance.now() - t0).toBeLessThan(5000);
    expect(r.traceLines).toBe(500 * 19);
  });
});

// Our own data: the dump a soft lockup printed on Linux 7.2.13 with the rc3
// walk restored (scenario v6.19-vfork-stall), cut to one mm. The same shape
// as the seed: the task-list loop revisits 179 and stops before vfork child 180.
describe('a real 7.2 trace of the stall', () => {
  const real = readFileSync(new URL('./data/7.2-restored-walk-miss.txt', import.meta.url), 'utf8');
  it('finds the vfork child the restored walk missed', () => {
    const r = analyzeText(real, { cpus: 4, startMayBeCut: true });
    expect(r.design).toBe('6.19');
    expect(r.anomalies.map((a) => [a.kind, a.pid, a.cid, a.walker])).toEqual([['fixup-missed-task', 180, 2, 176]]);
    expect(r.anomalies[0].message).toMatch(/visited pids 179, 182, 183, 179 but never pid 180/);
    expect(r.totals).toMatchObject({ fixupWalks: 1, walksMissed: 1 });
  });
  it('an independent reading of the raw lines finds the same miss', () => {
    const r = analyzeText(real, { cpus: 4, startMayBeCut: true });
    const mine = r.anomalies.filter((a) => a.kind === 'fixup-missed-task').map((a) => `${a.walker}/${a.pid}`);
    expect(readWalkMisses(real).map((x) => `${x.walker}/${x.pid}`)).toEqual(mine);
  });
});

