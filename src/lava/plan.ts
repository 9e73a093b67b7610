import { readFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { RunOptions } from '../run/options.ts';
import type { BuildResult } from '../build/types.ts';
import { buildKernel } from '../build/build.ts';
import { buildInitramfs } from '../image/initramfs.ts';
import { guestCmdline, guestParamsOf } from '../image/guest-cmdline.ts';
import { kernelCmdline, tscKhzFromCpuinfo, hzFromConfig } from '../vm/kernel-cmdline.ts';
import { decideAccel, probeKvm } from '../vm/kvm.ts';
import { exists } from '../util/fs.ts';
import { usageError } from '../util/errors.ts';
import { cacheRoot } from '../util/paths.ts';
import { lavaJob, lavaQemuDevice } from './job.ts';

/** Everything `krepro lava-job` writes: the job, a device dictionary for lava-run, and what they point at. */
export interface LavaPlan {
  job: string;
  device: string;
  kernel: string;
  initrd: string;
  append: string;
  accel: 'kvm' | 'tcg';
  build: BuildResult | null;
}

/** The run options -> the same kernel, initramfs and command line `krepro run` would boot, as a LAVA job. */
export async function planLavaJob(o: RunOptions, urls: { kernel?: string; initrd?: string } = {}): Promise<LavaPlan> {
  let build: BuildResult | null = o.prebuilt ?? null;
  let kernel: string;
  let modules: string | null = null;
  let configText: string | null = null;
  if (o.kernel) {
    kernel = resolve(o.kernel);
    if (!(await exists(kernel))) throw usageError(`--kernel ${o.kernel}: no such file; give a bzImage (e.g. from krepro build --json)`);
    const odir = resolve(kernel, '..', '..', '..', '..');
    if (await exists(join(odir, 'modinst'))) modules = join(odir, 'modinst');
    configText = await readFile(join(odir, '.config'), 'utf8').catch(() => null);
  } else {
    build ??= await buildKernel({ ...(o.build ?? {}), signal: o.signal });
    kernel = build.bzImage;
    modules = build.modules;
    configText = await readFile(build.config, 'utf8').catch(() => null);
  }
  const img = await buildInitramfs({ modulesDir: modules, kernelRelease: build?.kernelRelease, cacheDir: cacheRoot() });
  const choice = decideAccel(o.accel, o.accel === 'tcg' ? null : await probeKvm());
  const cpuinfo = await readFile('/proc/cpuinfo', 'utf8').catch(() => '');
  const append = kernelCmdline({
    accel: choice.accel,
    hz: hzFromConfig(configText ?? ''),
    tscKhz: tscKhzFromCpuinfo(cpuinfo),
    selfTest: o.selfTest ?? null,
    guestItems: guestCmdline(guestParamsOf(o)),
    userAppend: o.append,
  });
  // The job's budget: as long as `krepro run` would wait, plus LAVA's deploy.
  const timeoutMin = Math.ceil((o.bootTimeoutSec + o.durationSec + 2 * o.hangTimeoutSec + 60) / 60) + 5;
  const job = lavaJob({
    name: `krepro ${o.selfTest ? `self-test ${o.selfTest}` : `workload ${o.durationSec} s`}${build ? ` on ${build.kernelRelease ?? build.key}` : ''}`,
    kernelUrl: urls.kernel ?? pathToFileURL(kernel).href,
    initrdUrl: urls.initrd ?? pathToFileURL(img.path).href,
    append,
    cpus: o.cpus,
    memoryMb: o.memoryMb,
    accel: choice.accel,
    timeoutMin,
  });
  return { job, device: lavaQemuDevice({ accel: choice.accel }), kernel, initrd: img.path, append, accel: choice.accel, build };
}
