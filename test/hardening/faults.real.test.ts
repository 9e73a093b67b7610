import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { mkdtemp, writeFile, chmod, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { runKernel } from '../../src/run/run.ts';
import { cachedBuild } from '../helpers/real.ts';
import type { BuildResult } from '../../src/build/types.ts';

/**
 * The fault half of the hardening matrix, on the real kernel: the host or
 * QEMU misbehaves, and krepro must answer infra-error or the right verdict,
 * never blame the kernel wrongly. Prints a table: case, expected, got.
 */
const table: { case: string; expected: string; got: string }[] = [];
let kernel: BuildResult;
let results: string;

beforeAll(async () => {
  kernel = await cachedBuild({});
  results = await mkdtemp(join(tmpdir(), 'krepro-faults-'));
});
afterAll(() => {
  const w = Math.max(4, ...table.map((r) => r.case.length));
  console.log(['case'.padEnd(w) + '  expected                 got', ...table.map((r) => `${r.case.padEnd(w)}  ${r.expected.padEnd(24)} ${r.got}`)].join('\n'));
});

describe('faults', () => {
  it('QEMU failing to start is an infra-error (after retries), not a verdict', async () => {
    const fake = join(results, 'qemu-broken');
    await writeFile(fake, '#!/bin/sh\nif [ "$1" = --version ]; then echo "QEMU emulator version 7.2.0"; exit 0; fi\necho "qemu-system-x86_64: -accel tcg: could not initialize" >&2\nexit 1\n');
    await chmod(fake, 0o755);
    process.env.KREPRO_QEMU = fake;
    try {
      const rec = await runKernel({ prebuilt: kernel, durationSec: 5, resultsDir: results });
      table.push({ case: 'QEMU fails to start', expected: 'infra-error', got: `${rec.verdict}: ${rec.error}` });
      expect(rec.verdict).toBe('infra-error');
      expect(rec.error).toMatch(/could not initialize/);
    } finally {
      delete process.env.KREPRO_QEMU;
    }
  });

  it('QEMU killed from outside mid-workload is an infra-error', async () => {
    const p = runKernel({ prebuilt: kernel, durationSec: 60, resultsDir: results, onLine: (l) => {
      if (l.includes('krepro-hb t=3 ')) void execa('pkill', ['-KILL', '-f', 'qemu-system-x86_64 -name krepro-'], { reject: false });
    } });
    const rec = await p;
    table.push({ case: 'QEMU killed from outside', expected: 'infra-error', got: `${rec.verdict}: ${rec.error ?? ''}` });
    expect(rec.verdict).toBe('infra-error');
    const c = await readFile(join(rec.dir, 'console.log'), 'utf8');
    expect(c).toContain('krepro-hb t=3');
  });

  it('a guest that prints nothing is a boot failure, never reproduced', async () => {
    // Kernel messages to the second port, and an init that sleeps: the
    // console stays empty forever.
    const rec = await runKernel({ prebuilt: kernel, durationSec: 20, bootTimeoutSec: 25, append: 'console=ttyS1 rdinit=/bin/sleep -- 3600', resultsDir: results });
    table.push({ case: 'guest prints nothing', expected: 'boot-failed', got: `${rec.verdict}: ${rec.error ?? ''}` });
    expect(rec.verdict).toBe('boot-failed');
  });

  // The flood comes from userspace through /dev/kmsg: kernel-formatted lines
  // at the UART's limit. (tp_printk of sched_switch floods too, but printk
  // from inside the scheduler can deadlock the kernel while it boots, seen
  // here and in CI: that run is rightly boot-failed, not a flood test.)
  it('a flooded console (two /dev/kmsg writers flat out) never gives a wrong reproduction', async () => {
    const before = process.memoryUsage().rss;
    const rec = await runKernel({ prebuilt: kernel, durationSec: 15, signature: 'mm_cid', append: 'printk.devkmsg=on krepro.flood=2', resultsDir: results });
    const text = await readFile(join(rec.dir, 'console.log'), 'utf8');
    const floodLines = text.split('\n').filter((l) => l.includes('krepro flood ')).length;
    const rssMb = (process.memoryUsage().rss - before) / 2 ** 20;
    table.push({ case: 'console flood', expected: 'not-reproduced|infra', got: `${rec.verdict} (${(text.length / 2 ** 20).toFixed(1)} MB console, ${floodLines} flood lines, +${rssMb.toFixed(0)} MB RSS)${rec.unrelated.length ? ' unrelated: ' + rec.unrelated[0].title : ''}` });
    expect(['not-reproduced', 'infra-error']).toContain(rec.verdict);
    expect(floodLines).toBeGreaterThan(2000);
    // the workload ran through the flood and its counters are its own
    expect(rec.workload?.heartbeats).toBeGreaterThan(5);
    expect(Object.keys(rec.workload ?? {}).sort()).toEqual(expect.arrayContaining(['spawns', 'forks', 'vforks', 'threads', 'accepts']));
    expect(rec.workload).not.toHaveProperty('pid');
  });
});
