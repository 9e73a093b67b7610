import { describe, expect, it } from 'vitest';
import { analyzeText, type TraceAnalysis } from '../../src/trace/analyze.ts';
import { formatAnalysis } from '../../src/trace/format.ts';
import { decodeCid } from '../../src/trace/cid.ts';
import { Sim612, TraceWriter, UNSET612, UNSET619, ONCPU, TRANSIT, type Shape } from './traces.ts';

const A = '00000000a11ce000';
const B = '00000000b0b00000';
const C = '00000000c0c00000';
const shapes: Shape[] = ['console', 'tracefs'];
const kinds = (r: TraceAnalysis) => r.anomalies.map((a) => a.kind);

/** Two processes on 6.12: A with three threads, B with two, interleaved on 4 CPUs, all exit cleanly. */
function clean612(shape: Shape): string {
  const w = new TraceWriter(shape);
  const s = new Sim612(w);
  w.userAdd(1, 0, 100, 1, A);
  w.userAdd(1, 1, 200, 1, B);
  s.switchIn(0, 0, 100, A);
  w.userAdd(100, 0, 101, 2, A).userAdd(100, 0, 102, 3, A);
  s.switchIn(1, 0, 200, B);
  w.userAdd(200, 1, 201, 2, B);
  s.switchIn(2, 0, 101, A);
  s.switchIn(3, 0, 201, B);
  s.switchOut(0, 100, 102, A).switchIn(0, 100, 102, A); // same CPU, same mm: keeps CPU 0's CID
  s.switchOut(1, 200, 0, B);
  s.switchIn(1, 0, 100, A);
  s.exit(2, 101, 2, A);
  s.exit(3, 201, 1, B);
  s.exit(0, 102, 1, A);
  s.exit(1, 100, 0, A);
  s.switchIn(3, 0, 200, B);
  s.exit(3, 200, 0, B);
  return w.text();
}

/** v6.19-style: per-task CIDs, a fork crossing 4 CPUs starts a fixup walk that visits every user. */
function clean619(shape: Shape, missPid?: number): string {
  const w = new TraceWriter(shape);
  w.userAdd(1, 3, 1, 1, A).getcid(1, 3, A, 0).task(1, 3, 1, 0, A);
  w.userAdd(1, 2, 300, 1, B).getcid(1, 2, B, 0).task(1, 2, 300, 0, B);
  let users = 1;
  for (const pid of [71, 72, 73]) {
    w.userAdd(1, 3, pid, ++users, A).getcid(1, 3, A, pid - 70).task(1, 3, pid, pid - 70, A);
    w.userAdd(300, 2, pid + 300, 2, B).getcid(300, 2, B, 1).task(300, 2, pid + 300, 1, B);
    w.userDel(pid + 300, 0, pid + 300, 1, B).task(pid + 300, 0, pid + 300, UNSET619, B).putcid(pid + 300, 0, B, 1);
  }
  w.switchTo(1, 0, 73).cpuCid(0, 1, 1, 3, A);
  // 5th user of A on 4 CPUs: switch to per-CPU CIDs
  w.userAdd(1, 3, 74, 5, A);
  w.task(1, 3, 1, TRANSIT | 0, A).cpuCid(1, 3, 3, TRANSIT | 0, A);
  w.cpuCid(300, 2, 2, 0, B); // unrelated mm B activity in the middle of the walk
  for (const pid of [71, 72, 73, 74]) {
    if (pid === missPid) continue;
    const cid = pid === 74 ? UNSET619 : pid - 70;
    w.fixup(1, 3, pid, cid, 5 - (pid - 70), A);
    if (pid === 71) w.task(1, 3, 71, UNSET619, A).putcid(1, 3, A, 1);
    if (pid === 72) w.task(1, 3, 72, TRANSIT | 2, A).cpuCid(1, 3, 0, TRANSIT | 2, A);
    // a running task's CID goes into transit (mm_cid_transit_to_cpu), like 72's
    if (pid === 73) w.task(1, 3, 73, TRANSIT | 3, A).cpuCid(1, 3, 1, TRANSIT | 3, A);
  }
  w.getcid(1, 3, A, 1).task(1, 3, 74, ONCPU | 1, A); // back in fork: 74 gets its CID
  w.add({ pid: 1, cpu: 3, ev: 'sched_process_fork', body: 'comm=init pid=1 child_comm=init child_pid=74' });
  return w.text();
}

