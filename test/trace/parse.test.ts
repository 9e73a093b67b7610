import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { extractFtraceDump, parseTrace, parseTraceLine, unquote } from '../../src/trace/parse.ts';
import { analyzeText } from '../../src/trace/analyze.ts';

const CORPUS = fileURLToPath(new URL('../../../shared/corpus/', import.meta.url));

describe('parseTraceLine', () => {
  it('reads a console ftrace dump line (printk time, caller id, latency format)', () => {
    const l = parseTraceLine('[    4.529065][    T1] virtme-n-1         3d..1. 1115937us : mmcid_user_add: pid=72 users=3 mm=000000002b3f8459', 7)!;
    expect(l).toMatchObject({ lineNo: 7, comm: 'virtme-n', pid: 1, cpu: 3, event: 'mmcid_user_add', body: 'pid=72 users=3 mm=000000002b3f8459' });
    expect(l.time).toBeCloseTo(1.115937, 6);
  });
  it('reads a dump line without printk time and with a delay mark', () => {
    const l = parseTraceLine('  <idle>-0         1d.h2. 1115991us+: sched_switch: prev_comm=swapper/1 prev_pid=0 prev_prio=120 prev_state=R ==> next_comm=a b next_pid=73 next_prio=120', 1)!;
    expect(l).toMatchObject({ comm: '<idle>', pid: 0, cpu: 1, event: 'sched_switch' });
  });
  it('reads tracefs lines with flags, without flags, and with a tgid column', () => {
    expect(parseTraceLine('          stress-300     [000] d..1.    10.000100: mmcid_getcid: mm=00000000deadbeef cid=00000001', 1))
      .toMatchObject({ comm: 'stress', pid: 300, cpu: 0, time: 10.0001, event: 'mmcid_getcid' });
    expect(parseTraceLine('kworker/u8:1-300 [003] 12.5: mmcid_putcid: mm=00000000deadbeef cid=00000001', 1))
      .toMatchObject({ comm: 'kworker/u8:1', pid: 300, cpu: 3, time: 12.5 });
    expect(parseTraceLine('   stress-301   (    300) [002] ..... 10.2: sched_process_exit: comm=stress pid=301 prio=120', 1))
      .toMatchObject({ pid: 301, cpu: 2, event: 'sched_process_exit' });
  });
  it('strips mail quoting and keeps trailing annotations out of the fields', () => {
    const t = parseTrace('> > [ 4.529448] virtme-n-71 2d..1. 1115969us : mmcid_user_add: pid=73 users=4 mm=000000002b3f8459 <=== missing!\r\n');
    expect(t.events).toHaveLength(1);
    expect(t.events[0]).toMatchObject({ kind: 'user_add', pid: 73, users: 4, mm: '000000002b3f8459' });
    expect(unquote('>> x')).toBe('x');
    expect(unquote('   x-1 [000] 1.0: e: b')).toBe('   x-1 [000] 1.0: e: b');
  });
  it('ignores lines that are not trace lines', () => {
    const text = [
      '+ trace_mmcid_fixup_task(t, users);',
      '[   27.872492] rcu: INFO: rcu_preempt detected stalls on CPUs/tasks:',
      'On Tue, Mar 10 2026 at 12:54, Peter Zijlstra wrote:',
      '[    9.1] watchdog: BUG: soft lockup - CPU#1 stuck for 26s! [virtme-ng-init:76]',
      'stress: 160/400 fork=160 vfork_exit=160 t=5.53s',
      '',
    ].join('\n');
    const t = parseTrace(text);
    expect(t.traceLines).toBe(0);
    expect(t.events).toEqual([]);
  });
  it('rejects mmcid lines with a field missing, and wrong value kinds', () => {
    const t = parseTrace([
      'virtme-n-1 3..... 1116017us : mmcid_fixup_task: pid=73 cid=00000003 active=0 ...',
      'x-1 [000] 1.0: mmcid_task_update: pid=7 cid=zz mm=00000000deadbeef',
      'x-1 [000] 1.0: mmcid_cpu_update: cpu=1 cid=00000002',
      'x-1 [000] 1.0: mmcid_user_del: pid=7 users=0 mm=00000000deadbeef',
    ].join('\n'));
    expect(t.traceLines).toBe(4);
    expect(t.rejected).toBe(3);
    expect(t.events.map((e) => e.kind)).toEqual(['user_del']);
  });
  it('reads the #P:N header', () => {
    expect(parseTrace('# entries-in-buffer/entries-written: 17095/17095   #P:4\n').cpus).toBe(4);
  });
});

describe('real traces', () => {
  it('reads the tracefs lines of a real 6.12 stress run (kprobe events, no mmcid)', () => {
    const t = parseTrace(readFileSync(join(CORPUS, 'qemu-6.12/stress-trace.log'), 'utf8'));
    expect(t.traceLines).toBe(77);
    expect(t.events.filter((e) => e.kind === 'fork')).toHaveLength(4);
    expect(t.maxCpu).toBe(3);
    const r = analyzeText(readFileSync(join(CORPUS, 'qemu-6.12/stress-trace.log'), 'utf8'));
    expect(r.mmcidEvents).toBe(0);
    expect(r.anomalies).toEqual([]);
  });
  it('finds no mmcid events in 560 syzkaller console logs and never throws', () => {
    const dir = join(CORPUS, 'syzkaller-reports');
    let mmcid = 0;
    for (const f of readdirSync(dir)) {
      const t = parseTrace(readFileSync(join(dir, f), 'latin1'));
      mmcid += t.events.filter((e) => !['switch', 'fork', 'exec', 'exit'].includes(e.kind)).length;
    }
    expect(mmcid).toBe(0);
  });
});

