import { readFile } from 'node:fs/promises';
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


/** vng boots from the host's root over 9p: its kernel needs the vng fragment too. */
export function withBackendConfig(b: NonNullable<RunOptions['build']>, backend: RunOptions['backend']): NonNullable<RunOptions['build']> {
  if (backend !== 'vng' || b.profile === 'vng') return b;
  return { ...b, configs: [...(b.configs ?? []), join(kconfigDir(), 'vng.config')] };
}