describe('clean traces: zero anomalies', () => {
  for (const shape of shapes) {
    it(`6.12 design, two mms interleaved (${shape})`, () => {
      const r = analyzeText(clean612(shape));
      expect(r.design).toBe('6.12');
      expect(r.anomalies).toEqual([]);
      expect(r.mmcidEvents).toBeGreaterThan(40);
      expect(r.cpus).toBe(shape === 'tracefs' ? 4 : 4);
      expect(r.cpusSource).toBe(shape === 'tracefs' ? 'header' : 'inferred');
      expect(formatAnalysis(r)).toContain('no anomalies');
    });
    it(`v6.19 design with a complete fixup walk and another mm busy (${shape})`, () => {
      const r = analyzeText(clean619(shape));
      expect(r.design).toBe('6.19');
      expect(r.anomalies).toEqual([]);
      expect(r.totals.fixupWalks).toBe(1);
      const a = r.mms.find((m) => m.mm === A)!;
      expect(a).toMatchObject({ maxUsers: 5, crossUp: 1, crossDown: 0, fixupWalks: 1, tasks: 5 });
    });
  }
});

/** pids 1, 2, 3 in mm A on CPU 0, holding task CIDs 0, 1, 2. */
function threeUsersWithCids(w: TraceWriter): void {
    w.userAdd(1, 0, 1, 1, A).getcid(1, 0, A, 0).task(1, 0, 1, 0, A);
    w.userAdd(1, 0, 2, 2, A).getcid(1, 0, A, 1).task(1, 0, 2, 1, A);
    w.userAdd(1, 0, 3, 3, A).getcid(1, 0, A, 2).task(1, 0, 3, 2, A);
}

describe('fixup-missed-task', () => {
  for (const shape of shapes) {
    it(`finds the user the walk skipped (${shape})`, () => {
      const r = analyzeText(clean619(shape, 73));
      expect(kinds(r)).toEqual(['fixup-missed-task']);
      expect(r.anomalies[0]).toMatchObject({ mm: A, pid: 73, cid: 3, cpu: 1, walker: 1 });
      expect(r.anomalies[0].lines.some((l) => l.includes('mmcid_user_add: pid=73 '))).toBe(true);
      expect(formatAnalysis(r)).toMatch(/never pid 73/);
    });
  }
  it('a user_del after the walk does not excuse the miss: removal needs the mutex the walker holds', () => {
    const w = new TraceWriter('tracefs');
    threeUsersWithCids(w);
    w.fixup(1, 0, 2, 1, 2, A).task(1, 0, 2, UNSET619, A).putcid(1, 0, A, 1);
    // 3 execs on CPU 1 right after the walk (sched_mm_cid_exit: CID back, then user_del): still missed
    w.task(3, 1, 3, UNSET619, A).putcid(3, 1, A, 2).userDel(3, 1, 3, 2, A);
    const r = analyzeText(w.text());
    expect(r.anomalies.map((a) => [a.kind, a.pid, a.cid, a.walker])).toEqual([['fixup-missed-task', 3, 2, 1]]);
    expect(r.totals.walksMissed).toBe(1);
  });
  it('a walk the kernel ended (a CPU-owned CID without TRANSIT) is judged even when the trace is cut right after', () => {
    const w = new TraceWriter('tracefs');
    threeUsersWithCids(w);
    w.fixup(1, 0, 2, 1, 2, A).task(1, 0, 2, UNSET619, A).putcid(1, 0, A, 1);
    w.getcid(2, 2, A, 1).cpuCid(2, 2, 2, ONCPU | 1, A); // CPU 2 after the walk: per-CPU mode, transit over
    const r = analyzeText(w.text(), { truncated: true });
    expect(r.truncated).toBe(true);
    expect(r.anomalies.map((a) => [a.kind, a.pid])).toEqual([['fixup-missed-task', 3]]);
  });
  it('a console dump: before every CPU has its first event, counts are not checked; a later miss is still found', () => {
    const w = new TraceWriter('console');
    // CPU 1's buffer dropped its oldest page: its user_add of pid 9 (users=2) is gone.
    w.userAdd(1, 0, 1, 1, A).getcid(1, 0, A, 0).task(1, 0, 1, 0, A);
    w.userAdd(1, 0, 8, 3, A).getcid(1, 0, A, 1).task(1, 0, 8, 1, A);
    w.userAdd(1, 1, 2, 4, A).getcid(1, 1, A, 2).task(1, 1, 2, 2, A); // CPU 1's first event
    w.userAdd(1, 0, 3, 5, A).getcid(1, 0, A, 3).task(1, 0, 3, 3, A);
    w.fixup(1, 0, 8, 1, 4, A).task(1, 0, 8, UNSET619, A).putcid(1, 0, A, 1);
    w.fixup(1, 0, 3, 3, 3, A).task(1, 0, 3, UNSET619, A).putcid(1, 0, A, 3);
    w.userAdd(1, 0, 4, 6, A);
    expect(kinds(analyzeText(w.text()))).toContain('users-mismatch'); // taken at its word
    const r = analyzeText(w.text(), { startMayBeCut: true });
    expect(r.replayFrom).not.toBeNull();
    // pid 2 (CPU 1, after the covered point) held CID 2 and was never visited
    expect(r.anomalies.map((a) => [a.kind, a.pid])).toEqual([['fixup-missed-task', 2]]);
  });
  it('a walk still open where the trace is cut is not judged: what follows is unknown', () => {
    const w = new TraceWriter('tracefs');
    threeUsersWithCids(w);
    w.fixup(1, 0, 2, 1, 2, A).cpuCid(1, 1, 1, TRANSIT | 1, A); // a transit CID: the walk may go on
    expect(analyzeText(w.text(), { truncated: true }).anomalies).toEqual([]);
  });
  it('a task with no CID yet (still in fork) has nothing to hand over: not a miss', () => {
    const w = new TraceWriter('tracefs');
    w.userAdd(1, 0, 1, 1, A).getcid(1, 0, A, 0).task(1, 0, 1, 0, A);
    w.userAdd(1, 0, 2, 2, A).getcid(1, 0, A, 1).task(1, 0, 2, 1, A);
    w.userAdd(1, 0, 3, 3, A); // the new task: active, CID unset
    w.fixup(1, 0, 2, 1, 2, A).task(1, 0, 2, UNSET619, A).putcid(1, 0, A, 1);
    w.userAdd(1, 0, 4, 4, A);
    const r = analyzeText(w.text());
    expect(r.anomalies).toEqual([]);
    expect(r.totals).toMatchObject({ fixupWalks: 1, walksMissed: 0 });
  });
  it('two walkers, two walks, each judged on its own', () => {
    const w = new TraceWriter('console');
    w.userAdd(1, 0, 1, 1, A).userAdd(1, 0, 2, 2, A).getcid(1, 0, A, 1).task(1, 0, 2, 1, A).userAdd(1, 0, 3, 3, A).getcid(1, 0, A, 2).task(1, 0, 3, 2, A);
    w.userAdd(10, 1, 10, 1, B).userAdd(10, 1, 11, 2, B).getcid(10, 1, B, 1).task(10, 1, 11, 1, B).userAdd(10, 1, 12, 3, B).getcid(10, 1, B, 2).task(10, 1, 12, 2, B);
    w.fixup(1, 0, 2, 1, 2, A).fixup(10, 1, 11, 1, 2, B).fixup(1, 0, 3, 2, 1, A);
    w.userAdd(1, 0, 5, 4, A).userAdd(10, 1, 13, 4, B);
    const r = analyzeText(w.text());
    expect(r.anomalies.map((a) => [a.kind, a.mm, a.pid, a.walker])).toEqual([['fixup-missed-task', B, 12, 10]]);
  });
});

