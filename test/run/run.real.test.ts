import { describe, it, expect, beforeAll } from 'vitest';
import { mkdtemp, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { runKernel } from '../../src/run/run.ts';
import { cachedBuild, INJECT_PATCH } from '../helpers/real.ts';
import type { BuildResult } from '../../src/build/types.ts';
import { PROJECT_ROOT } from '../../src/util/paths.ts';

// Real boots of the default 6.12 kernel under QEMU (TCG here, KVM where usable).
let kernel: BuildResult;
let results: string;

beforeAll(async () => {
  kernel = await cachedBuild({});
  results = await mkdtemp(join(tmpdir(), 'krepro-run-'));
});

const qemuOf = async (dir: string) => {
  const r = await execa('pgrep', ['-f', `krepro-${dir.split('/').pop()}`], { reject: false });
  return r.stdout.trim();
};

describe('krepro run on the default kernel', () => {
  it('the workload runs to completion on 4 vCPUs: not reproduced, with its counters', async () => {
    const rec = await runKernel({ prebuilt: kernel, cpus: 4, durationSec: 20, resultsDir: results });
    console.log(JSON.stringify({ verdict: rec.verdict, timings: rec.timings, workload: rec.workload, error: rec.error }));
    expect(rec.verdict).toBe('not-reproduced');
    expect(rec.workload!.heartbeats).toBeGreaterThan(5);
    expect(rec.workload!.accepts).toBeGreaterThan(0);
    expect(rec.workload!.spawns).toBeGreaterThan(0);
    expect(rec.workload!.vforks).toBeGreaterThan(0);
    expect(rec.timings.bootToInitMs).toBeGreaterThan(0);
    const runJson = JSON.parse(await readFile(join(rec.dir, 'run.json'), 'utf8'));
    expect(runJson.verdict).toBe('not-reproduced');
    expect(runJson.qemu.argv).toContain('-smp');
    // The default boot path is pvh (qboot starting the build's vmlinux), and every run of this file boots that way.
    expect(runJson.qemu.boot).toBe('pvh');
    expect(runJson.qemu.bootReason).toBeUndefined();
    expect(runJson.qemu.argv[runJson.qemu.argv.indexOf('-bios') + 1]).toMatch(/qboot\.rom$/);
    expect(runJson.qemu.argv[runJson.qemu.argv.indexOf('-kernel') + 1]).toBe(kernel.vmlinux);
    const console_ = await readFile(join(rec.dir, 'console.log'), 'utf8');
    expect(console_).toContain('krepro-init: started');
    expect(await qemuOf(rec.dir)).toBe('');
  });

  it.each([
    ['soft-lockup', /^BUG: soft lockup/],
    ['rcu-stall', /^INFO: rcu detected stall/],
    ['hung-task', /^INFO: task hung/],
    ['silent-hang', /^INFO: silent hang in /],
  ] as const)('--self-test %s ends reproduced with that kind of title', async (kind, title) => {
    const rec = await runKernel({ prebuilt: kernel, cpus: 4, durationSec: 60, selfTest: kind, hangTimeoutSec: 20, resultsDir: results });
    console.log(kind, JSON.stringify({ verdict: rec.verdict, title: rec.title, detection: rec.detection, timings: rec.timings }));
    expect(rec.verdict).toBe('reproduced');
    expect(rec.title).toMatch(title);
    if (kind === 'silent-hang') {
      // Found by silence, then QMP: every vCPU's RIP symbolized with System.map.
      expect(rec.vcpus).toHaveLength(4);
      expect(rec.vcpus!.every((v) => v.symbol)).toBe(true);
    }
  });
});

describe('the injected CID-leak kernel', () => {
  let leaky: BuildResult;
  beforeAll(async () => {
    leaky = await cachedBuild({ patches: [INJECT_PATCH] });
  });

  it('reproduces at 100% leak probability, by a stall report or a silent hang', async () => {
    const rec = await runKernel({ prebuilt: leaky, cpus: 4, durationSec: 60, append: 'mmcid_leak_pct=100', resultsDir: results });
    console.log('injected 100%', JSON.stringify({ verdict: rec.verdict, title: rec.title, detection: rec.detection, timings: rec.timings, vcpus: rec.vcpus }));
    expect(rec.verdict).toBe('reproduced');
    expect(rec.type).toBe('HANG');
  });

  it('does not reproduce at 0%', async () => {
    const rec = await runKernel({ prebuilt: leaky, cpus: 4, durationSec: 20, append: 'mmcid_leak_pct=0', resultsDir: results });
    console.log('injected 0%', JSON.stringify({ verdict: rec.verdict, title: rec.title, workload: rec.workload }));
    expect(rec.verdict).toBe('not-reproduced');
  });
});

describe('killing krepro mid-run', () => {
  it.each(['SIGINT', 'SIGTERM', 'SIGKILL'] as const)('%s leaves no QEMU behind and a run dir marked', async (sig) => {
    const dir = await mkdtemp(join(tmpdir(), `krepro-kill-${sig}-`));
    const child = execa('node', [join(PROJECT_ROOT, 'bin/krepro.mjs'), 'run', '--kernel', kernel.bzImage, '--duration', '60', '--results', dir, '--json'], { reject: false, cwd: PROJECT_ROOT });
    // Wait until the guest is up (console has the init banner).
    const deadline = Date.now() + 120_000;
    let runDir = '';
    while (Date.now() < deadline) {
      const ls = await execa('ls', [dir]);
      runDir = ls.stdout.split('\n').find((l) => l.startsWith('run-')) ?? '';
      const c = runDir ? await readFile(join(dir, runDir, 'console.log'), 'utf8').catch(() => '') : '';
      if (c.includes('krepro-hb')) break;
      await new Promise((r) => setTimeout(r, 500));
    }
    expect(runDir).not.toBe('');
    expect(await qemuOf(runDir)).not.toBe('');
    child.kill(sig);
    const r = await child;
    await new Promise((res) => setTimeout(res, 1500));
    expect(await qemuOf(runDir)).toBe('');
    const rec = JSON.parse(await readFile(join(dir, runDir, 'run.json'), 'utf8'));
    expect(rec.verdict).toBe('interrupted');
    if (sig !== 'SIGKILL') expect(r.exitCode).toBe(255);
    const c = await readFile(join(dir, runDir, 'console.log'), 'utf8');
    expect(c).toContain('krepro-hb');
  });
});
