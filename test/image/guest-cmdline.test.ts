import { describe, it, expect } from 'vitest';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { execa } from 'execa';
import { guestCmdline } from '../../src/image/guest-cmdline.ts';
import { guestDir } from '../../src/util/paths.ts';

describe('guestCmdline', () => {
  it('turns run parameters into krepro.* items', () => {
    expect(
      guestCmdline({
        durationSec: 60,
        threads: 8,
        port: 1024,
        selfTest: null,
        traceEvents: ['mmcid:*', 'sched:sched_switch'],
        traceBufferKb: 4096,
      }),
    ).toEqual([
      'krepro.duration=60',
      'krepro.threads=8',
      'krepro.port=1024',
      'krepro.trace=mmcid:*,sched:sched_switch',
      'krepro.tracebuf=4096',
      'krepro.oopsbuf=16',
    ]);
    // the panic's dump: a small instance by default, the whole buffer on 0, nothing without tracing
    expect(guestCmdline({ traceEvents: ['mmcid:*'], oopsBufferKb: 0 })).toEqual(['krepro.trace=mmcid:*', 'krepro.oopsbuf=0']);
    expect(guestCmdline({ traceEvents: ['mmcid:*'], oopsBufferKb: 64 })).toEqual(['krepro.trace=mmcid:*', 'krepro.oopsbuf=64']);
    expect(guestCmdline({ oopsBufferKb: 64 })).toEqual([]);
    expect(guestCmdline({ durationSec: 30, selfTest: 'rcu-stall', vsock: false })).toEqual([
      'krepro.duration=30',
      'krepro.vsock=0',
      'krepro.selftest=rcu-stall',
    ]);
    expect(guestCmdline({ traceEvents: [], threads: null })).toEqual([]);
  });

  it('rejects what the guest could not parse', () => {
    expect(() => guestCmdline({ durationSec: 0 })).toThrow(/--duration/);
    expect(() => guestCmdline({ threads: 2.5 })).toThrow(/--threads/);
    expect(() => guestCmdline({ traceEvents: ['sched:sched_switch extra'] })).toThrow(/bad trace event/);
    expect(() => guestCmdline({ traceEvents: ['a,b'] })).toThrow(/bad trace event/);
    expect(() => guestCmdline({ selfTest: 'panic' as never })).toThrow(/unknown self-test/);
    expect(() => guestCmdline({ traceEvents: ['mmcid:*'], oopsBufferKb: 1.5 })).toThrow(/--oops-buffer/);
  });
});

describe('guest/init', () => {
  it('is valid busybox sh and reads every parameter guestCmdline can produce', async () => {
    const init = join(guestDir(), 'init');
    const r = await execa('/bin/busybox', ['sh', '-n', init], { reject: false });
    expect(r.exitCode, r.stderr).toBe(0);
    const text = await readFile(init, 'utf8');
    const items = guestCmdline({
      durationSec: 1, threads: 1, port: 1, vsock: false, selfTest: 'hung-task',
      traceEvents: ['x:y'], traceBufferKb: 1,
    });
    for (const item of items) {
      const key = item.slice(0, item.indexOf('=') + 1);
      expect(text, key).toContain(`\t${key}*)`);
    }
    // the self-test kinds it maps to test_lockup parameters
    for (const kind of ['soft-lockup', 'rcu-stall', 'hung-task']) expect(text).toContain(`\t${kind}) params=`);
    expect(text.split('\n').find((l) => l.startsWith('echo'))).toBe('echo "krepro-init: started"');
  });
});
