import { mkdir, readFile, copyFile, writeFile, mkdtemp, rm, readdir, stat } from 'node:fs/promises';
import { join, resolve, basename } from 'node:path';
import { cpus, tmpdir } from 'node:os';
import { randomBytes } from 'node:crypto';
import pRetry, { AbortError } from 'p-retry';
import type { RunOptions } from './options.ts';
import type { RunRecord, VcpuState, Verdict } from './types.ts';
import type { BuildResult } from '../build/types.ts';
import type { CrashReport } from '../console/types.ts';
import { buildKernel } from '../build/build.ts';
import { readMeta, holdBuild } from '../build/cache.ts';
import { buildInitramfs } from '../image/initramfs.ts';
import { guestCmdline, guestParamsOf, parseWorkloadSpec } from '../image/cmdline.ts';
import { kernelCmdline, tscKhzFromCpuinfo, hzFromConfig } from '../vm/cmdline.ts';
import { qemuArgv, BOOT_PATHS, type BootPath } from '../vm/qemu-args.ts';
import { findQboot, qbootCandidates } from '../vm/firmware.ts';
import { startQemu, qemuVersion, qemuBinary, kvmStartFailure, type QemuProcess } from '../vm/qemu.ts';
import { planVng } from '../vm/vng.ts';
import { startVng } from '../vm/vng-process.ts';
import { Qmp, parseRegisters } from '../vm/qmp.ts';
import { allocateCid } from '../vm/cid.ts';
import { loadSystemMap, symbolize, addr2line } from '../vm/symbolize.ts';
import { vhostVsockUsable, freeBytes } from '../host/facts.ts';
import { probeKvm, decideAccel, fallBackToTcg, fallbackNotifier, recordKvmFailure, type AccelChoice, type KvmProbe } from '../host/kvm.ts';
import { ConsoleMonitor } from './monitor.ts';
import { classify } from '../console/classify.ts';
import { extractFtraceDumpInfo } from '../trace/parse.ts';
import { judgeRunTrace } from './trace-file.ts';
import { evidenceOf } from '../verdict/evidence.ts';
import { decide } from '../verdict/verdict.ts';
import { writeJsonAtomic, exists } from '../util/fs.ts';
import { cacheRoot, resultsRoot, kconfigDir } from '../util/paths.ts';
import { KreproError, usageError, envError, isKreproError } from '../util/errors.ts';
import { readArtifacts } from './artifacts-channel.ts';
import { pickHangFrame } from './silent.ts';
import { collectProvenance } from './provenance.ts';

export const RUN_DEFAULTS = {
  cpus: 4,
  memoryMb: 1024,
  durationSec: 60,
  accel: 'auto' as const,
  boot: 'fast' as const,
  hangTimeoutSec: 45,
  bootTimeoutSec: 120,
  graceSec: 10,
  backend: 'qemu' as const,
};

/** Apply defaults in one place and reject nonsense before anything starts. */
export function resolveRunOptions(o: Partial<RunOptions>): RunOptions {
  const r: RunOptions = {
    ...RUN_DEFAULTS,
    resultsDir: resultsRoot(),
    ...Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)),
  } as RunOptions;
  const posInt = (name: string, v: number, max: number) => {
    if (!Number.isInteger(v) || v < 1 || v > max) throw usageError(`--${name} ${v}: give an integer from 1 to ${max}`);
  };
  posInt('cpus', r.cpus, 64);
  posInt('memory', r.memoryMb, 1 << 20);
  if (r.memoryMb < 128) throw usageError(`--memory ${r.memoryMb}: the guest needs at least 128 MB`);
  posInt('duration', r.durationSec, 7 * 86400);
  posInt('hang-timeout', r.hangTimeoutSec, 86400);
  posInt('boot-timeout', r.bootTimeoutSec, 86400);
  if (!(r.graceSec >= 0 && r.graceSec <= 3600)) throw usageError(`--grace ${r.graceSec}: give 0 to 3600 seconds`);
  if (r.threads !== undefined && r.threads !== null) posInt('threads', r.threads, 4096);
  if (r.workload) parseWorkloadSpec(r.workload);
  if (!['auto', 'kvm', 'tcg'].includes(r.accel)) throw usageError(`--accel ${r.accel}: choose auto, kvm or tcg`);
  if (!BOOT_PATHS.includes(r.boot)) throw usageError(`--boot ${r.boot}: choose ${BOOT_PATHS.join(' or ')}`);
  if (r.signature) {
    try {
      new RegExp(r.signature);
    } catch (e) {
      throw usageError(`--signature is not a valid regular expression: ${(e as Error).message}`);
    }
  }
  if ([r.build, r.prebuilt, r.kernel].filter(Boolean).length > 1) throw usageError('give either --kernel or --tree/--commit, not both');
  return r;
}