describe('cid-duplicate', () => {
  it('a CID taken twice without a release', () => {
    const w = new TraceWriter('tracefs');
    w.userAdd(1, 0, 1, 1, A).getcid(1, 0, A, 0).cpuCid(1, 0, 0, 0, A).getcid(1, 1, A, 0);
    const r = analyzeText(w.text());
    expect(kinds(r)).toContain('cid-duplicate');
    expect(r.anomalies.find((a) => a.kind === 'cid-duplicate')).toMatchObject({ mm: A, cid: 0, cpu: 1 });
  });
  it('two CPUs owning the same CID (6.12)', () => {
    const w = new TraceWriter('console');
    w.userAdd(1, 0, 1, 1, A).userAdd(1, 0, 2, 2, A);
    w.getcid(1, 0, A, 0).cpuCid(1, 0, 0, 0, A).task(1, 0, 1, 0, A);
    w.cpuCid(2, 1, 1, 0, A).task(2, 1, 2, 0, A).wait(2000);
    w.userAdd(1, 0, 3, 3, A); // CPU 0 runs on, task 1 still holding CID 0
    w.task(1, 0, 1, UNSET612, A);
    const r = analyzeText(w.text());
    expect(r.design).toBe('6.12');
    const d = r.anomalies.filter((a) => a.kind === 'cid-duplicate');
    expect(d.map((a) => a.cpu ?? a.pid)).toContain(1);
    expect(d.some((a) => a.pid === 2)).toBe(true); // both running tasks show CID 0 too
  });
  it('a release sorted just after the next take (clock skew between CPUs) is no duplicate', () => {
    const w = new TraceWriter('console');
    w.userAdd(1, 0, 1, 1, A).userAdd(1, 0, 2, 2, A);
    w.getcid(1, 0, A, 0).cpuCid(1, 0, 0, 0, A).wait(5000);
    w.getcid(2, 1, A, 0).cpuCid(2, 1, 1, 0, A);       // CPU 1 took CID 0 ...
    w.cpuCid(1, 0, 0, UNSET612, A).putcid(1, 0, A, 0); // ... CPU 0's release stamped 14 us later
    w.wait(5000).cpuCid(2, 1, 1, UNSET612, A).putcid(2, 1, A, 0);
    expect(analyzeText(w.text()).anomalies).toEqual([]);
  });
  it('an owner whose CPU was stalled (a TCG vCPU descheduled by the host) letting go late is no duplicate, on TCG only', () => {
    // CPU 3 switched 944 out (rq->curr published) and stalled before tracing it;
    // CPU 1 meanwhile got the CID by migration and ran 63 with it.
    const stalled = (ms: number, cpu3Busy: boolean, accel: 'tcg' | 'kvm' | 'unknown' = 'tcg') => {
      const w = new TraceWriter('tracefs');
      w.userAdd(1, 3, 944, 1, A).userAdd(1, 3, 63, 2, A);
      w.getcid(60, 3, A, 1).cpuCid(60, 3, 3, 1, A).task(60, 3, 944, 1, A).wait(900);
      w.cpuCid(0, 1, 3, 0x80000001, A).cpuCid(0, 1, 3, UNSET612, A).cpuCid(0, 1, 1, 1, A).task(0, 1, 63, 1, A);
      w.wait(ms * 1000);
      if (cpu3Busy) w.userAdd(944, 3, 945, 3, A);
      w.task(944, 3, 944, UNSET612, A);
      return analyzeText(w.text(), { accel });
    };
    const ok = stalled(5, false);
    expect(ok.anomalies).toEqual([]);
    expect(ok.excused.map((x) => x.rule)).toEqual(['late-stamp']);
    expect(ok.excused[0].gap).toBeGreaterThan(0.004);
    expect(formatAnalysis(ok)).toMatch(/late-stamp: 1x, largest gap 5\.0\d+ ms/);
    expect(kinds(stalled(5, true))).toContain('cid-duplicate');   // CPU 3 ran on: 944 really held it
    expect(kinds(stalled(80, false))).toContain('cid-duplicate');  // too long for a host stall
    // nothing measured on KVM, nor for a trace of unknown origin: no allowance
    expect(kinds(stalled(5, false, 'kvm'))).toContain('cid-duplicate');
    expect(kinds(stalled(5, false, 'unknown'))).toContain('cid-duplicate');
  });
  it('with sched_switch in the trace, a quiet owner running user code is no stalled vCPU', () => {
    const run = (switchOut: boolean) => {
      const w = new TraceWriter('tracefs');
      w.userAdd(1, 0, 10, 1, A).userAdd(1, 0, 11, 2, A).userAdd(1, 0, 12, 3, A);
      w.switchTo(0, 0, 10).getcid(10, 0, A, 0).task(10, 0, 10, 0, A);   // 10 runs on CPU 0 with CID 0
      w.switchTo(1, 0, 11).getcid(11, 1, A, 1).task(11, 1, 11, 1, A);
      w.wait(100).task(11, 1, 12, 0, A);                                  // CPU 1 gives CID 0 to 12 as well
      w.wait(3000);
      if (switchOut) w.switchTo(0, 10, 0);                                // CPU 0 in its switch path
      w.task(10, 0, 10, UNSET612, A);                                     // 10 lets go 3 ms later
      return analyzeText(w.text(), { accel: 'tcg' });
    };
    // sched_switch shows 10 running on CPU 0 all along: the duplicate is real
    expect(kinds(run(false))).toEqual(['cid-duplicate']);
    // seen on a real 6.12 run under load: the switch-out stamped before the
    // other CPU's take, the let-go 3.7 ms after it, nothing else in between
    const before = (() => {
      const w = new TraceWriter('tracefs');
      w.userAdd(1, 0, 10, 1, A).userAdd(1, 0, 11, 2, A).userAdd(1, 0, 12, 3, A);
      w.switchTo(0, 0, 10).getcid(10, 0, A, 0).task(10, 0, 10, 0, A);
      w.switchTo(1, 0, 11).getcid(11, 1, A, 1).task(11, 1, 11, 1, A);
      w.switchTo(0, 10, 0).wait(1200);               // CPU 0 switches 10 out ...
      w.task(11, 1, 12, 0, A).wait(2500);             // ... CPU 1 hands CID 0 to 12 ...
      w.task(10, 0, 10, UNSET612, A);                 // ... and CPU 0's let-go is stamped 3.7 ms after the switch
      return analyzeText(w.text(), { accel: 'tcg' });
    })();
    expect(before.anomalies).toEqual([]);
    expect(before.excused.map((x) => x.rule)).toEqual(['late-stamp']);
    const r = run(true);
    expect(r.anomalies).toEqual([]);
    expect(r.excused.map((x) => x.rule)).toEqual(['late-stamp']);
    expect(r.excused[0].message).toMatch(/switched pid 10 out .* logged nothing else/);
  });
  it('two tasks owning the same per-task CID (v6.19)', () => {
    const w = new TraceWriter('tracefs');
    w.userAdd(1, 0, 1, 1, A).getcid(1, 0, A, 0).task(1, 0, 1, 0, A);
    w.userAdd(1, 0, 2, 2, A).task(1, 0, 2, 0, A).task(1, 0, 1, TRANSIT, A);
    const r = analyzeText(w.text());
    expect(r.design).toBe('6.19');
    expect(r.anomalies).toHaveLength(1);
    expect(r.anomalies[0]).toMatchObject({ kind: 'cid-duplicate', pid: 2, cid: 0 });
  });
  it('the same CID in two different mms is fine', () => {
    const w = new TraceWriter('tracefs');
    w.userAdd(1, 0, 1, 1, A).getcid(1, 0, A, 0).task(1, 0, 1, 0, A);
    w.userAdd(2, 1, 2, 1, B).getcid(2, 1, B, 0).task(2, 1, 2, 0, B);
    w.task(1, 0, 1, UNSET619, A).putcid(1, 0, A, 0);
    expect(analyzeText(w.text()).anomalies).toEqual([]);
  });
});

