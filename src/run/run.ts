import { mkdir, readFile, copyFile, writeFile, mkdtemp, rm, readdir, stat } from 'node:fs/promises';
import { join, resolve, basename } from 'node:path';
import { cpus, tmpdir } from 'node:os';
import { randomBytes } from 'node:crypto';
import { resolveRunOptions, type RunOptions } from './options.ts';
import type { RunRecord, Verdict } from './types.ts';
import type { BuildResult } from '../build/types.ts';
import type { CrashReport } from '../console/types.ts';
import { buildInitramfs } from '../image/initramfs.ts';
import { qemuVersion } from '../vm/qemu.ts';
import { launcherFor } from '../vm/launcher.ts';
import { allocateCid } from '../vm/cid.ts';
import { vhostVsockUsable, freeBytes } from '../host/facts.ts';
import { probeKvm, recordKvmFailure, type AccelChoice } from '../vm/kvm.ts';
import { classify } from '../console/classify.ts';
import { evidenceOf } from '../verdict/evidence.ts';
import { decide } from '../verdict/verdict.ts';
import { writeJsonAtomic, exists } from '../util/fs.ts';
import { cacheRoot } from '../util/paths.ts';
import { KreproError, usageError, envError } from '../util/errors.ts';
import { planRun, pickAccel, type RunPlan } from './plan.ts';
import { startWithFallback } from './start.ts';
import { acquireKernel } from './kernel.ts';
import { collectTrace } from './trace-file.ts';
import { watchBoot, realClock, type BootOutcome } from './watch.ts';
import { stopConfig } from './stop-policy.ts';
import { vcpuSymbolizers } from './vcpus.ts';
import { collectProvenance } from './provenance.ts';
import { RUN_DEFAULTS } from './options.ts';

/**
 * One run, end to end: kernel (kernel.ts) -> initramfs -> plan (plan.ts) ->
 * boot with retries and the KVM fallback (start.ts) -> watch (watch.ts, the
 * stop policy in stop-policy.ts) -> verdict -> trace (trace-file.ts) ->
 * run.json. The run's options and their defaults are options.ts.
 */
export { resolveRunOptions, RUN_DEFAULTS } from './options.ts';
export { planRun, withBackendConfig, type RunPlan } from './plan.ts';
export { startWithFallback, type StartAttempt } from './start.ts';

export function newRunId(now = new Date()): string {
  return `run-${now.toISOString().replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z')}-${randomBytes(3).toString('hex')}`;
}

/**
 * One run: kernel -> initramfs -> QEMU -> live detection -> verdict ->
 * run.json. Never throws for what happens to the guest: every outcome is a
 * verdict in run.json. Throws KreproError only for bad input found before
 * the run dir exists.
 */