export function newRunId(now = new Date()): string {
  return `run-${now.toISOString().replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z')}-${randomBytes(3).toString('hex')}`;
}

/** What `--dry-run` prints and what a real run executes. */
export interface RunPlan {
  argv: string[];
  append: string;
  accel: 'kvm' | 'tcg';
  accelReason?: string;        // why this accelerator (AccelChoice.reason)
  vsockCid: number | null;
  boot?: BootPath;             // QEMU backend: the boot path used
  bootReason?: string;         // why not the one asked for
}

/** A fallback to TCG is said on stderr once per process, when a run is planned (after the input checks). */
const noteFallback = fallbackNotifier();

/**
 * --accel -> the accelerator, by the KVM probe (a real KVM guest start,
 * cached per boot); --accel tcg needs no probe. --accel kvm where KVM
 * cannot start a guest throws an env error naming the reason.
 */
async function pickAccel(a: RunOptions['accel'], probe?: KvmProbe): Promise<AccelChoice> {
  return decideAccel(a, a === 'tcg' ? null : probe ?? (await probeKvm()));
}

export async function planRun(o: RunOptions, kernel: { bzImage: string; configText: string | null }, initrd: string, runDir: string, sockDir: string, vsockCid: number | null, choice?: AccelChoice): Promise<RunPlan> {
  const c = choice ?? (await pickAccel(o.accel));
  noteFallback(c);
  const accel = c.accel;
  if (o.backend === 'vng') return { ...(await planVng(o, kernel, runDir, sockDir, accel, vsockCid)), accelReason: c.reason };
  const cpuinfo = await readFile('/proc/cpuinfo', 'utf8').catch(() => '');
  const { boot, qboot, bootReason } = await pickBoot(o.boot);
  const items = guestCmdline(guestParamsOf(o));
  const append = kernelCmdline({
    accel,
    hz: hzFromConfig(kernel.configText ?? ''),
    tscKhz: tscKhzFromCpuinfo(cpuinfo),
    selfTest: o.selfTest ?? null,
    guestItems: items,
    userAppend: o.append,
    boot,
  });
  const argv = qemuArgv({
    name: `krepro-${basename(runDir)}`,
    accel,
    cpus: o.cpus,
    memoryMb: o.memoryMb,
    kernel: kernel.bzImage,
    initrd,
    append,
    artifactFile: join(runDir, 'artifacts.raw'),
    qmpSocket: join(sockDir, 'qmp.sock'),
    vsockCid,
    boot,
    qboot: qboot ?? undefined,
  });
  return { argv, append, accel, accelReason: c.reason, vsockCid, boot, ...(bootReason ? { bootReason } : {}) };
}