/** Deterministic bytes (xorshift32). */
function bytes(n: number, seed: number): Buffer {
  const b = Buffer.alloc(n);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    x ^= x << 13; x >>>= 0; x ^= x >>> 17; x ^= x << 5; x >>>= 0;
    b[i] = x & 0xff;
  }
  return b;
}

describe('robustness', () => {
  it('never throws on random bytes, in either decoding', () => {
    for (let seed = 1; seed <= 40; seed++) {
      const b = bytes(20_000, seed);
      expect(() => analyzeText(b.toString('utf8'))).not.toThrow();
      expect(() => analyzeText(b.toString('latin1'))).not.toThrow();
    }
  });
  it('never throws on shuffled fragments of real trace lines', () => {
    const seed = readFileSync(new URL('../../../shared/seeds/000_470b5232869457b7.txt', import.meta.url), 'utf8');
    const parts = seed.split(/(\s+|=|:)/);
    const rnd = bytes(200_000, 7);
    let out = '';
    for (let i = 0; i < 100_000; i++) out += parts[(rnd.readUInt16LE(i * 2 % (rnd.length - 2))) % parts.length];
    expect(() => analyzeText(out)).not.toThrow();
  });
  it('stays linear on long pathological lines', () => {
    const evil = 'a-1 '.repeat(50_000) + ': x: y\n' + ('a-1 [0] '.repeat(300) + '1.0: ' ).repeat(3) + '\n';
    const line = 'virtme-n-1 3d..1. 1115937us : mmcid_user_add: pid=72 users=3 mm=000000002b3f8459\n';
    const time = (s: string) => { const t0 = performance.now(); parseTrace(s); return performance.now() - t0; };
    expect(time(evil.repeat(20))).toBeLessThan(2000);
    time(line.repeat(20_000)); // warm up
    const small = time(line.repeat(50_000));
    const large = time(line.repeat(200_000));
    expect(large).toBeLessThan(small * 4 * 3 + 50);
  });
});

describe('extractFtraceDump', () => {
  const console = [
    '[   10.000000] watchdog: BUG: soft lockup - CPU#1 stuck for 26s! [stress:76]',
    '[   10.100000][    C1] Dumping ftrace buffer:',
    '[   10.100001][    C1] ---------------------------------',
    '[   10.100002][    C1]   stress-76        1d..1. 9123456us : mmcid_getcid: mm=00000000deadbeef cid=ffffffff',
    '[   10.100003][    C1] CPU:0 [LOST 12 EVENTS]',
    '[   10.100004][    C1]   stress-77        0d..1. 9123460us : mmcid_cpu_update: cpu=0 cid=00000001 mm=00000000deadbeef',
    '[   10.100005][    C1] ---------------------------------',
    '[   10.100006] Kernel panic - not syncing: softlockup: hung tasks',
  ].join('\n');
  it('cuts the dump out of a console log', () => {
    const d = extractFtraceDump(console)!;
    expect(d.split('\n').filter(Boolean)).toHaveLength(3);
    expect(parseTrace(d).events.map((e) => e.kind)).toEqual(['getcid', 'cpu_update']);
    expect(d).not.toContain('Kernel panic');
  });
  it('keeps a dump cut short by the end of the log, and joins several dumps', () => {
    const cut = console.split('\n').slice(0, 4).join('\n');
    expect(parseTrace(extractFtraceDump(cut)!).events).toHaveLength(1);
    const two = console + '\n' + console.replace('cid=ffffffff', 'cid=00000002');
    expect(parseTrace(extractFtraceDump(two)!).events).toHaveLength(4);
  });
  it('on real logs: "" for empty dumps, the dumped lines otherwise, null without a dump', () => {
    const dir = join(CORPUS, 'syzkaller-reports');
    let empty = 0;
    let none = 0;
    for (const f of readdirSync(dir)) {
      const text = readFileSync(join(dir, f), 'latin1');
      const d = extractFtraceDump(text);
      if (!text.includes('Dumping ftrace buffer:')) { expect(d).toBeNull(); none++; }
      else if (/Dumping ftrace buffer:\n\S*\s*\(ftrace buffer empty\)/.test(text.replace(/\[\s*\d+\.\d+\](\[\s*[TC]\d+\])?/g, ''))) {
        expect(d).toBe('');
        empty++;
      }
    }
    expect(empty).toBeGreaterThan(50);
    expect(none).toBeGreaterThan(400);
    // syzkaller report 350: a real dump of 35 latency-format lines, cut short by the end of the log
    const d = extractFtraceDump(readFileSync(join(dir, '350'), 'latin1'))!;
    const t = parseTrace(d);
    expect(t.traceLines).toBe(35);
    expect(t.maxCpu).toBe(2);
  });
});
