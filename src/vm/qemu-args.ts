/**
 * Options -> QEMU argv, as a pure function: testable, and it is what
 * `krepro run --dry-run` prints so users can reproduce a run by hand.
 */
export interface QemuSpec {
  binary?: string;
  name: string;
  accel: 'kvm' | 'tcg';
  cpus: number;
  memoryMb: number;
  kernel: string;
  initrd: string;
  append: string;
  artifactFile: string;        // second serial port -> this file
  qmpSocket: string;
  vsockCid: number | null;     // vhost-vsock-pci guest CID, when the host has /dev/vhost-vsock
  extra?: string[];
}

export function qemuArgv(s: QemuSpec): string[] {
  const argv = [
    s.binary ?? process.env.KREPRO_QEMU ?? 'qemu-system-x86_64',
    '-name', s.name,
    '-machine', 'pc',
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
