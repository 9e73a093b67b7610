/**
 * Options -> QEMU argv, as a pure function: testable, and it is what
 * `krepro run --dry-run` prints so users can reproduce a run by hand.
 */

/**
 * How the guest gets from QEMU's start to the kernel. Both use the same
 * `pc` machine and the same devices (two 16550 serial ports, QMP, vsock,
 * NMI injection), so every feature works the same on either:
 *
 * - legacy: QEMU's default firmware, SeaBIOS, which runs POST and then
 *   QEMU's linuxboot option ROM to load the bzImage (what krepro did first).
 * - fast: qboot (`-bios qboot.rom`, shipped in Debian's qemu-system-data),
 *   a minimal firmware that reads the kernel and initrd straight through
 *   fw_cfg DMA and jumps in: no POST, no option ROMs. The kernel command
 *   line then also gets fastBootCmdline() (src/vm/kernel-cmdline.ts).
 * - pvh: qboot again, but QEMU is given the uncompressed vmlinux of the same
 *   build, an ELF with a PVH entry note (CONFIG_PVH=y, kconfigs/base.config):
 *   QEMU loads its segments and qboot jumps straight to the kernel's 32-bit
 *   PVH entry, so nothing runs the bzImage's real-mode setup or its
 *   decompressor (about 1.1 s of TCG time for an XZ bzImage here). Same
 *   command-line items as fast. plan.ts falls back to fast, and says why,
 *   for a kernel without a PVH vmlinux.
 */
export type BootPath = 'legacy' | 'fast' | 'pvh';
export const BOOT_PATHS: readonly BootPath[] = ['legacy', 'fast', 'pvh'];

export interface QemuSpec {
  binary?: string;
  name: string;
  accel: 'kvm' | 'tcg';
  cpus: number;
  memoryMb: number;
  kernel: string;              // what -kernel gets: the bzImage, or for boot 'pvh' the vmlinux
  initrd: string;
  append: string;
  artifactFile: string;        // second serial port -> this file
  qmpSocket: string;
  vsockCid: number | null;     // vhost-vsock-pci guest CID, when the host has /dev/vhost-vsock
  boot?: BootPath;             // default legacy
  qboot?: string;              // the qboot image for boot 'fast' and 'pvh' (findQboot in src/vm/firmware.ts)
  extra?: string[];
}

export function qemuArgv(s: QemuSpec): string[] {
  const qboot = s.boot === 'fast' || s.boot === 'pvh';
  if (qboot && !s.qboot) throw new Error(`boot path ${s.boot} needs the qboot image (QemuSpec.qboot)`);
  const argv = [
    s.binary ?? process.env.KREPRO_QEMU ?? 'qemu-system-x86_64',
    '-name', s.name,
    '-machine', 'pc',
    ...(qboot ? ['-bios', s.qboot!] : []),
    ...(s.accel === 'kvm' ? ['-accel', 'kvm', '-cpu', 'host'] : ['-accel', 'tcg,thread=multi', '-cpu', 'max']),
    '-smp', String(s.cpus),
    '-m', `${s.memoryMb}M`,
    '-nodefaults',
    '-no-reboot',
    '-display', 'none',
    '-kernel', s.kernel,
    '-initrd', s.initrd,
    '-append', s.append,
    // ttyS0: the console, on our stdout; ttyS1: bulk artifacts, to a file.
    '-chardev', 'stdio,id=con,signal=off',
    '-serial', 'chardev:con',
    '-chardev', `file,id=art,path=${s.artifactFile}`,
    '-serial', 'chardev:art',
    '-qmp', `unix:${s.qmpSocket},server=on,wait=off`,
  ];
  if (s.vsockCid !== null) argv.push('-device', `vhost-vsock-pci,guest-cid=${s.vsockCid}`);
  argv.push(...(s.extra ?? []));
  return argv;
}

/**
 * The KVM probe's QEMU (src/vm/kvm.ts): the run's machine type and CPU
 * model for the accelerator, one vCPU, 16 MB, no devices but
 * isa-debug-exit. The payload (a multiboot image) enters long mode and
 * writes a byte to that device, so QEMU exits with (byte << 1) | 1 only if
 * a vCPU really ran guest code under the accelerator.
 */
export const PROBE_EXIT_PORT = 0xf4;

export function probeArgv(p: { binary?: string; accel: 'kvm' | 'tcg'; payload: string }): string[] {
  return [
    p.binary ?? process.env.KREPRO_QEMU ?? 'qemu-system-x86_64',
    '-machine', 'pc',
    ...(p.accel === 'kvm' ? ['-accel', 'kvm', '-cpu', 'host'] : ['-accel', 'tcg', '-cpu', 'max']),
    '-smp', '1',
    '-m', '16M',
    '-nodefaults',
    '-no-reboot',
    '-display', 'none',
    '-kernel', p.payload,
    '-device', `isa-debug-exit,iobase=0x${PROBE_EXIT_PORT.toString(16)},iosize=0x04`,
  ];
}
