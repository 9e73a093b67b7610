import { copyFile, mkdir, readFile, stat, writeFile } from 'node:fs/promises';
import { delimiter, join, resolve } from 'node:path';
import { execa } from 'execa';
import type { RunOptions } from '../run/options.ts';
import type { RunPlan } from '../run/run.ts';
import { kernelCmdline, tscKhzFromCpuinfo, hzFromConfig } from './cmdline.ts';
import { buildGuestBinaries } from '../image/guest-binaries.ts';
import { parseWorkloadSpec, workloadArgv } from '../image/cmdline.ts';
import { findTestLockup } from '../image/initramfs.ts';
import { envError, usageError } from '../util/errors.ts';
import { exists } from '../util/fs.ts';

/**
 * The virtme-ng backend (`krepro run --backend vng`): the same kernel
 * command line, workload, console detection, verdicts and artifacts as the
 * QEMU backend, but the VM is started by virtme-ng's `vng`, the way many
 * kernel developers boot their test kernels.
 *
 * What differs under vng, and how each piece maps:
 * - the guest's / is the host's / (9p, read-only, with overlays), so the
 *   static workload and module loader run by their host paths and there is
 *   no initramfs;
 * - vng's init runs our guest script (`--exec`) instead of guest/init; the
 *   script prints the same markers (`krepro-init: started`, the workload's
 *   `krepro-hb`/`krepro-done`) and writes the same framed artifact file,
 *   into the run dir, which the guest may write (`--rwdir`);
 * - `--verbose` puts the guest's serial console (kernel messages, and the
 *   script's output with it) on vng's stdout; startVng (vng-process.ts)
 *   explains why and keeps vng's own stderr out of detection;
 * - QMP (stop, silent-hang inspection) and vhost-vsock are extra QEMU
 *   options, which vng takes only in the `--qemu-opts=...` form.
 *
 * vng pastes --kimg, --rwdir and --qemu-opts values unquoted into a shell
 * command line (virtme_ng/run.py), so those paths are checked for shell and
 * QEMU separator characters first.
 */

export interface VngSpec {
  vng: string;                 // the vng program (KREPRO_VNG, else `vng` on PATH)
  kernel: string;              // the bzImage (a private copy: vng may write next to a kernel)
  accel: 'kvm' | 'tcg';
  cpus: number;
  memoryMb: number;
  append: string;              // kernel command line items (our kernelCmdline)
  exec: string;                // the command the guest runs
  rwdirs: string[];            // host dirs the guest may write, at the same path
  qmpSocket: string;
  vsockCid: number | null;     // vhost-vsock-pci guest CID when the host has /dev/vhost-vsock
  extraQemu?: string[];        // more QEMU options (each one word, no spaces)
}

/** Characters vng can pass through its shell and QEMU can take in a path option. */
const SAFE_PATH = /^[A-Za-z0-9_@%+:./-]+$/;

export function assertVngSafe(what: string, value: string): void {
  if (!SAFE_PATH.test(value)) {
    throw usageError(
      `--backend vng: ${what} ${JSON.stringify(value)} has characters virtme-ng passes unquoted through a shell (or QEMU splits on); use paths made of letters, digits and _@%+:./- (e.g. --results /tmp/krepro-results)`,
    );
  }
}

/** The extra QEMU options, as vng's `--qemu-opts=` value (one string, split on spaces by vng). */
export function vngQemuOpts(s: Pick<VngSpec, 'qmpSocket' | 'vsockCid' | 'extraQemu'>): string[] {
  const opts = ['-qmp', `unix:${s.qmpSocket},server=on,wait=off`];
  if (s.vsockCid !== null) opts.push('-device', `vhost-vsock-pci,guest-cid=${s.vsockCid}`);
  opts.push(...(s.extraQemu ?? []));
  return opts;
}

/**
 * Throws a usage error for anything vng would mangle: the kernel, run dir
 * and QMP socket paths and extra QEMU options go unquoted through vng's
 * shell (the kernel command line and --exec are quoted by vng itself).
 */
export function checkVngSpec(s: VngSpec): void {
  assertVngSafe('kernel', s.kernel);
  for (const d of s.rwdirs) assertVngSafe('run dir', d);
  assertVngSafe('QMP socket', s.qmpSocket);
  for (const o of s.extraQemu ?? []) {
    if (!/^[A-Za-z0-9_@%+=:,./-]+$/.test(o)) throw usageError(`--backend vng: extra QEMU option ${JSON.stringify(o)} must be one word without spaces or shell characters`);
  }
}

