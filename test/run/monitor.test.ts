import { describe, it, expect } from 'vitest';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ConsoleMonitor, parseCounters } from '../../src/run/monitor.ts';
import { PROJECT_ROOT } from '../../src/util/paths.ts';

const corpus = (f: string) => join(PROJECT_ROOT, '..', 'shared', 'corpus', 'qemu-6.12', f);

async function feed(file: string) {
  const text = await readFile(corpus(file), 'utf8');
  const m = new ConsoleMonitor(0);
  let t = 0;
  for (const line of text.split('\n')) m.push(line.replace(/\r$/, ''), (t += 10));
  return m.state;
}

describe('console monitor on real 6.12 consoles', () => {
  it.each([
    ['softlockup.log', 'soft-lockup'],
    ['rcustall.log', 'rcu-stall'],
    ['hungtask.log', 'hung-task'],
    ['injected-cid-leak-stall.log', 'rcu-stall'],
  ])('%s: first detection is %s', async (file, kind) => {
    const s = await feed(file);
    expect(s.firstDetection?.kind).toBe(kind);
  });

  it('the silent injected-bug console has no detection (only silence reveals it)', async () => {
    const s = await feed('injected-cid-leak-silent.log');
    expect(s.firstDetection).toBeNull();
  });

  it('heartbeats are counted and never mistaken for kernel reports', () => {
    const m = new ConsoleMonitor(0);
    m.push('krepro-init: started', 1);
    m.push('krepro-hb t=1 spawns=10 forks=2 vforks=3 threads=8 accepts=1 connects=1', 2);
    m.push('krepro-hb t=2 spawns=20 forks=4 vforks=6 threads=16 accepts=2 connects=2 BUG: soft lockup', 3);
    m.push('krepro-done rc=0 t=2.0 spawns=21 forks=4 vforks=6 threads=16 accepts=2 connects=2 errors=0', 4);
    expect(m.state.firstDetection).toBeNull();
    expect(m.state.counters).toMatchObject({ spawns: 21, vforks: 6, accepts: 2, heartbeats: 2 });
    expect(m.state.initAtMs).toBe(1);
    expect(m.state.doneAtMs).toBe(4);
    expect(m.silentFor(100)).toBe(96);
  });

  it('parseCounters reads key=value pairs after the marker', () => {
    expect(parseCounters('[  3.1] krepro-hb t=3 spawns=5 accepts=0')).toMatchObject({ t: 3, spawns: 5, accepts: 0 });
    expect(parseCounters('nothing here')).toBeNull();
  });
});

describe('console monitor on a flooded console (kernel lines cut into ours)', () => {
  it('init is seen from any of its lines when the first one was cut', () => {
    const m = new ConsoleMonitor(0);
    m.push('krepro-in[   5.101] sched_switch: prev_comm=swapper/0 prev_pid=0 ==> next_comm=sh next_pid=1', 1);
    m.push('it: started', 2);
    expect(m.state.initAtMs).toBeNull();
    m.push('krepro-init: uptime=10.75 kernel=6.12.117+ cpus=4[   10.838117] sched_wakeup: comm=rcu_sched pid=15 prio=120 target_cpu=003', 3);
    expect(m.state.initAtMs).toBe(3);
  });

  it('a heartbeat cut by a sched_wakeup keeps its counters and drops the kernel fields', () => {
    const line = 'krepro-hb t=2 spawns=2 forks=4 vforks=4 threads=11 accepts=2 connects=2[   13.590359] sched_wakeup: comm=ksoftirqd/2 pid=27 prio=120 target_cpu=002';
    const c = parseCounters(line)!;
    expect(c).toEqual({ t: 2, spawns: 2, forks: 4, vforks: 4, threads: 11, accepts: 2 });
    expect(Object.keys(parseCounters('krepro-hb t=12 spawns=25 accepts=1[   23.135933] sched_switch: prev_pid=172 pid=9')!)).toEqual(['t', 'spawns']);
  });

  it('a kernel report that starts inside a heartbeat line is still detected', () => {
    const m = new ConsoleMonitor(0);
    m.push('krepro-init: started', 1);
    const d = m.push('krepro-hb t=7 spawns=70 forks=7[   31.000000] watchdog: BUG: soft lockup - CPU#1 stuck for 22s! [krepro-workload:99]', 2);
    expect(d?.kind).toBe('soft-lockup');
    expect(m.state.firstDetection?.kind).toBe('soft-lockup');
    expect(m.state.counters).toMatchObject({ t: 7, spawns: 70 });
    expect(m.state.counters).not.toHaveProperty('forks', 7);
  });

  it('the workload exit line of init stands in for a cut done marker', () => {
    const m = new ConsoleMonitor(0);
    m.push('krepro-init: started', 1);
    m.push('krepro-do[   27.1] sched_switch: prev_comm=a prev_pid=1 ==> next_comm=b next_pid=2', 2);
    m.push('krepro-init: workload: exit status 1 at uptime 27.15', 3);
    expect(m.state.doneAtMs).toBeNull();
    m.push('krepro-init: workload: exit status 0 at uptime 27.15', 4);
    expect(m.state.doneAtMs).toBe(4);
  });
});