describe('cid-leak and cid-exhausted', () => {
  for (const shape of shapes) {
    it(`a vfork child's CPU CID dropped without a put, then every CID taken (${shape})`, () => {
      const w = new TraceWriter(shape, true, 2);
      const s = new Sim612(w, 2);
      w.userAdd(1, 0, 100, 1, A);
      s.switchIn(0, 0, 100, A);
      w.userAdd(100, 0, 101, 2, A).userAdd(100, 0, 102, 3, A);
      s.switchIn(1, 0, 101, A);
      // 101 leaves by exec on CPU 1: its CPU CID is cleared but the bit stays taken
      s.exit(1, 101, 2, A, true);
      s.switchIn(1, 0, 102, A); // takes the next free CID
      const r1 = analyzeText(w.text());
      expect(kinds(r1)).toEqual(['cid-leak']);
      expect(r1.anomalies[0]).toMatchObject({ mm: A, cid: 1, cpu: 1 });
      expect(r1.anomalies[0].message).toMatch(/never released/);
      // now an allocation on CPU 0 after its CID was put finds none free
      w.cpuCid(100, 0, 0, 0x80000000, A).cpuCid(100, 0, 0, UNSET612, A).putcid(100, 0, A, 0);
      w.getcid(100, 0, A, 0).cpuCid(100, 0, 0, 0, A);
      w.getcid(102, 1, A, UNSET612);
      const r2 = analyzeText(w.text());
      expect(kinds(r2).sort()).toEqual(['cid-exhausted', 'cid-leak']);
      const ex = r2.anomalies.find((a) => a.kind === 'cid-exhausted')!;
      expect(ex).toMatchObject({ pid: 102, cpu: 1 });
      expect(ex.message).toMatch(/never released/);
    });
  }
  it('a mask full for a moment (remote clear in flight) is no exhaustion; full for 60 ms is', () => {
    const run = (waitUs: number) => {
      const w = new TraceWriter('tracefs', true, 2);
      w.userAdd(1, 0, 1, 1, A).userAdd(1, 0, 2, 2, A).userAdd(1, 0, 3, 3, A);
      w.getcid(1, 0, A, 0).cpuCid(1, 0, 0, 0, A).getcid(2, 1, A, 1).cpuCid(2, 1, 1, 1, A);
      w.cpuCid(1, 0, 1, 0x80000001, A);           // CPU 0 remote-clears CPU 1's CID
      w.cpuCid(1, 0, 1, UNSET612, A);
      w.getcid(3, 1, A, UNSET612);                 // CPU 1 allocates before the put lands
      w.wait(waitUs).putcid(1, 0, A, 1);
      w.getcid(3, 1, A, 1).cpuCid(3, 1, 1, 1, A);
      return analyzeText(w.text());
    };
    expect(run(3).anomalies).toEqual([]);
    const late = run(60_000);
    expect(kinds(late)).toEqual(['cid-exhausted']);
    expect(late.anomalies[0]).toMatchObject({ pid: 3, cpu: 1 });
    expect(late.anomalies[0].message).toMatch(/only succeeded at/);
  });
  it('an mm older than the trace (init before its exec) drops its CID with the mm: no leak', () => {
    // Seen on a real 6.12 run: the init shell held CID 0 from before tracing
    // began, execed, and the old mm went away without a putcid.
    const w = new TraceWriter('tracefs');
    w.task(0, 1, 1, 0, A).task(1, 1, 1, UNSET612, A);
    const r = analyzeText(w.text());
    expect(r.anomalies).toEqual([]);
    expect(r.excused.map((x) => x.rule)).toEqual(['mm-gone']);
  });
  it('an mm older than the trace that lives on after dropping a CID unreleased leaks it', () => {
    const w = new TraceWriter('tracefs');
    w.task(0, 1, 1, 0, A).task(1, 1, 1, UNSET612, A);   // CID 0 dropped, no putcid ...
    w.cpuCid(2, 2, 2, 1, A).task(2, 2, 2, 1, A);        // ... and the mm goes on being used
    const r = analyzeText(w.text());
    expect(kinds(r)).toEqual(['cid-leak']);
    expect(r.anomalies[0].message).toMatch(/predates the trace but lives on/);
  });
  it('a CID moved between CPUs by migration is no leak', () => {
    const w = new TraceWriter('tracefs');
    w.userAdd(1, 0, 1, 1, A).getcid(1, 0, A, 0).cpuCid(1, 0, 0, 0, A);
    w.cpuCid(1, 1, 0, 0x80000000, A).cpuCid(1, 1, 0, UNSET612, A).cpuCid(1, 1, 1, 0, A);
    expect(analyzeText(w.text()).anomalies).toEqual([]);
  });
});

