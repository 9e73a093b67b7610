import { describe, it, expect } from 'vitest';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { qemuArgv, BOOT_PATHS, type QemuSpec } from '../../src/vm/qemu-args.ts';
import { kernelCmdline, fastBootCmdline } from '../../src/vm/kernel-cmdline.ts';
import { findQboot, qbootCandidates } from '../../src/vm/firmware.ts';
import { resolveRunOptions } from '../../src/run/run.ts';
import { pickBoot, pvhImage } from '../../src/run/plan.ts';
import { mkdir } from 'node:fs/promises';

const spec: QemuSpec = { name: 'krepro-x', accel: 'tcg', cpus: 4, memoryMb: 1024, kernel: '/k/bzImage', initrd: '/k/initrd', append: 'console=ttyS0', artifactFile: '/r/artifacts.raw', qmpSocket: '/t/qmp.sock', vsockCid: 9 };
const after = (a: string[], flag: string) => a[a.indexOf(flag) + 1];

describe('boot paths: QEMU argv', () => {
  it('legacy is the SeaBIOS argv krepro always used: no -bios', () => {
    const a = qemuArgv({ ...spec, boot: 'legacy' });
    expect(a).not.toContain('-bios');
    expect(qemuArgv(spec)).toEqual(a);
  });
  it('fast puts qboot in as the firmware and changes nothing else', () => {
    const legacy = qemuArgv({ ...spec, boot: 'legacy' });
    const fast = qemuArgv({ ...spec, boot: 'fast', qboot: '/usr/share/qemu/qboot.rom' });
    expect(after(fast, '-bios')).toBe('/usr/share/qemu/qboot.rom');
    expect(fast.filter((x, i) => !(x === '-bios' || fast[i - 1] === '-bios'))).toEqual(legacy);
  });
  it('every path keeps every feature: same machine, two serial ports (console, artifacts), QMP, vsock, kernel and initrd', () => {
    for (const boot of BOOT_PATHS) {
      const a = qemuArgv({ ...spec, boot, qboot: '/q.rom' });
      expect(after(a, '-machine')).toBe('pc');
      expect(a.filter((x) => x === '-serial')).toEqual(['-serial', '-serial']);
      expect(a).toContain('chardev:con');
      expect(a).toContain('chardev:art');
      expect(after(a, '-qmp')).toBe('unix:/t/qmp.sock,server=on,wait=off');
      expect(a).toContain('vhost-vsock-pci,guest-cid=9');
      expect(after(a, '-kernel')).toBe('/k/bzImage');
      expect(after(a, '-initrd')).toBe('/k/initrd');
      expect(a).toContain('-nodefaults');
    }
  });
  it('fast without a qboot image is a programming error, not a silent SeaBIOS boot', () => {
    expect(() => qemuArgv({ ...spec, boot: 'fast' })).toThrow(/qboot/);
    expect(() => qemuArgv({ ...spec, boot: 'pvh', kernel: '/k/vmlinux' })).toThrow(/pvh needs the qboot/);
  });
  it('pvh gives qboot the vmlinux; everything else is the fast argv', () => {
    const fast = qemuArgv({ ...spec, boot: 'fast', qboot: '/q.rom' });
    const pvh = qemuArgv({ ...spec, boot: 'pvh', qboot: '/q.rom', kernel: '/k/vmlinux' });
    expect(after(pvh, '-kernel')).toBe('/k/vmlinux');
    expect(pvh.map((x) => (x === '/k/vmlinux' ? '/k/bzImage' : x))).toEqual(fast);
  });
});

describe('boot paths: kernel command line', () => {
  const base = { accel: 'tcg' as const, hz: 250, tscKhz: 2600000, guestItems: ['krepro.duration=5'], userAppend: 'loglevel=8' };
  it('fast adds the boot-time items, legacy is unchanged', () => {
    const legacy = kernelCmdline({ ...base, boot: 'legacy' });
    expect(kernelCmdline(base)).toBe(legacy);
    for (const item of fastBootCmdline(base.tscKhz)) expect(legacy.split(' ')).not.toContain(item);
    const fast = kernelCmdline({ ...base, boot: 'fast' });
    expect(fast.split(' ')).toEqual(expect.arrayContaining(['no_timer_check', 'pty.legacy_count=0', 'tsc_early_khz=2600000']));
    // Same items otherwise, and the guest's items and --append still come last.
    expect(fast.split(' ').filter((x) => !fastBootCmdline(base.tscKhz).includes(x))).toEqual(legacy.split(' '));
    expect(fast.endsWith('krepro.duration=5 loglevel=8')).toBe(true);
    // pvh differs from fast in the image QEMU loads, not in the command line.
    expect(kernelCmdline({ ...base, boot: 'pvh' })).toBe(fast);
  });
  it('tsc_early_khz only under TCG with a known host TSC rate (KVM has its own clock source)', () => {
    expect(kernelCmdline({ ...base, boot: 'pvh', accel: 'kvm' })).not.toMatch(/tsc_early_khz/);
    expect(kernelCmdline({ ...base, boot: 'pvh', tscKhz: null })).not.toMatch(/tsc_early_khz/);
  });
  it('the detectors keep their thresholds on the fast path', () => {
    const fast = kernelCmdline({ ...base, boot: 'fast', selfTest: 'soft-lockup' });
    expect(fast).toContain('watchdog_thresh=5');
    expect(fast).toContain('unknown_nmi_panic=1');
    // the panic stops CPUs by NMI and keeps its whole output (backtraces + trace dump) in the log buffer
    expect(fast.split(' ')).toEqual(expect.arrayContaining(['crash_kexec_post_notifiers', 'log_buf_len=1M']));
    expect(fast).toContain('softlockup_panic=1');
  });
});

