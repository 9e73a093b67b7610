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