/**
 * Options -> vng argv, as a pure function (what `--dry-run` prints). vCPUs
 * are `--cpus`, memory `--memory <MB>M`, TCG is `--disable-kvm`.
 */
export function vngArgv(s: VngSpec): string[] {
  const argv = [
    s.vng,
    '--run', s.kernel,
    '--skip-modules',          // no depmod/.virtme_mods in the kernel's dir; modules are loaded by path
    '--force-9p',              // Debian's C virtiofsd fails as root: skip ~3 s of retries
    '--disable-microvm',       // q35/pc with PCI, like the QEMU backend (our kernel has no virtio-mmio)
    '--verbose',               // the kernel console shown (on vng's stdout here), so detection sees it
    '--cpus', String(s.cpus),
    '--memory', `${s.memoryMb}M`,
  ];
  if (s.accel === 'tcg') argv.push('--disable-kvm');
  for (const d of s.rwdirs) argv.push('--rwdir', d);
  argv.push('--append', s.append);
  argv.push('--exec', s.exec);
  // Must be the `=` form: the value starts with '-', and vng keeps it last.
  argv.push(`--qemu-opts=${vngQemuOpts(s).join(' ')}`);
  return argv;
}

/** What the guest script does; every path is a host path (the host's / is the guest's /). */
export interface VngGuestSpec {
  workload: string;            // static workload binary
  modload: string;             // static one-shot module loader
  artifactFile: string;        // <runDir>/artifacts.raw
  durationSec: number;
  threads?: number | null;
  workloadSpec?: string | null; // parseWorkloadSpec text, e.g. mode=cells,cell-threads=6
  port?: number;               // vsock port, default 1024
  selfTest?: RunOptions['selfTest'];
  testLockupKo?: string | null;
  traceEvents?: string[] | null;
  traceBufferKb?: number | null;
}

const SELF_TEST_PARAMS: Record<string, string> = {
  'soft-lockup': 'time_secs=25 disable_preempt=1',
  'rcu-stall': 'time_secs=15 lock_rcu=1',
  'hung-task': 'time_secs=30 state=D',
};

/** Single-quote for sh. */
export function shQuote(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}

/**
 * The guest script vng runs: guest/init's job minus what vng's own init
 * already did (mounts, devices). Same markers on stdout, same tracing setup,
 * same framed artifact sections, written to the run dir instead of a second
 * serial port. Exits with the workload's (or module loader's) status, which
 * vng returns as its own.
 */
