import { readFileSync } from 'node:fs';
import { describe, it, expect } from 'vitest';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { qemuArgv } from '../../src/vm/qemu-args.ts';
import { kernelCmdline, tscKhzFromCpuinfo, hzFromConfig } from '../../src/vm/kernel-cmdline.ts';
import { parseRegisters, parseMemoryDump } from '../../src/vm/qmp.ts';
import { parseSystemMap, symbolize } from '../../src/vm/symbols.ts';
import { allocateCid } from '../../src/vm/cid.ts';

const spec = { name: 'krepro-x', accel: 'tcg' as const, cpus: 4, memoryMb: 1024, kernel: '/k/bzImage', initrd: '/k/initrd', append: 'console=ttyS0', artifactFile: '/r/artifacts.raw', qmpSocket: '/t/qmp.sock', vsockCid: null };

describe('QEMU argv', () => {
  it('TCG: multi-threaded, -cpu max, -smp, -m, no reboot, two serial ports, QMP', () => {
    const a = qemuArgv(spec);
    const after = (flag: string) => a[a.indexOf(flag) + 1];
    expect(a[0]).toBe('qemu-system-x86_64');
    expect(after('-accel')).toBe('tcg,thread=multi');
    expect(after('-cpu')).toBe('max');
    expect(after('-smp')).toBe('4');
    expect(after('-m')).toBe('1024M');
    expect(a).toContain('-no-reboot');
    expect(a.filter((x) => x === '-serial')).toHaveLength(2);
    expect(a).toContain('file,id=art,path=/r/artifacts.raw');
    expect(after('-qmp')).toBe('unix:/t/qmp.sock,server=on,wait=off');
    expect(a.join(' ')).not.toContain('vhost-vsock');
  });
  it('KVM uses the host CPU; a vsock CID adds vhost-vsock-pci', () => {
    const a = qemuArgv({ ...spec, accel: 'kvm', vsockCid: 7 });
    expect(a.slice(a.indexOf('-accel'), a.indexOf('-accel') + 4)).toEqual(['-accel', 'kvm', '-cpu', 'host']);
    expect(a).toContain('vhost-vsock-pci,guest-cid=7');
  });
  it('the kernel command line is one argv element whatever it contains', () => {
    const a = qemuArgv({ ...spec, append: 'a b "c d"; rm -rf /' });
    expect(a[a.indexOf('-append') + 1]).toBe('a b "c d"; rm -rf /');
  });
});

describe('kernel command line', () => {
  it('TCG gets highres=off and lpj from the host TSC; KVM does not', () => {
    const tcg = kernelCmdline({ accel: 'tcg', hz: 250, tscKhz: 2096000, guestItems: ['krepro.duration=5'] });
    expect(tcg).toContain('highres=off');
    expect(tcg).toContain('lpj=8384000');
    expect(tcg).toContain('console=ttyS0,115200');
    expect(tcg).toContain('softlockup_panic=1');
    expect(tcg).toContain('ftrace_dump_on_oops');
    expect(tcg.endsWith('krepro.duration=5')).toBe(true);
    const kvm = kernelCmdline({ accel: 'kvm', hz: 250, tscKhz: 2096000, guestItems: [] });
    expect(kvm).not.toContain('highres=off');
    expect(kvm).not.toContain('lpj=');
  });
  it('self-tests use the short thresholds; --append comes last', () => {
    const s = kernelCmdline({ accel: 'tcg', hz: 250, tscKhz: null, selfTest: 'soft-lockup', guestItems: [], userAppend: ' loglevel=8 ' });
    expect(s).toContain('watchdog_thresh=5');
    expect(s).toContain('rcupdate.rcu_cpu_stall_timeout=60');
    expect(kernelCmdline({ accel: 'kvm', hz: 250, tscKhz: null, selfTest: 'hung-task', guestItems: [] })).toContain('sysctl.kernel.hung_task_timeout_secs=10');
    expect(s).not.toContain('lpj=');
    expect(s.endsWith('loglevel=8')).toBe(true);
    const d = kernelCmdline({ accel: 'tcg', hz: 250, tscKhz: null, guestItems: [] });
    expect(d).toContain('watchdog_thresh=10');
    expect(d).toContain('rcupdate.rcu_cpu_stall_timeout=21');
  });
  it('reads TSC and HZ', () => {
    expect(tscKhzFromCpuinfo('processor\t: 0\ncpu MHz\t\t: 2096.060\n')).toBe(2096060);
    expect(tscKhzFromCpuinfo('')).toBeNull();
    expect(hzFromConfig('CONFIG_HZ_100=y\nCONFIG_HZ=100\n')).toBe(100);
  });
});