describe('qboot image', () => {
  it('looks in $KREPRO_QBOOT, beside a prefixed QEMU, then Debian\'s qemu-system-data', () => {
    expect(qbootCandidates('/opt/q/bin/qemu-system-x86_64', { KREPRO_QBOOT: '/x/qboot.rom' })).toEqual(['/x/qboot.rom', '/opt/q/share/qemu/qboot.rom', '/usr/share/qemu/qboot.rom', '/usr/share/seabios/qboot.rom']);
    expect(qbootCandidates('qemu-system-x86_64', {})[0]).toBe('/usr/share/qemu/qboot.rom');
  });
  it('finds the first readable one', async () => {
    const d = await mkdtemp(join(tmpdir(), 'qboot-'));
    await writeFile(join(d, 'qboot.rom'), 'x');
    expect(await findQboot('qemu-system-x86_64', { KREPRO_QBOOT: join(d, 'qboot.rom') })).toBe(join(d, 'qboot.rom'));
    expect(await findQboot('qemu-system-x86_64', { KREPRO_QBOOT: join(d, 'missing.rom') })).not.toBe(join(d, 'missing.rom'));
  });
});

describe('--boot', () => {
  it('defaults to pvh; a bad value is a one-line usage error', () => {
    expect(resolveRunOptions({}).boot).toBe('pvh');
    expect(resolveRunOptions({ boot: 'legacy' }).boot).toBe('legacy');
    expect(() => resolveRunOptions({ boot: 'bogus' as never })).toThrow(/--boot bogus: choose legacy or fast or pvh/);
  });
});

describe('picking the boot path for a kernel', () => {
  /** A krepro build dir (O= layout): bzImage, and a vmlinux unless told otherwise. */
  const buildDir = async (withVmlinux: boolean) => {
    const d = await mkdtemp(join(tmpdir(), 'pvh-'));
    await mkdir(join(d, 'arch', 'x86', 'boot'), { recursive: true });
    await writeFile(join(d, 'arch', 'x86', 'boot', 'bzImage'), 'bz');
    if (withVmlinux) await writeFile(join(d, 'vmlinux'), 'elf');
    return d;
  };
  const withQboot = async <T>(f: () => Promise<T>): Promise<T> => {
    const d = await mkdtemp(join(tmpdir(), 'qb-'));
    await writeFile(join(d, 'qboot.rom'), 'x');
    const old = process.env.KREPRO_QBOOT;
    process.env.KREPRO_QBOOT = join(d, 'qboot.rom');
    try {
      return await f();
    } finally {
      if (old === undefined) delete process.env.KREPRO_QBOOT;
      else process.env.KREPRO_QBOOT = old;
    }
  };
  it('pvh: the build\'s vmlinux when the kernel has CONFIG_PVH=y', async () => {
    const d = await buildDir(true);
    const k = { bzImage: join(d, 'arch', 'x86', 'boot', 'bzImage'), configText: 'CONFIG_X86_64=y\nCONFIG_PVH=y\n' };
    expect(await pvhImage(k)).toBe(join(d, 'vmlinux'));
    const b = await withQboot(() => pickBoot('pvh', k));
    expect(b).toMatchObject({ boot: 'pvh', image: join(d, 'vmlinux') });
    expect(b.bootReason).toBeUndefined();
  });
  it.each([
    ['built without CONFIG_PVH', true, '# CONFIG_PVH is not set\n', /without CONFIG_PVH=y/],
    ['no vmlinux beside the bzImage', false, 'CONFIG_PVH=y\n', /no vmlinux in the build dir/],
    ['no .config at all (a bare --kernel bzImage)', true, null, /no \.config/],
  ])('pvh falls back to fast, and says why: %s', async (_n, vmlinux, configText, why) => {
    const d = await buildDir(vmlinux);
    const k = { bzImage: join(d, 'arch', 'x86', 'boot', 'bzImage'), configText };
    const b = await withQboot(() => pickBoot('pvh', k));
    expect(b).toMatchObject({ boot: 'fast', image: k.bzImage });
    expect(b.bootReason).toMatch(why);
    expect(b.bootReason).toMatch(/--boot fast/);
  });
  it('legacy and fast boot the bzImage', async () => {
    const d = await buildDir(true);
    const k = { bzImage: join(d, 'arch', 'x86', 'boot', 'bzImage'), configText: 'CONFIG_PVH=y\n' };
    expect(await withQboot(() => pickBoot('fast', k))).toMatchObject({ boot: 'fast', image: k.bzImage });
    expect(await pickBoot('legacy', k)).toMatchObject({ boot: 'legacy', image: k.bzImage, qboot: null });
  });
});