export function vngGuestScript(g: VngGuestSpec): string {
  const q = shQuote;
  const events = (g.traceEvents ?? []).map((e) => e.trim()).filter(Boolean);
  const L: string[] = [
    '#!/bin/sh',
    '# krepro guest script for `krepro run --backend vng` (written by src/vm/vng.ts).',
    'echo "krepro-init: started"',
    'say() { echo "krepro-init: $*"; }',
    'up() { read -r u _ </proc/uptime; echo "$u"; }',
    `A=${q(g.artifactFile)}`,
    'SUM=/tmp/krepro-workload.$$.txt',
    'UP0=$(up)',
    `say "uptime=$UP0 kernel=$(uname -r) cpus=$(nproc) duration=${g.durationSec} threads=${g.threads ?? 'default'} port=${g.port ?? 1024} selftest=${g.selfTest ?? 'none'} backend=vng"`,
    'T=/sys/kernel/tracing',
    'TRACING=0',
  ];
  if (events.length) {
    L.push(
      '[ -w $T/set_event ] || mount -t tracefs nodev $T 2>/dev/null',
      'if [ -w $T/set_event ]; then',
      ...(g.traceBufferKb ? [`  echo ${g.traceBufferKb} >$T/buffer_size_kb 2>/dev/null || say "trace: buffer_size_kb=${g.traceBufferKb} refused"`] : []),
      '  echo 0 >$T/tracing_on; echo >$T/trace',
      '  set -f',
      `  for ev in ${events.map(q).join(' ')}; do`,
      '    if echo "$ev" >>$T/set_event 2>/dev/null; then say "trace: enabled $ev"; else say "trace: event $ev not available"; fi',
      '  done',
      '  set +f',
      '  echo 1 >$T/tracing_on; TRACING=1',
      '  say "trace: on, buffer_size_kb=$(cat $T/buffer_size_kb)"',
      'else say "trace: no tracefs at $T"; fi',
    );
  }
  if (g.selfTest) {
    const params = SELF_TEST_PARAMS[g.selfTest];
    if (!params) throw usageError(`unknown self-test ${JSON.stringify(g.selfTest)}`);
    if (g.testLockupKo) {
      L.push(
        // A lockup in the first ~2 s collides with the TSC clocksource switch.
        'while :; do u=$(up); [ "${u%%.*}" -ge 2 ] && break; sleep 0.2; done',
        `say "selftest: ${g.selfTest} loading ${g.testLockupKo} ${params} at uptime $(up)"`,
        `${q(g.modload)} ${q(g.testLockupKo)} ${q(params)}`,
        'STATUS=$?',
        'say "selftest: modload exit status $STATUS at uptime $(up)"',
      );
    } else {
      L.push('say "selftest: test_lockup.ko not found next to the kernel (boot a krepro build with the detectors fragment)"', 'STATUS=125');
    }
  } else {
    const args = ['--duration', String(g.durationSec), '--port', String(g.port ?? 1024), '--summary', '"$SUM"'];
    if (g.threads != null) args.push('--threads', String(g.threads));
    if (g.workloadSpec) args.push(...workloadArgv(parseWorkloadSpec(g.workloadSpec)));
    L.push(
      `say "workload: start ${args.join(' ').replace(/"/g, '')}"`,
      `timeout -s KILL ${g.durationSec + 60} ${q(g.workload)} ${args.join(' ')}`,
      'STATUS=$?',
      'say "workload: exit status $STATUS at uptime $(up)"',
    );
  }
  L.push(
    '{',
    '  echo "krepro-artifact-begin guest.txt"',
    '  echo "kernel=$(uname -r)"; echo "cpus=$(nproc)"; echo "uptime_start=$UP0"; echo "uptime_end=$(up)"',
    `  echo "selftest=${g.selfTest ?? 'none'}"; echo "status=$STATUS"; echo "backend=vng"; echo "cmdline=$(cat /proc/cmdline)"`,
    '  echo "krepro-artifact-end guest.txt"',
  );
  if (!g.selfTest) {
    L.push(
      '  echo "krepro-artifact-begin workload.txt"',
      '  cat "$SUM" 2>/dev/null || echo "krepro-done rc=-1 (no summary; exit status $STATUS)"',
      '  echo "krepro-artifact-end workload.txt"',
    );
  }
  L.push(
    '  if [ "$TRACING" = 1 ]; then echo 0 >$T/tracing_on; echo "krepro-artifact-begin trace.txt"; cat $T/trace; echo "krepro-artifact-end trace.txt"; fi',
    '  echo "krepro-artifacts-done"',
    '} >"$A" 2>/dev/null && say "artifacts: written to $A" || say "artifacts: write to $A failed"',
    'sync',
    'say "exit $STATUS"',
    'exit $STATUS',
    '',
  );
  return L.join('\n');
}

/** The vng program: KREPRO_VNG, else `vng` found on PATH; null when neither. */
export async function findVng(env: NodeJS.ProcessEnv = process.env): Promise<string | null> {
  if (env.KREPRO_VNG) return (await isExecutable(env.KREPRO_VNG)) ? resolve(env.KREPRO_VNG) : null;
  for (const dir of (env.PATH ?? '').split(delimiter).filter(Boolean)) {
    const p = join(dir, 'vng');
    if (await isExecutable(p)) return p;
  }
  return null;
}

async function isExecutable(p: string): Promise<boolean> {
  try {
    const s = await stat(p);
    return s.isFile() && (s.mode & 0o111) !== 0;
  } catch {
    return false;
  }
}

/** Name of the guest script inside the run dir. */
export const VNG_GUEST_SCRIPT = 'vng-guest.sh';

/**
 * The vng plan for one run. When `runDir` exists (a real run) it also
 * prepares what the command refers to: the guest binaries (built/cached),
 * the guest script in the run dir and a private copy of the bzImage in
 * `sockDir`. When it does not (`--dry-run`), it touches nothing and prints
 * placeholders for what would be prepared; vng need not be installed.
 */
