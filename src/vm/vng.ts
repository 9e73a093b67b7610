import { chmod, copyFile, mkdir, readFile, stat } from 'node:fs/promises';
import { delimiter, join, resolve } from 'node:path';
import { execa } from 'execa';
import type { VmPlan } from './launcher.ts';
import type { SelfTest } from '../image/guest-cmdline.ts';
import { kernelCmdline, tscKhzFromCpuinfo, hzFromConfig } from './kernel-cmdline.ts';
import { buildGuestBinaries } from '../image/guest-binaries.ts';
import { guestCmdline, guestParamsOf } from '../image/guest-cmdline.ts';
import { findTestLockup } from '../image/initramfs.ts';
import { buildLayout, buildDirOfBzImage } from '../build/build.ts';
import { envError, usageError } from '../util/errors.ts';
import { guestDir } from '../util/paths.ts';
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
 * - vng's init runs guest/init itself (a copy in the run dir) as its
 *   `--exec` command, with `--backend vng`: the same krepro.* kernel command
 *   line items, markers (`krepro-init: started`, the workload's
 *   `krepro-hb`/`krepro-done`), self-tests, tracing and framed artifact
 *   sections, written into the run dir, which the guest may write
 *   (`--rwdir`), instead of the second serial port;
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

/**
 * What vng runs in the guest: guest/init itself (copied into the run dir),
 * told it runs under vng. Every run parameter is on the kernel command line
 * as for the QEMU backend (guestCmdline's krepro.* items); only where things
 * are differs, and those are host paths (the host's / is the guest's /).
 */
export interface VngGuestCommand {
  init: string;                // <runDir>/guest-init, a copy of guest/init
  workload: string;            // static workload binary
  modload: string;             // static one-shot module loader
  artifactFile: string;        // <runDir>/artifacts.raw
  modulesDir: string | null;   // the build's installed modules (test_lockup.ko), null: none
}

/** Single-quote for sh. */
export function shQuote(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}

/** vng's --exec value: `sh <init> --backend vng --artifacts ... ` (the guest's shell splits it). */
export function vngGuestCommand(g: VngGuestCommand): string {
  return [
    'sh', g.init,
    '--backend', 'vng',
    '--artifacts', g.artifactFile,
    '--workload-bin', g.workload,
    '--modload-bin', g.modload,
    '--modules', g.modulesDir ?? 'none',
  ].map((w) => (/^[A-Za-z0-9_@%+=:,./-]+$/.test(w) ? w : shQuote(w))).join(' ');
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

/** Name of guest/init's copy inside the run dir. */
export const VNG_GUEST_SCRIPT = 'guest-init';

/**
 * The vng plan for one run. When `runDir` exists (a real run) it also
 * prepares what the command refers to: the guest binaries (built/cached),
 * the guest script in the run dir and a private copy of the bzImage in
 * `sockDir`. When it does not (`--dry-run`), it touches nothing and prints
 * placeholders for what would be prepared; vng need not be installed.
 */
/** What of a run's options the vng plan reads (a RunOptions has them all). */
export interface VngRunInput {
  cpus: number;
  memoryMb: number;
  durationSec: number;
  threads?: number;
  workload?: string | null;
  selfTest?: SelfTest | null;
  append?: string;
  traceEvents?: string[] | null;
  traceBufferKb?: number;
  oopsBufferKb?: number;
  signal?: AbortSignal;
}

export async function planVng(
  o: VngRunInput,
  kernel: { bzImage: string; configText: string | null },
  runDir: string,
  sockDir: string,
  accel: 'kvm' | 'tcg',
  vsockCid: number | null = null,
): Promise<VmPlan> {
  const prepare = await exists(runDir);
  const cpuinfo = await readFile('/proc/cpuinfo', 'utf8').catch(() => '');
  const append = kernelCmdline({
    accel,
    hz: hzFromConfig(kernel.configText ?? ''),
    tscKhz: tscKhzFromCpuinfo(cpuinfo),
    selfTest: o.selfTest ?? null,
    guestItems: guestCmdline(guestParamsOf(o)),   // the same krepro.* items guest/init reads under QEMU
    userAppend: o.append,
  });
  const vng = (await findVng()) ?? process.env.KREPRO_VNG ?? 'vng';
  const cmd: VngGuestCommand = {
    init: join(runDir, VNG_GUEST_SCRIPT),
    workload: '<guest-bin>/workload',
    modload: '<guest-bin>/modload',
    artifactFile: join(runDir, 'artifacts.raw'),
    modulesDir: null,
  };
  let kimg = kernel.bzImage;
  if (prepare) {
    if (!(await findVng())) throw envError('--backend vng: vng not found: install virtme-ng and put vng on PATH, or set KREPRO_VNG=/path/to/vng (krepro doctor checks it)');
    assertVngSafe('run dir', runDir);
    assertVngSafe('temporary dir', sockDir);
    const bins = await buildGuestBinaries({ signal: o.signal });
    cmd.workload = bins.workload;
    cmd.modload = bins.modload;
    cmd.modulesDir = await modulesFor(kernel.bzImage);
    await copyFile(join(guestDir(), 'init'), cmd.init);
    await chmod(cmd.init, 0o755);
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
    exec: vngGuestCommand(cmd),
    rwdirs: [runDir],
    qmpSocket: join(sockDir, 'qmp.sock'),
    vsockCid,
  };
  if (prepare) checkVngSpec(spec);
  const argv = vngArgv(spec);
  return { argv, append, accel, vsockCid };
}

/** The installed modules of a krepro build (<O>/modinst next to <O>/arch/x86/boot/bzImage), when it has test_lockup.ko. */
async function modulesFor(bzImage: string): Promise<string | null> {
  const modinst = buildLayout(buildDirOfBzImage(bzImage)).modules;
  const hit = await findTestLockup(modinst).catch(() => null);
  return hit ? modinst : null;
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
      hint: 'optional, for --backend vng: scripts/setup installs Debian\'s virtme-ng (node bin/run-ts.mjs scripts/install-newer-deb.ts virtme-ng), or set KREPRO_VNG=/path/to/vng',
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