export async function runKernel(input: Partial<RunOptions>): Promise<RunRecord> {
  const o = resolveRunOptions(input);
  const t0 = Date.now();
  // Problems with the input or the host are reported before a run dir exists.
  if (o.kernel && !(await exists(resolve(o.kernel)))) throw usageError(`--kernel ${o.kernel}: no such file; give a bzImage (e.g. from krepro build --json)`);
  const kvm = await probeKvm();
  const accelChoice = await pickAccel(o.accel, kvm);
  const runDir = resolve(o.runDir ?? join(o.resultsDir, newRunId()));
  const parent = resolve(runDir, '..');
  try {
    await mkdir(parent, { recursive: true });
    await writeFile(join(parent, `.krepro-write-test-${process.pid}`), '');
    await rm(join(parent, `.krepro-write-test-${process.pid}`));
  } catch (e) {
    throw envError(`results dir ${parent} is not writable (${(e as NodeJS.ErrnoException).code}): pass --results with a writable directory`);
  }
  const free = await freeBytes(parent);
  if (free !== null && free < 64 * 2 ** 20) throw envError(`only ${(free / 2 ** 20).toFixed(0)} MB free for results in ${parent}: free space or pass --results elsewhere`);
  await mkdir(runDir, { recursive: true });

  const rec: RunRecord = {
    schema: 'krepro.run/1',
    id: basename(runDir),
    dir: runDir,
    verdict: 'interrupted',
    title: null,
    type: null,
    report: null,
    unrelated: [],
    signature: o.signature ?? (o.title ? `title:${o.title}` : null),
    detection: null,
    kernel: { tree: null, commit: null, buildKey: null, patches: [], bzImage: o.kernel ?? '' },
    qemu: { argv: [], append: '', accel: accelChoice.accel, accelRequested: o.accel, accelReason: accelChoice.reason, cpus: o.cpus, memoryMb: o.memoryMb },
    host: { cores: cpus().length, kvm: kvm.usable, kvmReason: kvm.reason, vhostVsock: await vhostVsockUsable() },
    timings: { startedAt: new Date(t0).toISOString(), totalMs: 0 },
    workload: null,
    vcpus: null,
    selfTest: o.selfTest ?? null,
    durationSec: o.durationSec,
    files: [],
    error: 'run did not finish (killed, or still running)',
    ...(o.scenario ? { scenario: o.scenario } : {}),
  };
  // Written first, so a run killed at any point is clearly marked.
  await writeJsonAtomic(join(runDir, 'run.json'), rec);

  const finish = async (verdict: Verdict, error?: string): Promise<RunRecord> => {
    rec.verdict = verdict;
    if (error) rec.error = error;
    else delete rec.error;
    rec.timings.totalMs = Date.now() - t0;
    rec.files = (await listFiles(runDir)).filter((f) => f !== 'run.json');
    await writeJsonAtomic(join(runDir, 'run.json'), rec);
    return rec;
  };

  // 1. The kernel.
  const got = await acquireKernel(o, runDir);
  if (!got.ok) return finish(got.verdict, got.error);
  const { build, configText } = got;
  rec.kernel = got.kernel;
  if (got.buildMs !== undefined) rec.timings.buildMs = got.buildMs;
  rec.provenance = await collectProvenance(o, rec.kernel, build?.dir ?? null, RUN_DEFAULTS).catch(() => undefined);
  if (o.signal?.aborted) return finish('interrupted', 'interrupted before boot');

  // 2. The guest image.
  let initrd = '';
  if (o.backend !== 'vng') try {
    const img = await buildInitramfs({ modulesDir: build?.modules ?? null, kernelRelease: build?.kernelRelease, cacheDir: cacheRoot() });
    initrd = img.path;
  } catch (e) {
    return finish('infra-error', `guest image: ${(e as Error).message}`);
  }

  // 3. QEMU, with retries for host-side start failures only.
  if (!(await qemuVersion())) return finish('infra-error', 'qemu-system-x86_64 is missing: run scripts/setup (apt-get install qemu-system-x86)');
  const sockDir = await mkdtemp(join(tmpdir(), 'krepro-'));
  let cid: { cid: number; release: () => Promise<void> } | null = null;
  try {
    if (rec.host.vhostVsock) cid = await allocateCid(join(cacheRoot(), 'vsock-cids'));
    const plans = new Map<string, RunPlan>();
    const planFor = async (c: AccelChoice): Promise<RunPlan> => {
      let p = plans.get(c.accel);
      if (!p) {
        p = await planRun(o, { bzImage: rec.kernel.bzImage, configText }, initrd, runDir, sockDir, cid?.cid ?? null, c);
        plans.set(c.accel, p);
      }
      rec.qemu = { argv: p.argv, append: p.append, accel: p.accel, accelRequested: o.accel, accelReason: c.reason, cpus: o.cpus, memoryMb: o.memoryMb, ...(p.boot ? { boot: p.boot } : {}), ...(p.bootReason ? { bootReason: p.bootReason } : {}) };
      await writeJsonAtomic(join(runDir, 'run.json'), rec);
      return p;
    };
    await planFor(accelChoice);
    const { outcome, choice } = await startWithFallback(accelChoice, async (c) => bootOnce(o, await planFor(c), runDir, sockDir, build), {
      aborted: () => !!o.signal?.aborted,
      onKvmFailure: async (why) => {
        // This boot's later runs go straight to TCG; the KVM attempt's stderr is kept.
        await recordKvmFailure(why);
        await copyFile(join(runDir, 'qemu-stderr.txt'), join(runDir, 'qemu-stderr-kvm.txt')).catch(() => {});
        rec.host.kvm = false;
        rec.host.kvmReason = why;
      },
    });
    if (outcome?.accelFailure && choice.accel === 'kvm') return finish('infra-error', `QEMU could not use KVM (not retried): ${outcome.accelFailure}; --accel tcg or auto runs without KVM (krepro doctor)`);

    if (!outcome) return finish('interrupted');
    Object.assign(rec.timings, outcome.timings ?? {});
    rec.workload = outcome.counters ?? null;
    rec.vcpus = outcome.vcpus ?? null;
    if (outcome.hangCheck) rec.hangCheck = outcome.hangCheck;
    rec.detection = outcome.detection ?? null;
    if (outcome.startFailure) return finish('infra-error', `QEMU failed to start: ${outcome.startFailure}`);

    const consoleText = await readFile(join(runDir, 'console.log'), 'utf8').catch(() => '');
    const reports = safeClassify(consoleText);
    const d = decide({
      interrupted: !!o.signal?.aborted,
      qemuStarted: true,
      qemuExit: outcome.exit,
      initSeen: outcome.initSeen,
      workloadDone: outcome.workloadDone,
      reports,
      silentHang: outcome.silentHang,
      floodedBootBytes: outcome.floodedBootBytes ?? null,
      signature: o.signature ?? null,
      title: o.title ?? null,
    });
    rec.report = d.report;
    rec.title = d.report?.title ?? null;
    rec.type = d.report?.type ?? null;
    rec.unrelated = d.unrelated;
    rec.analysis = await collectTrace(runDir, consoleText, o.cpus, rec.qemu.accel);
    rec.evidence = evidenceOf(rec.analysis);
    return finish(d.verdict, d.verdict === 'infra-error' || d.verdict === 'boot-failed' ? d.reason : undefined);
  } catch (e) {
    if (e instanceof KreproError && e.kind === 'usage') throw e;
    return finish(o.signal?.aborted ? 'interrupted' : 'infra-error', (e as Error).message);
  } finally {
    await cid?.release();
    await rm(sockDir, { recursive: true, force: true });
  }
}