describe('users-mismatch', () => {
  it('v6.19 counts must move by one', () => {
    const w = new TraceWriter('tracefs');
    w.userAdd(1, 0, 1, 1, A).getcid(1, 0, A, 0).task(1, 0, 1, ONCPU, A).userAdd(1, 0, 2, 2, A).userAdd(1, 0, 3, 4, A);
    w.userDel(3, 0, 3, 3, A);
    const r = analyzeText(w.text());
    expect(r.anomalies.map((a) => [a.kind, a.pid])).toEqual([['users-mismatch', 3]]);
    expect(r.anomalies[0].message).toMatch(/users=4 but the replay expects 3/);
  });
  it('6.12 mm_users may run ahead of the tasks but never behind', () => {
    const w = new TraceWriter('console');
    w.userAdd(1, 0, 1, 1, A).getcid(1, 0, A, 0).cpuCid(1, 0, 0, 0, A).task(1, 0, 1, 0, A).task(1, 0, 1, UNSET612, A);
    w.userAdd(1, 0, 2, 3, A); // a transient mmget: fine
    w.userAdd(1, 0, 3, 2, A); // three tasks, two users: wrong
    const r = analyzeText(w.text());
    expect(r.design).toBe('6.12');
    expect(r.anomalies.map((a) => [a.kind, a.pid])).toEqual([['users-mismatch', 3]]);
  });
  it('6.12: a count read before a stalled vCPU stamped it may miss tasks other CPUs added meanwhile (TCG)', () => {
    const run = (gapMs: number, accel: 'tcg' | 'kvm' = 'tcg') => {
      const w = new TraceWriter('tracefs');
      w.userAdd(1, 0, 1, 1, A).getcid(1, 0, A, 0).cpuCid(1, 0, 0, 0, A).task(1, 0, 1, 0, A);
      w.userAdd(1, 0, 5, 2, A).wait(gapMs * 1000);
      w.userAdd(1, 1, 6, 3, A).userAdd(1, 2, 7, 4, A); // CPUs 1 and 2 add two more
      w.userDel(5, 0, 5, 1, A);  // CPU 0 read mm_users=2 before those adds, stamped after
      return analyzeText(w.text(), { accel });
    };
    const ok = run(5);
    expect(ok.anomalies).toEqual([]);
    expect(ok.excused.map((x) => x.rule)).toEqual(['late-users-read']);
    expect(kinds(run(5, 'kvm'))).toEqual(['users-mismatch']);
    // seen on a real 6.12 run: the count also misses a task whose exit on
    // another CPU decremented mm_users before the read and was stamped 8 ms later
    const after = (gapMs: number) => {
      const w = new TraceWriter('tracefs');
      w.userAdd(1, 0, 1, 1, A).getcid(1, 0, A, 0).cpuCid(1, 0, 0, 0, A).task(1, 0, 1, 0, A);
      w.userAdd(1, 0, 5, 2, A).userAdd(1, 0, 6, 3, A).wait(200_000);
      w.userDel(5, 0, 5, 1, A).wait(gapMs * 1000);   // 5 leaves reading users=1: 6 was already gone ...
      w.userDel(6, 3, 6, 1, A);                      // ... but its del is stamped later on CPU 3
      return analyzeText(w.text(), { accel: 'tcg' });
    };
    expect(after(8).anomalies).toEqual([]);
    expect(after(8).excused[0].message).toMatch(/1 removed just after it/);
    expect(kinds(after(80))).toContain('users-mismatch');
    const far = analyzeText((() => {
      const w = new TraceWriter('tracefs');
      w.userAdd(1, 0, 1, 1, A).getcid(1, 0, A, 0).cpuCid(1, 0, 0, 0, A).task(1, 0, 1, 0, A);
      w.userAdd(1, 0, 5, 2, A).userAdd(1, 1, 6, 3, A).userAdd(1, 2, 7, 4, A).wait(80_000);
      w.userDel(5, 0, 5, 1, A);  // 80 ms later, users=1 with 1, 6 and 7 still in: wrong
      return w.text();
    })(), { accel: 'tcg' });
    expect(kinds(far)).toEqual(['users-mismatch']);
  });
});