/** --boot fast needs the qboot image; without one the run boots the legacy way and says why. */
async function pickBoot(asked: BootPath): Promise<{ boot: BootPath; qboot: string | null; bootReason?: string }> {
  if (asked !== 'fast') return { boot: asked, qboot: null };
  const qboot = await findQboot(qemuBinary());
  if (qboot) return { boot: 'fast', qboot };
  return { boot: 'legacy', qboot: null, bootReason: `no qboot image (${qbootCandidates(qemuBinary()).join(', ')}): booted with SeaBIOS; apt-get install qemu-system-data, or set KREPRO_QBOOT` };
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
  let build: BuildResult | null = o.prebuilt ?? null;
  if (!build && !o.kernel) {
    try {
      const tb = Date.now();
      build = await buildKernel({ ...withBackendConfig(o.build ?? {}, o.backend), signal: o.signal });
      rec.timings.buildMs = Date.now() - tb;
    } catch (e) {
      if (o.signal?.aborted) return finish('interrupted', 'interrupted during the build');
      if (isKreproError(e) && e.kind === 'skip') {
        if (e.detail) await writeFile(join(runDir, 'skip-reason.txt'), e.detail + '\n');
        return finish('skip', e.message);
      }
      if (isKreproError(e) && e.kind === 'usage') throw e;
      return finish('infra-error', isKreproError(e) ? e.message : `build: ${(e as Error).message}`);
    }
  }
  let configText: string | null = null;
  if (build) {
    // Pinned against eviction for as long as this process lives (a loop's, a bisection's later runs).
    await holdBuild(build.dir).catch(() => {});
    rec.kernel = { tree: build.tree, commit: build.commit, buildKey: build.key, patches: build.patches, bzImage: build.bzImage, version: build.kernelRelease };
    configText = await readFile(build.config, 'utf8').catch(() => null);
    if (configText !== null) await writeFile(join(runDir, 'config'), configText);
    for (const p of build.patches) await copyFile(p.file, join(runDir, `${p.reverted ? 'revert' : 'patch'}-${basename(p.file)}`)).catch(() => {});
  } else {
    const k = resolve(o.kernel!);
    if (!(await exists(k))) throw usageError(`--kernel ${o.kernel}: no such file; give a bzImage (e.g. from krepro build --json)`);
    rec.kernel = { tree: null, commit: null, buildKey: null, patches: [], bzImage: k };
    // A bzImage inside a build dir (<O>/arch/x86/boot/bzImage) brings its
    // .config, System.map and modules along.
    const odir = resolve(k, '..', '..', '..', '..');
    configText = await readFile(join(odir, '.config'), 'utf8').catch(() => null);
    if (configText !== null) await writeFile(join(runDir, 'config'), configText);
    const meta = await readMeta(odir);
    if (meta) {
      build = { key: meta.key, cached: true, seconds: 0, dir: odir, bzImage: k, modules: join(odir, 'modinst'), config: join(odir, '.config'), systemMap: join(odir, 'System.map'), vmlinux: join(odir, 'vmlinux'), tree: meta.repo, commit: meta.commit, patches: meta.patches, kernelRelease: meta.kernelRelease, log: join(odir, 'build.log') };
      rec.kernel = { tree: meta.repo, commit: meta.commit, buildKey: meta.key, patches: meta.patches, bzImage: k, version: meta.kernelRelease };
    }
  }
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
    const { outcome, choice } = await startWithFallback(accelChoice, async (c) => boot(o, await planFor(c), runDir, sockDir, build), {
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

/** What startWithFallback needs to know of one boot. */
export interface StartAttempt {
  startFailure?: string;       // QEMU did not start (host side)
  accelFailure?: string;       // ... because KVM itself failed (kvmStartFailure's line)
}

/**
 * Boot, retrying host-side start failures (3 attempts, backing off). A
 * failure in KVM itself would repeat identically, so it is never retried
 * with the same arguments: under --accel auto the run falls back to TCG
 * once (onKvmFailure records it), under --accel kvm the failure is the
 * outcome. Null when interrupted.
 */
export async function startWithFallback<T extends StartAttempt>(
  first: AccelChoice,
  bootOnce: (c: AccelChoice) => Promise<T>,
  opts: { aborted?: () => boolean; minTimeoutMs?: number; onKvmFailure?: (why: string, tcg: AccelChoice) => Promise<void> } = {},
): Promise<{ outcome: T | null; choice: AccelChoice }> {
  const aborted = () => !!opts.aborted?.();
  const withRetries = (c: AccelChoice) => pRetry(
    async (attempt) => {
      const res = await bootOnce(c);
      if (res.startFailure && !res.accelFailure && attempt < 3 && !aborted()) throw new Error(res.startFailure);
      return res;
    },
    { retries: 2, minTimeout: opts.minTimeoutMs ?? 1000, factor: 2, onFailedAttempt: () => {}, shouldRetry: () => !aborted() },
  ).catch((e) => (e instanceof AbortError ? null : { startFailure: (e as Error).message } as T));
  let choice = first;
  let outcome = await withRetries(choice);
  if (outcome?.accelFailure && choice.accel === 'kvm' && choice.requested === 'auto' && !aborted()) {
    const why = `qemu -accel kvm failed: ${outcome.accelFailure}`;
    choice = fallBackToTcg(why);
    await opts.onKvmFailure?.(why, choice);
    outcome = await withRetries(choice);
  }
  return { outcome, choice };
}

/** vng boots from the host's root over 9p: its kernel needs the vng fragment too. */
export function withBackendConfig(b: NonNullable<RunOptions['build']>, backend: RunOptions['backend']): NonNullable<RunOptions['build']> {
  if (backend !== 'vng' || b.profile === 'vng') return b;
  return { ...b, configs: [...(b.configs ?? []), join(kconfigDir(), 'vng.config')] };
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

/** trace.txt: the guest's tracefs dump (artifact channel) or, on a stall, the ftrace dump cut from the console. */
async function collectTrace(runDir: string, consoleText: string, cpus: number, accel: 'kvm' | 'tcg'): Promise<RunRecord['analysis']> {
  const raw = await readFile(join(runDir, 'artifacts.raw')).catch(() => Buffer.alloc(0));
  const { files, incomplete } = readArtifacts(raw);
  for (const [name, body] of Object.entries(files)) {
    const safe = name.replace(/[^A-Za-z0-9_.-]/g, '_');
    await writeFile(join(runDir, safe === 'trace.txt' ? 'trace.txt' : `guest-${safe}`), body);
  }
  let truncated = incomplete.includes('trace.txt');
  let fromConsole = false;
  if (!files['trace.txt']) {
    let dump: { text: string; complete: boolean } | null = null;
    try {
      dump = extractFtraceDumpInfo(consoleText);
    } catch {
      dump = null;
    }
    if (dump?.text) {
      await writeFile(join(runDir, 'trace.txt'), dump.text);
      truncated = !dump.complete;
      fromConsole = true;
    }
  }
  // Replay mmcid events, if the trace has any: findings go to analysis.json and run.json.
  const trace = await readFile(join(runDir, 'trace.txt'), 'utf8').catch(() => null);
  if (!trace) return null;
  try {
    return await judgeRunTrace(runDir, trace, { cpus, truncated, startMayBeCut: fromConsole, accel });
  } catch {
    return null;
  }
}

/** Console output before init above this, still flowing at the boot timeout, is a flood. */
const FLOOD_BYTES = 512 * 1024;

interface BootOutcome extends StartAttempt {
  exit: { code: number | null; signal: string | null; byUs: boolean } | null;
  initSeen: boolean;
  workloadDone: boolean;
  silentHang: CrashReport | null;
  floodedBootBytes?: number | null;
  vcpus?: VcpuState[] | null;
  counters?: RunRecord['workload'];
  detection?: RunRecord['detection'];
  timings?: Partial<RunRecord['timings']>;
}

/** Boot once and watch until the guest ends, is ended after a detection, or goes silent. */
async function boot(o: RunOptions, plan: RunPlan, runDir: string, sockDir: string, build: BuildResult | null): Promise<BootOutcome> {
  const consolePath = join(runDir, 'console.log');
  await writeFile(consolePath, '');
  await writeFile(join(runDir, 'artifacts.raw'), '');
  await rm(join(sockDir, 'qmp.sock'), { force: true });
  const start = Date.now();
  const mon = new ConsoleMonitor(start);
  let stopReason: 'detected' | 'silent' | 'done' | 'boot-timeout' | 'deadline' | 'abort' | null = null;
  let stopAt: number | null = null;
  let byUs = false;
  let q: QemuProcess | null = null;

  const onLine = (line: string) => {
    const now = Date.now();
    o.onLine?.(line);
    const det = mon.push(line, now);
    if (det && stopAt === null) {
      stopReason = 'detected';
      stopAt = now + o.graceSec * 1000;
    }
  };
  q = o.backend === 'vng' ? startVng(plan.argv, consolePath, onLine) : startQemu(plan.argv, consolePath, onLine);
  let exitInfo: { code: number | null; signal: string | null; stderr: string } | null = null;
  const exited = q.exited.then((e) => (exitInfo = e));

  let floodedBootBytes: number | null = null;
  let silentHang: CrashReport | null = null;
  let silentAt: number | null = null;
  let vcpus: VcpuState[] | null = null;
  const artifactPath = join(runDir, 'artifacts.raw');
  let artifactBytes = 0;
  let artifactGrewAt = 0;
  const deadline = start + (o.bootTimeoutSec + o.durationSec + 2 * o.hangTimeoutSec + 60) * 1000;
  const stop = async () => {
    byUs = true;
    try {
      const qmp = await Qmp.connect(join(sockDir, 'qmp.sock'), 1000);
      await qmp.execute('quit', undefined, 2000);
      qmp.close();
    } catch {
      /* fall through to kill */
    }
    await Promise.race([exited, sleep(3000)]);
    q!.kill('SIGKILL');
  };
  const onAbort = () => {
    stopReason = 'abort';
  };
  o.signal?.addEventListener('abort', onAbort);
  try {
    while (!exitInfo) {
      await Promise.race([exited, sleep(250)]);
      if (exitInfo) break;
      const now = Date.now();
      const s = mon.state;
      if (stopReason === 'abort') {
        await stop();
        break;
      }
      // After a detection: keep reading for the grace period, and longer
      // while the console is still busy (backtraces, an ftrace dump of
      // thousands of lines), up to two minutes more.
      if (stopReason === 'detected' && stopAt !== null && now >= stopAt && (now - s.lastOutputMs > 2000 || now >= stopAt + 120_000)) {
        await stop();
        break;
      }
      if (stopReason === 'detected') continue;
      if (s.initAtMs === null && now - start > o.bootTimeoutSec * 1000) {
        stopReason = 'boot-timeout';
        if (now - s.lastOutputMs < 2000 && s.bytes >= FLOOD_BYTES) floodedBootBytes = s.bytes;
        await stop();
        break;
      }
      if (s.initAtMs !== null && mon.silentFor(now) > o.hangTimeoutSec * 1000 && s.doneAtMs === null) {
        stopReason = 'silent';
        silentAt = now;
        const r = await inspectSilentGuest(join(sockDir, 'qmp.sock'), build, o, () => mon.state.firstDetection !== null);
        vcpus = r.vcpus;
        silentHang = r.report;
        // The NMI may have made the kernel print and panic, and the panic dumps
        // the trace over the serial console (tens of seconds at 115200 baud):
        // read on while it prints, until it is quiet for the grace period.
        const nmiAt = Date.now();
        while (!exitInfo) {
          const t = Date.now();
          if (t - Math.max(nmiAt, s.lastOutputMs) > o.graceSec * 1000 || t - nmiAt > NMI_PRINT_MAX_MS) break;
          await Promise.race([exited, sleep(500)]);
        }
        if (!exitInfo) await stop();
        break;
      }
      // The artifact channel is slow under TCG (~175 KB/s): a dump in
      // progress is progress, not a guest that forgot to power off.
      const artSize = await stat(artifactPath).then((x) => x.size, () => 0);
      if (artSize !== artifactBytes) {
        artifactBytes = artSize;
        artifactGrewAt = now;
      }
      if (s.doneAtMs !== null && now - Math.max(s.doneAtMs, s.lastOutputMs, artifactGrewAt) > 30_000) {
        // The workload ended but the guest did not power off.
        stopReason = 'done';
        await stop();
        break;
      }
      if (now > deadline && !(now - artifactGrewAt < 5000 && now < deadline + 600_000)) {
        stopReason = 'deadline';
        await stop();
        break;
      }
    }
    await exited;
  } finally {
    o.signal?.removeEventListener('abort', onAbort);
    q.kill('SIGKILL');
  }
  const exitAt = Date.now();
  const e = exitInfo!;
  const s = mon.state;
  await writeFile(join(runDir, 'qemu-stderr.txt'), e.stderr).catch(() => {});
  if (s.lines === 0 && !byUs && e.code !== 0) {
    const accelFailure = plan.accel === 'kvm' ? kvmStartFailure(e.stderr) ?? undefined : undefined;
    return { startFailure: accelFailure ?? (e.stderr.trim().split('\n').pop() || `exit ${e.code ?? e.signal}`), accelFailure, exit: { ...e, byUs }, initSeen: false, workloadDone: false, silentHang: null };
  }
  // A silent hang is detected when the silence is, before what our NMI makes the kernel print.
  const det = silentHang && silentAt !== null ? { kind: 'silent-hang', line: silentHang.title, atMs: silentAt } : s.firstDetection;
  return {
    exit: { code: e.code, signal: e.signal, byUs },
    initSeen: s.initAtMs !== null,
    floodedBootBytes,
    workloadDone: s.doneAtMs !== null,
    silentHang,
    vcpus,
    counters: s.counters,
    detection: det ? { kind: det.kind, line: det.line, atMs: det.atMs - start } : null,
    timings: {
      bootToInitMs: s.initAtMs !== null ? s.initAtMs - start : null,
      workloadMs: s.initAtMs !== null ? (s.doneAtMs ?? exitAt) - s.initAtMs : null,
      detectMs: det ? det.atMs - start : null,
      detectToExitMs: det ? exitAt - det.atMs : null,
    },
  };
}

/**
 * The guest printed nothing for --hang-timeout: every CPU may be spinning
 * with interrupts off. Ask QEMU for each vCPU's RIP, symbolize it with
 * System.map, then inject an NMI so the kernel can print its own
 * backtraces (unknown_nmi_panic=1 turns that into a panic with the trace
 * dump).
 */
async function inspectSilentGuest(qmpPath: string, build: BuildResult | null, o: RunOptions, kernelSpoke: () => boolean): Promise<{ vcpus: VcpuState[] | null; report: CrashReport | null }> {
  let qmp: Qmp;
  try {
    qmp = await Qmp.connect(qmpPath, 3000);
  } catch {
    return { vcpus: null, report: null };
  }
  try {
    const regs = parseRegisters(await qmp.hmp('info registers -a'));
    const map = build ? await loadSystemMap(build.systemMap) : null;
    const lines = build ? await addr2line(build.vmlinux, regs.map((r) => r.rip)) : regs.map(() => null);
    const vcpus: VcpuState[] = regs.map((r, i) => ({ cpu: r.cpu, rip: r.rip, symbol: map ? symbolize(map, r.rip) : null, source: lines[i] }));
    await qmp.execute('inject-nmi');
    const report = kernelSpoke() ? null : pickHangFrame(vcpus, o.hangTimeoutSec);
    return { vcpus, report };
  } catch {
    return { vcpus: null, report: null };
  } finally {
    qmp.close();
  }
}

/** Longest krepro reads a guest printing after its NMI (an ftrace dump of a large buffer). */
const NMI_PRINT_MAX_MS = 180_000;

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