function safeClassify(text: string): CrashReport[] {
  try {
    return classify(text);
  } catch {
    return [];
  }
}

async function listFiles(dir: string): Promise<string[]> {
  return (await readdir(dir)).filter((f) => !f.startsWith('.')).sort();
}


/** One boot, watched by the stop policy (watch.ts); QEMU's stderr is kept as qemu-stderr.txt. */
async function bootOnce(o: RunOptions, plan: RunPlan, runDir: string, sockDir: string, build: BuildResult | null): Promise<BootOutcome> {
  const consoleLog = join(runDir, 'console.log');
  const artifacts = join(runDir, 'artifacts.raw');
  await writeFile(consoleLog, '');
  await writeFile(artifacts, '');
  await rm(join(sockDir, 'qmp.sock'), { force: true });
  const out = await watchBoot(
    { plan, consoleLog, qmpSocket: join(sockDir, 'qmp.sock'), config: stopConfig(o), hangTimeoutSec: o.hangTimeoutSec, onLine: o.onLine, onProgress: o.onProgress ? (p) => o.onProgress!({ stage: 'vm', ...p }) : undefined, signal: o.signal },
    { launcher: launcherFor(o.backend), clock: realClock, artifactBytes: () => stat(artifacts).then((x) => x.size, () => 0), ...vcpuSymbolizers(build) },
  );
  await writeFile(join(runDir, 'qemu-stderr.txt'), out.stderr).catch(() => {});
  return out;
}