describe('exercise counts', () => {
  it('counts crossings of the CPU count and those with a vfork child alive', () => {
    const w = new TraceWriter('tracefs', true, 2);
    w.userAdd(1, 0, 1, 1, A).userAdd(1, 0, 2, 2, A);
    w.userAdd(2, 1, 3, 3, A);          // up (3 > 2), 3 is a vfork child (execs below)
    w.userDel(3, 1, 3, 2, A);          // down: 3 leaves by exec while 1 and 2 remain
    w.userAdd(3, 1, 3, 1, C);
    w.userAdd(1, 0, 4, 3, A);          // up, no vfork child alive
    w.userDel(4, 0, 4, 2, A);          // down
    const r = analyzeText(w.text());
    const a = r.mms.find((m) => m.mm === A)!;
    expect(a).toMatchObject({ crossUp: 2, crossDown: 2, crossUpWithVfork: 1, crossDownWithVfork: 0, vforkChildren: 1 });
    expect(r.totals.vforkChildren).toBe(1);
    expect(analyzeText(w.text(), { cpus: 3 }).totals.crossUp).toBe(0);
  });
  it('an mm address reused after its last user left starts a fresh replay', () => {
    const w = new TraceWriter('console');
    w.userAdd(1, 0, 1, 1, A).getcid(1, 0, A, 0).cpuCid(1, 0, 0, 0, A);
    w.userDel(1, 0, 1, 0, A).cpuCid(1, 0, 0, UNSET612, A).putcid(1, 0, A, 0);
    w.cpuCid(5, 2, 2, 0x80000002, A); // stale lazy slot of the dead mm
    w.userAdd(9, 1, 9, 1, A).getcid(9, 1, A, 0).cpuCid(9, 1, 1, 0, A).getcid(9, 2, A, 1).cpuCid(9, 2, 2, 1, A);
    const r = analyzeText(w.text());
    expect(r.anomalies).toEqual([]);
    expect(r.totals.mms).toBe(2);
  });
});