describe('QMP register dump and symbols', () => {
  const regs = `CPU#0
RAX=0000000000000000 RBX=ffffffff82a0c940 RCX=0000000000000001 RDX=0000000000000001
RSI=0000000000000000 RDI=ffff88803ec2a640 RBP=ffff88803ec2a640 RSP=ffffc90000003e60
RIP=ffffffff81001234 RFL=00000002 [-------] CPL=0 II=0 A20=1 SMM=0 HLT=0
CPU#1
RIP=ffffffff81002010 RFL=00000002 [-------] CPL=0 II=0 A20=1 SMM=0 HLT=0
`;
  it('parses every vCPU', () => {
    expect(parseRegisters(regs).map(({ cpu, rip }) => ({ cpu, rip }))).toEqual([{ cpu: 0, rip: 'ffffffff81001234' }, { cpu: 1, rip: 'ffffffff81002010' }]);
  });
  it('reads interrupts (RFL.IF), halt and privilege from a real 4-vCPU dump of the 7.2 stall', () => {
    const real = readFileSync(join(import.meta.dirname, 'data', 'info-registers-a.txt'), 'utf8');
    expect(parseRegisters(real)).toEqual([
      { cpu: 0, rip: 'ffffffff81275d0c', rflags: 0x46, interruptsOn: false, cpl: 0, halted: false },
      { cpu: 1, rip: 'ffffffff815a6ae3', rflags: 0x02, interruptsOn: false, cpl: 0, halted: false },
      { cpu: 2, rip: 'ffffffff815a6df8', rflags: 0x06, interruptsOn: false, cpl: 0, halted: false },
      { cpu: 3, rip: 'ffffffff8127b0e9', rflags: 0x02, interruptsOn: false, cpl: 0, halted: false },
    ]);
    expect(parseRegisters('CPU#0\nRIP=ffffffff81001234 RFL=00000246 [---Z-P-] CPL=0 II=0 A20=1 SMM=0 HLT=1\n')[0]).toMatchObject({ interruptsOn: true, halted: true });
  });
  it('symbolizes with System.map', () => {
    const map = parseSystemMap('ffffffff81001000 T queued_spin_lock_slowpath\nffffffff81001300 t mm_cid_get\nffffffff81002000 T mm_cid_get_slow\nffffffff81003000 T _etext\n');
    expect(symbolize(map, 'ffffffff81001234')).toBe('queued_spin_lock_slowpath+0x234/0x300');
    expect(symbolize(map, 'ffffffff81002010')).toBe('mm_cid_get_slow+0x10/0x1000');
    expect(symbolize(map, '0000000000001000')).toBeNull();
  });
});

// vsock CIDs: test/util/lock.test.ts (they are locks).

describe('HMP memory dump (a vCPU\'s stack)', () => {
  it('reads the words of `x/Ngx $sp`, zero-padded hex without 0x', () => {
    const text = 'ff1100003ea04de0: 0xffffffff81275fcc 0x0000000000000001\r\nff1100003ea04df0: 0xff1100000025a380 0x0\r\n';
    expect(parseMemoryDump(text)).toEqual(['ffffffff81275fcc', '0000000000000001', 'ff1100000025a380', '0000000000000000']);
    expect(parseMemoryDump('Invalid parameter')).toEqual([]);
  });
});

describe('System.map symbols end where the next symbol of any kind begins', () => {
  it('an address past the last function, in the data after it, is not text (a stack word there is not a frame)', () => {
    const t = parseSystemMap([
      'ffffffff81fe6000 t vsock_loopback_init',
      'ffffffff81fe620b t vsock_loopback_exit',
      'ffffffff81fe7000 D __per_cpu_start',
      'ffffffff81fe8000 D irq_stack_backing_store',
    ].join('\n'));
    expect(symbolize(t, 'ffffffff81fe6210')).toBe('vsock_loopback_exit+0x5/0xdf5');
    expect(symbolize(t, 'ffffffff8200ba80')).toBeNull();
    expect(symbolize(t, 'ffffffff81fe7004')).toBeNull();
  });
});