export async function planVng(
  o: RunOptions,
  kernel: { bzImage: string; configText: string | null },
  runDir: string,
  sockDir: string,
  accel: 'kvm' | 'tcg',
  vsockCid: number | null = null,
): Promise<RunPlan> {
  const prepare = await exists(runDir);
  const cpuinfo = await readFile('/proc/cpuinfo', 'utf8').catch(() => '');
  const append = kernelCmdline({
    accel,
    hz: hzFromConfig(kernel.configText ?? ''),
    tscKhz: tscKhzFromCpuinfo(cpuinfo),
    selfTest: o.selfTest ?? null,
    guestItems: [],          // the guest script carries the run parameters
    userAppend: o.append,
  });
  const vng = (await findVng()) ?? process.env.KREPRO_VNG ?? 'vng';
  const artifactFile = join(runDir, 'artifacts.raw');
  const scriptPath = join(runDir, VNG_GUEST_SCRIPT);
  let kimg = kernel.bzImage;
  if (prepare) {
    if (!(await findVng())) throw envError('--backend vng: vng not found: install virtme-ng and put vng on PATH, or set KREPRO_VNG=/path/to/vng (krepro doctor checks it)');
    assertVngSafe('run dir', runDir);
    assertVngSafe('temporary dir', sockDir);
    const bins = await buildGuestBinaries({ signal: o.signal });
    const ko = o.selfTest ? await testLockupFor(kernel.bzImage) : null;
    const script = vngGuestScript({
      workload: bins.workload,
      modload: bins.modload,
      artifactFile,
      durationSec: o.durationSec,
      threads: o.threads ?? null,
      workloadSpec: o.workload ?? null,
      selfTest: o.selfTest ?? null,
      testLockupKo: ko,
      traceEvents: o.traceEvents ?? null,
      traceBufferKb: o.traceBufferKb ?? null,
    });
    await writeFile(scriptPath, script, { mode: 0o755 });
    await mkdir(sockDir, { recursive: true });
    kimg = join(sockDir, 'bzImage');
    await copyFile(kernel.bzImage, kimg);
  }
  const spec: VngSpec = {
    vng,
    kernel: kimg,
    accel,
    cpus: o.cpus,
    memoryMb: o.memoryMb,
    append,
    exec: `sh ${scriptPath}`,
    rwdirs: [runDir],
    qmpSocket: join(sockDir, 'qmp.sock'),
    vsockCid,
  };
  if (prepare) checkVngSpec(spec);
  const argv = vngArgv(spec);
  return { argv, append, accel, vsockCid };
}

/** test_lockup.ko of a krepro build: <O>/modinst next to <O>/arch/x86/boot/bzImage. */
async function testLockupFor(bzImage: string): Promise<string | null> {
  const odir = resolve(bzImage, '..', '..', '..', '..');
  const hit = await findTestLockup(join(odir, 'modinst')).catch(() => null);
  return hit?.path ?? null;
}

/**
 * `krepro doctor`: is vng usable here? Found (KREPRO_VNG or PATH), its
 * version, and whether the host has udev (without it the guest cannot name
 * vng's stdout/exit-code ports: output falls into the kernel console and vng
 * always exits 255).
 */
export async function vngFact(env: NodeJS.ProcessEnv = process.env): Promise<{ ok: boolean; value: string; hint?: string }> {
  const vng = await findVng(env);
  if (!vng) {
    return {
      ok: false,
      value: env.KREPRO_VNG ? `KREPRO_VNG=${env.KREPRO_VNG} is not an executable file` : 'vng not found on PATH',
      hint: 'optional, for --backend vng: install virtme-ng (pip install virtme-ng, or a checkout) and put vng on PATH or set KREPRO_VNG=/path/to/vng',
    };
  }
  let version: string | null = null;
  try {
    const r = await execa(vng, ['--version'], { reject: false, timeout: 20_000, env });
    const out = `${r.stdout}\n${r.stderr}`;
    version = /virtme-ng\s+\S+/.exec(out)?.[0] ?? null;
    if (!version && r.exitCode !== 0) {
      const last = out.trim().split('\n').pop() ?? `exit ${r.exitCode}`;
      return { ok: false, value: `${vng} does not run: ${last.slice(0, 200)}`, hint: 'vng is a Python script: check that the python3 first on PATH has its modules (Debian: apt-get install python3-argcomplete python3-requests)' };
    }
  } catch (e) {
    return { ok: false, value: `${vng} does not run: ${(e as Error).message.split('\n')[0]}`, hint: 'check the vng installation' };
  }
  const udev = await udevPresent();
  const value = `${version ?? 'vng (version unknown)'} at ${vng}; udev ${udev ? 'present' : 'missing'}`;
  if (!udev) return { ok: false, value, hint: 'apt-get install udev: without it the guest cannot find vng\'s output and exit-code ports (output lands in the console, vng always exits 255)' };
  return { ok: true, value };
}

export async function udevPresent(): Promise<boolean> {
  for (const p of ['/usr/lib/systemd/systemd-udevd', '/lib/systemd/systemd-udevd', '/sbin/udevd', '/usr/sbin/udevd']) {
    if (await isExecutable(p)) return true;
  }
  return false;
}