describe('lost events', () => {
  const body = (w: TraceWriter) => {
    w.userAdd(2, 1, 2, 1, A).getcid(2, 1, A, 0).cpuCid(2, 1, 1, 0, A);
    // CPU 0's remote clear of CPU 1's CID (lazy, unset, put) fell out of CPU 0's buffer
    w.wait(1000).userAdd(2, 0, 3, 2, A);       // CPU 0's oldest surviving event
    w.getcid(2, 1, A, 0).cpuCid(2, 1, 1, 0, A);
    return w.text();
  };
  it('without a loss marker the replay trusts everything', () => {
    const w = new TraceWriter('tracefs', false).raw('# entries-in-buffer/entries-written: 5/5   #P:4');
    expect(kinds(analyzeText(body(w)))).toContain('cid-duplicate');
  });
  for (const marker of ['# entries-in-buffer/entries-written: 5/9   #P:4', 'CPU:0 [LOST 4 EVENTS]']) {
    it(`replays only where every CPU's buffer is complete (${marker.slice(0, 14)})`, () => {
      const w = new TraceWriter('tracefs', false).raw(marker);
      const r = analyzeText(body(w));
      expect(r.anomalies).toEqual([]);
      expect(r.replayFrom).toBeCloseTo(1.001028, 6);
      expect(r.skippedEvents).toBe(3);
      expect(formatAnalysis(r)).toMatch(/lost events: replay from 1.001028s/);
    });
  }
});

describe('decodeCid', () => {
  it('reads both designs', () => {
    expect(decodeCid(0x80000000)).toMatchObject({ unset: true, cid: null });
    expect(decodeCid(0xffffffff)).toMatchObject({ unset: true, cid: null });
    expect(decodeCid(0x80000003)).toMatchObject({ lazy: true, cid: 3 });
    expect(decodeCid(0x40000002)).toMatchObject({ onCpu: true, transit: false, cid: 2 });
    expect(decodeCid(0x20000002)).toMatchObject({ onCpu: false, transit: true, cid: 2 });
    expect(decodeCid(3)).toMatchObject({ unset: false, lazy: false, onCpu: false, transit: false, cid: 3 });
  });
});

