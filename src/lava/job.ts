import { stringify } from 'yaml';
import { GROUPS } from '../console/rules/index.ts';
import { INIT_MARKER } from '../run/monitor.ts';

/**
 * `krepro lava-job`: a LAVA job definition for the `qemu` device type, the
 * way KernelCI, LKFT and company labs boot kernels (tuxrun runs the same
 * shape locally): deploy to tmpfs our bzImage and initramfs, boot them with
 * our kernel command line, and watch the console with a LAVA test monitor
 * whose pattern is the start lines of our detectors. The guest needs no
 * login and no LAVA test shell: guest/init runs the workload (or the
 * self-test) and powers off, as under `krepro run`.
 *
 * LAVA's own result (the monitor's test cases) is informational; the
 * verdict comes from `krepro import-lava LOG`, which runs the job's console
 * through the same classifier and verdict rules as `krepro run`.
 */
export interface LavaJobSpec {
  name: string;
  kernelUrl: string;          // file:///... or http(s)://...
  initrdUrl: string;
  append: string;             // kernelCmdline(...) with the krepro.* items
  cpus: number;
  memoryMb: number;
  accel: 'kvm' | 'tcg';
  timeoutMin: number;         // the job's whole budget
}

/** Python-regex-safe alternation of our detectors' report start strings (shared with live detection). */
export function detectorPattern(): string {
  const esc = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  return GROUPS.map((g) => esc(g.header)).join('|');
}

export function lavaJob(s: LavaJobSpec): string {
  if (/"/.test(s.append)) throw new Error('the kernel command line may not contain double quotes inside a LAVA image_arg');
  const qemuOpts = [
    '-smp', String(s.cpus), '-m', `${s.memoryMb}M`,
  ];
  const job = {
    device_type: 'qemu',
    job_name: s.name,
    priority: 'medium',
    visibility: 'public',
    timeouts: {
      job: { minutes: s.timeoutMin },
      action: { minutes: s.timeoutMin },
      connection: { minutes: 2 },
    },
    context: {
      arch: 'amd64',
      // the device type's own -cpu/-machine/-enable-kvm choice, like our QEMU backend's
      cpu: s.accel === 'kvm' ? 'host' : 'max',
      machine: 'pc',
      memory: s.memoryMb,
      no_kvm: s.accel !== 'kvm',
      no_network: true,
    },
    actions: [
      {
        deploy: {
          to: 'tmpfs',
          timeout: { minutes: 5 },
          images: {
            // vCPUs, memory and -no-reboot ride with the kernel: a rendered device
            // dictionary (lava-run) takes no job context, and QEMU keeps the last -smp/-m.
            kernel: { image_arg: `-kernel {kernel} -append "${s.append}" ${[...qemuOpts, '-no-reboot'].join(' ')}`, url: s.kernelUrl },
            ramdisk: { image_arg: '-initrd {ramdisk}', url: s.initrdUrl },
          },
        },
      },
      { boot: { method: 'qemu', media: 'tmpfs', timeout: { minutes: 3 } } },
      {
        test: {
          timeout: { minutes: Math.max(1, s.timeoutMin - 8) },
          monitors: [
            {
              name: 'krepro',
              start: INIT_MARKER,
              end: 'krepro-init: poweroff',
              // one test case per report our detectors would stop on; the result is always fail
              pattern: `(?P<test_case_id>${detectorPattern()})(?P<result>)`,
              fixupdict: { '': 'fail' },
            },
          ],
        },
      },
    ],
  };
  return `# LAVA job written by krepro lava-job (device type qemu); judge its log with krepro import-lava\n${stringify(job, { lineWidth: 0 })}`;
}

/**
 * A device dictionary for a local `lava-run` (rendered, as lava-server would
 * from the qemu device type's template): QEMU on this host, the options of
 * our QEMU backend that the qemu device type leaves to the device.
 */
export function lavaQemuDevice(o: { accel: 'kvm' | 'tcg'; qemu?: string }): string {
  const device = {
    constants: {
      posix: { lava_test_sh_cmd: '/bin/sh', lava_test_results_dir: '/lava-%s', lava_test_shell_file: '~/.bashrc' },
      'shutdown-message': 'The system is going down for reboot NOW',
      'kernel-start-message': 'Linux version [0-9]',
      'default-shell-prompt': 'lava-test: # ',
      spawn_maxread: '4092',
      failure_retry: 1,   // one attempt: a failed boot is our verdict's to judge, not LAVA's to retry
      boot_retry: 1,
    },
    parameters: { pass: null },
    available_architectures: ['amd64', 'x86_64'],
    actions: {
      deploy: { connections: { serial: null }, methods: { tmpfs: null, image: { parameters: { guest: { size: 512, interface: 'ide', driveid: 'lavatest' } } } } },
      boot: {
        connections: { serial: null },
        methods: {
          qemu: {
            parameters: {
              command: o.qemu ?? 'qemu-system-x86_64',
              boot_options: { root: '/dev/ram0', console: 'ttyS0,115200' },
              options: [
                o.accel === 'kvm' ? '-accel kvm -cpu host' : '-accel tcg,thread=multi -cpu max',
                '-machine pc',
                '-nographic',
                '-nic none',
                '-monitor none',
              ],
            },
          },
        },
      },
    },
    timeouts: {
      actions: { 'power-off': { seconds: 10 } },
      connections: {},
    },
  };
  return `# LAVA device dictionary (qemu) for a local lava-run, written by krepro lava-job\n${stringify(device, { lineWidth: 0 })}`;
}
