import { describe, it, expect, beforeAll } from 'vitest';
import { mkdtemp, mkdir, readFile, writeFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { findVng, planVng, vngFact } from '../../src/vm/vng.ts';
import { startVng } from '../../src/vm/vng-process.ts';
import { runKernel, resolveRunOptions } from '../../src/run/run.ts';
import { ConsoleMonitor } from '../../src/run/monitor.ts';
import { splitArtifacts } from '../../src/run/artifacts-channel.ts';
import { cachedBuild } from '../helpers/real.ts';
import type { BuildResult } from '../../src/build/types.ts';
import { PROJECT_ROOT } from '../../src/util/paths.ts';

// Real boots through virtme-ng (`vng`) of the default kernel (its profile carries the vng fragment).
// scripts/setup installs Debian's virtme-ng (a newer suite's package, through
// the private apt route) and udev: a missing or unusable vng is a failure
// here, never a skip.
const vng = await findVng();
const fact = await vngFact();

// vng's own boot (its init, udev coldplug and settle, 9p) takes 45-110 s
// under TCG on this 2-core host, against 120 s for krepro's default
// --boot-timeout: the runs here give it 300 s.
const VNG_BOOT_TIMEOUT = 300;

const stillRunning = async (needle: string) => {
  const r = await execa('pgrep', ['-f', needle], { reject: false });
  return r.stdout.trim();
};

describe('vng is installed and usable', () => {
  it('vng found, runs, udev present (scripts/setup installs both)', () => {
    expect(vng, 'vng not found: run scripts/setup').not.toBeNull();
    expect(fact.ok, `${fact.value} ${fact.hint ?? ''}`).toBe(true);
    expect(fact.value).toMatch(/^virtme-ng \d+\.\d+/);
  });
});

describe('vng backend on a real kernel', () => {
  let kernel: BuildResult;
  let results: string;
  beforeAll(async () => {
    console.log(`vng: ${fact.value}`);
    kernel = await cachedBuild({});
    results = await mkdtemp(join(tmpdir(), 'krepro-vng-'));
  });

  it('boots, runs the workload, and our console monitor sees init, heartbeats, the kernel console and the end', async () => {
    const runDir = join(results, 'direct');
    await mkdir(runDir, { recursive: true });
    const sockDir = await mkdtemp(join(tmpdir(), 'krepro-'));
    const o = resolveRunOptions({ backend: 'vng', cpus: 2, durationSec: 10, accel: 'auto' });
    const configText = await readFile(kernel.config, 'utf8');
    const plan = await planVng(o, { bzImage: kernel.bzImage, configText }, runDir, sockDir, 'tcg');
    await writeFile(join(runDir, 'artifacts.raw'), '');
    const t0 = Date.now();
    const mon = new ConsoleMonitor(t0);
    let kernelLines = 0;
    const q = startVng(plan.argv, join(runDir, 'console.log'), (l) => {
      if (/^\[\s*\d+\.\d+\]/.test(l)) kernelLines++;
      mon.push(l, Date.now());
    });
    const e = await q.exited;
    const s = mon.state;
    console.log(JSON.stringify({ exit: e.code, totalMs: Date.now() - t0, bootToInitMs: s.initAtMs && s.initAtMs - t0, counters: s.counters, kernelLines, detection: s.firstDetection }));
    expect(s.initAtMs).not.toBeNull();
    expect(s.counters!.heartbeats).toBeGreaterThanOrEqual(5);
    expect(s.counters!.spawns).toBeGreaterThan(0);
    expect(s.counters!.accepts).toBeGreaterThan(0);
    expect(s.doneAtMs).not.toBeNull();
    expect(s.firstDetection).toBeNull();
    expect(kernelLines).toBeGreaterThan(20);            // the kernel console, not just the script's output
    expect(e.code).toBe(0);                              // the script's status through vng's exit-code port
    const files = splitArtifacts(await readFile(join(runDir, 'artifacts.raw'), 'utf8'));
    expect(files['workload.txt']).toMatch(/^krepro-done rc=0/m);
    expect(files['guest.txt']).toContain('backend=vng');
    expect(await stillRunning(sockDir)).toBe('');
    await rm(sockDir, { recursive: true, force: true });
  });

  it('--self-test soft-lockup through vng ends reproduced with a soft lockup title', async () => {
    const rec = await runKernel({ prebuilt: kernel, backend: 'vng', cpus: 2, durationSec: 60, selfTest: 'soft-lockup', bootTimeoutSec: VNG_BOOT_TIMEOUT, resultsDir: results });
    console.log(JSON.stringify({ verdict: rec.verdict, title: rec.title, detection: rec.detection, timings: rec.timings }));
    // krepro run's whole path through vng: the vng command in run.json, its init seen, the report
    expect(rec.qemu.argv[0]).toBe(vng);
    expect(rec.qemu.argv).toContain('--cpus');
    expect(rec.timings.bootToInitMs).toBeGreaterThan(0);
    expect(rec.verdict).toBe('reproduced');
    expect(rec.title).toMatch(/^BUG: soft lockup/);
    expect(await stillRunning(rec.dir)).toBe('');
  });

  it('--self-test silent-hang through vng: every CPU spinning with interrupts off, found by QMP', async () => {
    const rec = await runKernel({ prebuilt: kernel, backend: 'vng', cpus: 2, durationSec: 60, selfTest: 'silent-hang', hangTimeoutSec: 20, bootTimeoutSec: VNG_BOOT_TIMEOUT, resultsDir: results });
    console.log(JSON.stringify({ verdict: rec.verdict, title: rec.title, detection: rec.detection, timings: rec.timings, vcpus: rec.vcpus }));
    expect(rec.verdict).toBe('reproduced');
    expect(rec.detection!.kind).toBe('silent-hang');
    expect(rec.vcpus!.length).toBe(2);
  });

  it('vng itself running `true`: the time vng needs before any guest work, beside our boot-to-init', async () => {
    const sockDir = await mkdtemp(join(tmpdir(), 'krepro-'));
    const o = resolveRunOptions({ backend: 'vng', cpus: 2, durationSec: 10, accel: 'tcg' });
    const runDir = join(results, 'true');
    await mkdir(runDir, { recursive: true });
    const plan = await planVng(o, { bzImage: kernel.bzImage, configText: await readFile(kernel.config, 'utf8') }, runDir, sockDir, 'tcg');
    const argv = [...plan.argv];
    argv[argv.indexOf('--exec') + 1] = 'true';
    const t0 = Date.now();
    const q = startVng(argv, join(runDir, 'console.log'), () => {});
    const e = await q.exited;
    const trueMs = Date.now() - t0;
    console.log(JSON.stringify({ vngTrueMs: trueMs, exit: e.code }));
    expect(e.code).toBe(0);
    await rm(sockDir, { recursive: true, force: true });
  });

  it('SIGKILL of the controller leaves no vng and no QEMU behind', async () => {
    const runDir = join(results, 'killed');
    await mkdir(runDir, { recursive: true });
    const sockDir = await mkdtemp(join(tmpdir(), 'krepro-'));
    const o = resolveRunOptions({ backend: 'vng', cpus: 2, durationSec: 120 });
    const plan = await planVng(o, { bzImage: kernel.bzImage, configText: await readFile(kernel.config, 'utf8') }, runDir, sockDir, 'tcg');
    await writeFile(join(sockDir, 'plan.json'), JSON.stringify(plan));
    const worker = execa('node', [join(PROJECT_ROOT, 'bin/run-ts.mjs'), join(PROJECT_ROOT, 'test/vm/vng-kill-worker.ts'), join(sockDir, 'plan.json'), join(runDir, 'console.log')], { reject: false, buffer: false });
    await new Promise<void>((res, rej) => {
      const t = setTimeout(() => rej(new Error('guest did not reach init in 180 s')), 180_000);
      worker.stdout!.on('data', (d: Buffer) => {
        if (d.toString().includes('init ')) {
          clearTimeout(t);
          res();
        }
      });
    });
    expect(await stillRunning(sockDir)).not.toBe('');   // QEMU (and vng) are up, found by the QMP socket path
    worker.kill('SIGKILL');
    await worker;
    let left = 'x';
    for (let i = 0; i < 20 && left; i++) {
      await new Promise((r) => setTimeout(r, 250));
      left = await stillRunning(sockDir);
    }
    expect(left).toBe('');
    await rm(sockDir, { recursive: true, force: true });
  });
});