describe('a trace cut short concludes nothing from its end', () => {
  /** CPU 1's CID is dropped on exit; the put that follows never arrived (the transfer was cut). */
  const cutTrace = (entries: number | null) => {
    const w = new TraceWriter('tracefs', false, 2);
    const s = new Sim612(w, 2);
    w.userAdd(1, 0, 100, 1, A);
    s.switchIn(0, 0, 100, A);
    w.userAdd(100, 0, 101, 2, A);
    s.switchIn(1, 0, 101, A);
    w.userDel(101, 1, 101, 1, A).cpuCid(101, 1, 1, UNSET612, A); // ...and here the text stops
    const body = w.text();
    const n = body.trim().split('\n').length;
    return entries === null ? body : `# tracer: nop\n#\n# entries-in-buffer/entries-written: ${n + entries}/${n + entries}   #P:2\n#\n` + body;
  };
  it('without a header the end is taken at its word: a leak', () => {
    expect(kinds(analyzeText(cutTrace(null)))).toEqual(['cid-leak']);
  });
  it('fewer lines than the header says the buffer held: truncated, no leak', () => {
    const r = analyzeText(cutTrace(3));
    expect(r.truncated).toBe(true);
    expect(r.anomalies).toEqual([]);
    expect(formatAnalysis(r)).toMatch(/cut short/);
  });
  it('a whole trace with a header is not truncated', () => {
    const r = analyzeText(cutTrace(0));
    expect(r.truncated).toBe(false);
    expect(kinds(r)).toEqual(['cid-leak']);
  });
  it('the caller can say the text was cut', () => {
    expect(analyzeText(cutTrace(null), { truncated: true }).anomalies).toEqual([]);
  });
});

describe('0x80000000: unset on v6.19+, lazy-put CID 0 on 6.12', () => {
  it('decodes by design', () => {
    expect(decodeCid(0x80000000)).toMatchObject({ unset: true });
    expect(decodeCid(0x80000000, '6.19')).toMatchObject({ unset: true });
    expect(decodeCid(0x80000000, '6.12')).toMatchObject({ unset: false, lazy: true, cid: 0 });
  });
  it('a 6.12 trace with a lazy put of CID 0 is still recognised as 6.12', () => {
    const w = new TraceWriter('tracefs');
    w.userAdd(1, 0, 1, 1, A).getcid(1, 0, A, 0).cpuCid(1, 0, 0, 0, A).task(1, 0, 1, 0, A).task(1, 0, 1, UNSET612, A);
    w.cpuCid(1, 1, 0, 0x80000000, A).cpuCid(1, 1, 0, UNSET612, A).putcid(1, 1, A, 0); // remote clear of CPU 0's CID 0
    const r = analyzeText(w.text());
    expect(r.design).toBe('6.12');
    expect(r.anomalies).toEqual([]);
  });
});

describe('6.12: a lazy-put flag stamped after the slot moved on', () => {
  it('is stale and takes no CID (seen on a real run: a remote clear stalled between cmpxchg and tracepoint)', () => {
    const w = new TraceWriter('tracefs');
    w.userAdd(1, 2, 1322, 1, A).userAdd(1, 2, 63, 2, A);
    w.getcid(0, 2, A, 0).cpuCid(0, 2, 2, 0, A).task(0, 2, 1322, 0, A);
    // 1322 exits on CPU 2: its slot is unset and CID 0 released ...
    w.userDel(1322, 2, 1322, 1, A).cpuCid(1322, 2, 2, UNSET612, A).putcid(1322, 2, A, 0);
    // ... then CPU 3's remote clear of CPU 2 (its cmpxchg ran earlier) is stamped
    w.cpuCid(206, 3, 2, 0x80000000, A);
    // and CPU 3 takes the free CID 0 for pid 63
    w.getcid(206, 3, A, 0).cpuCid(206, 3, 3, 0, A).task(206, 3, 63, 0, A);
    const r = analyzeText(w.text());
    expect(r.design).toBe('6.12');
    expect(r.anomalies).toEqual([]);
  });
  it('a lazy flag on the slot\'s own CID still holds it: a take of that CID elsewhere is a duplicate', () => {
    const w = new TraceWriter('tracefs');
    w.userAdd(1, 2, 1322, 1, A).userAdd(1, 2, 63, 2, A);
    w.getcid(0, 2, A, 0).cpuCid(0, 2, 2, 0, A).task(0, 2, 1322, 0, A).task(0, 2, 1322, UNSET612, A);
    w.cpuCid(206, 3, 2, 0x80000000, A).wait(1000);          // remote clear starts: CID 0 still taken
    w.userAdd(206, 3, 64, 3, A).wait(100_000);              // CPU 3 runs on
    w.cpuCid(206, 3, 3, 0, A).task(206, 3, 63, 0, A);       // and CPU 3 uses CID 0 without a put
    expect(kinds(analyzeText(w.text()))).toContain('cid-duplicate');
  });
});
