import { readFile, access, constants } from 'node:fs/promises';
import { join, basename } from 'node:path';
import type { RunOptions } from './options.ts';
import { guestCmdline, guestParamsOf } from '../image/guest-cmdline.ts';
import { kernelCmdline, tscKhzFromCpuinfo, hzFromConfig } from '../vm/kernel-cmdline.ts';
import { qemuArgv, type BootPath } from '../vm/qemu-args.ts';
import { findQboot, qbootCandidates } from '../vm/firmware.ts';
import { qemuBinary } from '../vm/qemu.ts';
import { planVng } from '../vm/vng.ts';
import type { VmPlan } from '../vm/launcher.ts';
import { probeKvm, decideAccel, fallbackNotifier, type AccelChoice, type KvmProbe } from '../vm/kvm.ts';
import { kconfigDir } from '../util/paths.ts';
import { loadProfile, parseDotConfig } from '../kconfig/fragments.ts';
import { buildLayout, buildDirOfBzImage } from '../build/build.ts';

/**
 * A run's options -> the command that boots it (QEMU's argv or vng's), the
 * kernel command line and the accelerator: what `--dry-run` prints and what
 * a real run executes. No process is started here.
 */
/** What `--dry-run` prints and what a real run executes (vm/launcher.ts). */
export type RunPlan = VmPlan;

/** A fallback to TCG is said on stderr once per process, when a run is planned (after the input checks). */
const noteFallback = fallbackNotifier();

/**
 * --accel -> the accelerator, by the KVM probe (a real KVM guest start,
 * cached per boot); --accel tcg needs no probe. --accel kvm where KVM
 * cannot start a guest throws an env error naming the reason.
 */
export async function pickAccel(a: RunOptions['accel'], probe?: KvmProbe): Promise<AccelChoice> {
  return decideAccel(a, a === 'tcg' ? null : probe ?? (await probeKvm()));
}

export async function planRun(o: RunOptions, kernel: { bzImage: string; configText: string | null }, initrd: string, runDir: string, sockDir: string, vsockCid: number | null, choice?: AccelChoice): Promise<RunPlan> {
  const c = choice ?? (await pickAccel(o.accel));
  noteFallback(c);
  const accel = c.accel;
  if (o.backend === 'vng') return { ...(await planVng(o, kernel, runDir, sockDir, accel, vsockCid)), accelReason: c.reason };
  const cpuinfo = await readFile('/proc/cpuinfo', 'utf8').catch(() => '');
  const { boot, qboot, image, bootReason } = await pickBoot(o.boot, kernel);
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
    kernel: image,
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

/**
 * The boot path a run gets: --boot fast and pvh need the qboot image, pvh
 * also a vmlinux with a PVH entry (CONFIG_PVH=y) in the bzImage's build dir.
 * A path that cannot be taken falls back to the next one (pvh -> fast ->
 * legacy) and says why, in run.json's qemu.bootReason.
 */
export async function pickBoot(asked: BootPath, kernel: { bzImage: string; configText: string | null }): Promise<{ boot: BootPath; qboot: string | null; image: string; bootReason?: string }> {
  if (asked === 'legacy') return { boot: 'legacy', qboot: null, image: kernel.bzImage };
  const qboot = await findQboot(qemuBinary());
  if (!qboot) return { boot: 'legacy', qboot: null, image: kernel.bzImage, bootReason: `no qboot image (${qbootCandidates(qemuBinary()).join(', ')}): booted with SeaBIOS; apt-get install qemu-system-data, or set KREPRO_QBOOT` };
  if (asked === 'fast') return { boot: 'fast', qboot, image: kernel.bzImage };
  const pvh = await pvhImage(kernel);
  if (typeof pvh === 'string') return { boot: 'pvh', qboot, image: pvh };
  return { boot: 'fast', qboot, image: kernel.bzImage, bootReason: `no PVH boot: ${pvh.why}; booted the bzImage through qboot (--boot fast)` };
}

/** The vmlinux QEMU can start at its PVH entry, or why there is none. */
export async function pvhImage(kernel: { bzImage: string; configText: string | null }): Promise<string | { why: string }> {
  if (kernel.configText === null) return { why: `no .config beside ${kernel.bzImage} to show CONFIG_PVH` };
  if (parseDotConfig(kernel.configText).get('CONFIG_PVH') !== 'y') return { why: 'the kernel was built without CONFIG_PVH=y' };
  const vmlinux = buildLayout(buildDirOfBzImage(kernel.bzImage)).vmlinux;
  try {
    await access(vmlinux, constants.R_OK);
  } catch {
    return { why: `no vmlinux in the build dir of ${kernel.bzImage}` };
  }
  return vmlinux;
}

/**
 * vng boots from the host's root over 9p: its kernel needs the vng fragment.
 * The shipped profiles carry it (one kernel for both backends, one build);
 * a profile without it gets it added for a vng run.
 */
export async function withBackendConfig(b: NonNullable<RunOptions['build']>, backend: RunOptions['backend']): Promise<NonNullable<RunOptions['build']>> {
  if (backend !== 'vng') return b;
  const { fragments } = await loadProfile(b.profile ?? 'default');
  if (fragments.includes('vng')) return b;
  return { ...b, configs: [...(b.configs ?? []), join(kconfigDir(), 'vng.config')] };
}

