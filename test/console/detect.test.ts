import { describe, it, expect } from 'vitest';
import { LineDetector } from '../../src/console/detect.ts';
import { classify } from '../../src/console/classify.ts';

const det = new LineDetector();
const kind = (l: string) => det.push(l)?.kind ?? null;

describe('LineDetector', () => {
  it.each([
    ['[   18.449791] watchdog: BUG: soft lockup - CPU#0 stuck for 13s! [modload:78]', 'soft-lockup'],
    ['[  444.457807][    C0] rcu: INFO: rcu_sched self-detected stall on CPU', 'rcu-stall'],
    ['[  146.893110][    C1] rcu: INFO: rcu_preempt detected stalls on CPUs/tasks:', 'rcu-stall'],
    ['[   20.877046] INFO: task modload:74 blocked for more than 10 seconds.', 'hung-task'],
    ['[   20.877046][  T31] INFO: task syz-executor.3:5172 blocked for more than 143 seconds.', 'hung-task'],
    ['[   12.1] WARNING: CPU: 1 PID: 7 at kernel/sched/core.c:1234 sched_mm_cid_fork+0x1a/0x40', 'warning'],
    ['[    5.000000] ------------[ cut here ]------------', null],
    ['[   23.771620][  T298] kernel BUG at rust/helpers/bug.c:7!', 'bug'],
    ['[   44.017393] Kernel panic - not syncing: NMI: Not continuing', 'silent-hang'],
    ['[   12.0] BUG: KASAN: use-after-free in foo+0x1/0x2', 'bug'],
    ['[   12.0] general protection fault, probably for non-canonical address 0xdffffc0000000000: 0000 [#1]', 'other-crash'],
    ['[   12.0] BUG: kernel NULL pointer dereference, address: 0000000000000000', 'other-crash'],
  ] as const)('%s -> %s', (line, want) => {
    expect(kind(line)).toBe(want);
  });

  it('handles \\r, caller ids and timestamps like the classifier', () => {
    expect(kind('[   18.449791][    C0] watchdog: BUG: soft lockup - CPU#0 stuck for 13s! [x:1]\r')).toBe('soft-lockup');
    expect(kind('watchdog: BUG: soft lockup - CPU#0 stuck for 13s! [x:1]\r\n')).toBe('soft-lockup');
  });

  it('ignores lines that only look like reports', () => {
    // krepro's own workload output, whatever it quotes
    expect(kind('krepro-hb 17 BUG: soft lockup in foo')).toBeNull();
    expect(kind('krepro-hb 3 WARNING: nothing')).toBeNull();
    expect(kind('krepro-hb INFO: task x:1 blocked for more than 5 seconds.')).toBeNull();
    // kernel lines that are not reports
    expect(kind('[    0.3] INFO: NMI handler (nmi_cpu_backtrace_handler) took too long to run: 19.953 msecs')).toBeNull();
    expect(kind('[    1.0] ODEBUG: object is on stack, but not annotated')).toBeNull();
    expect(kind('[    1.0] EXT4-fs (sda): WARNING: mounting fs with errors')).toBeNull();
    expect(kind('[    1.0] skbuff: skb_over_panic: text:ffffffff len:1')).toBeNull();
    expect(kind('')).toBeNull();
  });

  it('agrees with classify on where reports start', () => {
    const log = [
      '[    1.000000] Booting',
      'krepro-hb 1 BUG: soft lockup - CPU#0 stuck',
      '[    2.000000] WARNING: CPU: 0 PID: 1 at mm/foo.c:1 foo+0x1/0x2',
      '[    2.000001] RIP: 0010:foo+0x1/0x2',
      '[    2.000002] Call Trace:',
      '[    2.000003]  bar+0x1/0x2',
      '[    2.000004]  baz+0x1/0x2',
      '[    2.000005]  qux+0x1/0x2',
    ];
    const d = new LineDetector();
    const fired = log.flatMap((l, i) => (d.push(l) ? [i] : []));
    expect(fired).toEqual(classify(log.join('\n')).map((r) => r.startLine));
    expect(classify(log.join('\n'))[0]!.title).toBe('WARNING in foo');
  });
});
