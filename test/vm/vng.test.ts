import { describe, it, expect } from 'vitest';
import { mkdtemp, writeFile, chmod, mkdir, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { vngArgv, vngQemuOpts, checkVngSpec, vngGuestScript, planVng, findVng, vngFact, type VngSpec } from '../../src/vm/vng.ts';
import { vngLauncher } from '../../src/vm/vng-process.ts';
import { resolveRunOptions } from '../../src/run/run.ts';
import { splitArtifacts } from '../../src/run/artifacts-channel.ts';
import { parseCounters, INIT_MARKER } from '../../src/run/monitor.ts';

const spec: VngSpec = {
  vng: '/opt/vng/vng',
  kernel: '/tmp/k/bzImage',
  accel: 'tcg',
  cpus: 4,
  memoryMb: 1024,
  append: 'console=ttyS0,115200 panic=-1 watchdog_thresh=10',
  exec: 'sh /r/run-1/vng-guest.sh',
  rwdirs: ['/r/run-1'],
  qmpSocket: '/tmp/krepro-x/qmp.sock',
  vsockCid: null,
};
const after = (a: string[], flag: string) => a[a.indexOf(flag) + 1];

describe('vng argv', () => {
  it('maps vCPUs to --cpus, memory to --memory, TCG to --disable-kvm', () => {
    const a = vngArgv(spec);
    expect(a[0]).toBe('/opt/vng/vng');
    expect(after(a, '--run')).toBe('/tmp/k/bzImage');
    expect(after(a, '--cpus')).toBe('4');
    expect(after(a, '--memory')).toBe('1024M');
    expect(a).toContain('--disable-kvm');
    expect(vngArgv({ ...spec, cpus: 2, memoryMb: 2048, accel: 'kvm' })).not.toContain('--disable-kvm');
    expect(after(vngArgv({ ...spec, cpus: 2, memoryMb: 2048 }), '--cpus')).toBe('2');
    expect(after(vngArgv({ ...spec, cpus: 2, memoryMb: 2048 }), '--memory')).toBe('2048M');
  });
  it('boots over 9p without touching the kernel dir and shows the console', () => {
    const a = vngArgv(spec);
    for (const f of ['--force-9p', '--skip-modules', '--verbose', '--disable-microvm']) expect(a).toContain(f);
    expect(after(a, '--rwdir')).toBe('/r/run-1');
    expect(after(a, '--exec')).toBe('sh /r/run-1/vng-guest.sh');
  });
  it('the kernel command line is one --append value', () => {
    const a = vngArgv({ ...spec, append: 'a b "c d"' });
    expect(a.filter((x) => x === '--append')).toHaveLength(1);
    expect(after(a, '--append')).toBe('a b "c d"');
  });
  it('extra QEMU options use the --qemu-opts= form, last, with QMP and vhost-vsock', () => {
    const a = vngArgv({ ...spec, vsockCid: 7 });
    const last = a[a.length - 1];
    expect(last.startsWith('--qemu-opts=')).toBe(true);
    expect(a).not.toContain('--qemu-opts');
    expect(last).toBe('--qemu-opts=-qmp unix:/tmp/krepro-x/qmp.sock,server=on,wait=off -device vhost-vsock-pci,guest-cid=7');
    expect(vngArgv(spec).at(-1)).not.toContain('vhost-vsock');
    expect(vngQemuOpts({ qmpSocket: '/s', vsockCid: null, extraQemu: ['-d', 'guest_errors'] })).toEqual(['-qmp', 'unix:/s,server=on,wait=off', '-d', 'guest_errors']);
  });
  it('rejects paths vng would pass unquoted through its shell', () => {
    expect(() => checkVngSpec(spec)).not.toThrow();
    expect(() => checkVngSpec({ ...spec, rwdirs: ['/r/my results'] })).toThrow(/--backend vng: run dir/);
    expect(() => checkVngSpec({ ...spec, rwdirs: ['/r/x;reboot'] })).toThrow(/run dir/);
    expect(() => checkVngSpec({ ...spec, rwdirs: ['/r/a=b'] })).toThrow(/run dir/);
    expect(() => checkVngSpec({ ...spec, kernel: '/k/$(id)/bzImage' })).toThrow(/kernel/);
    expect(() => checkVngSpec({ ...spec, qmpSocket: '/t/a,b/qmp.sock' })).toThrow(/QMP socket/);
    expect(() => checkVngSpec({ ...spec, extraQemu: ['-d guest_errors'] })).toThrow(/extra QEMU option/);
  });
});

describe('vng guest script', () => {
  const base = { workload: '/c/guest-bin/k/workload', modload: '/c/guest-bin/k/modload', artifactFile: '/r/run-1/artifacts.raw', durationSec: 30 };
  it('prints the init marker first, runs the workload by host path, exits with its status', () => {
    const s = vngGuestScript({ ...base, threads: 8 });
    const lines = s.split('\n');
    expect(lines[2]).toBe(`echo "${INIT_MARKER}"`);
    expect(s).toContain("timeout -s KILL 90 '/c/guest-bin/k/workload' --duration 30 --port 1024 --summary \"$SUM\" --threads 8");
    expect(s).toContain("A='/r/run-1/artifacts.raw'");
    expect(s).toMatch(/exit \$STATUS\n$/);
    expect(s).not.toContain('set_event');
    expect(s).not.toContain('modload');
  });
  it('self-test loads test_lockup by path with the same parameters as guest/init', () => {
    const s = vngGuestScript({ ...base, selfTest: 'rcu-stall', testLockupKo: '/b/modinst/lib/modules/6.12/kernel/lib/test_lockup.ko' });
    expect(s).toContain("'/c/guest-bin/k/modload' '/b/modinst/lib/modules/6.12/kernel/lib/test_lockup.ko' 'time_secs=15 lock_rcu=1'");
    expect(s).not.toContain('/c/guest-bin/k/workload');
    const none = vngGuestScript({ ...base, selfTest: 'soft-lockup', testLockupKo: null });
    expect(none).toContain('test_lockup.ko not found');
    expect(() => vngGuestScript({ ...base, selfTest: 'bogus' as never })).toThrow(/unknown self-test/);
  });
  it('tracing: each event quoted, so mmcid:* is never globbed', () => {
    const s = vngGuestScript({ ...base, traceEvents: ['mmcid:*', 'sched:sched_switch'], traceBufferKb: 4096 });
    expect(s).toContain("for ev in 'mmcid:*' 'sched:sched_switch'; do");
    expect(s).toContain('echo 4096 >$T/buffer_size_kb');
    expect(s).toContain('krepro-artifact-begin trace.txt');
  });
  it('runs under a real sh and writes framed artifacts our channel parser reads', async () => {
    // The script's own logic, on the host, with a stand-in workload: a
    // shell script that prints a heartbeat and writes the summary file.
    const d = await mkdtemp(join(tmpdir(), 'krepro-vngscript-'));
    const fake = join(d, 'workload');
    await writeFile(fake, '#!/bin/sh\nwhile [ $# -gt 0 ]; do case "$1" in --summary) S=$2; shift;; esac; shift; done\necho "krepro-hb t=1 spawns=3 forks=2 vforks=1 threads=4 accepts=5 connects=5"\necho "krepro-done rc=0 t=1.0 spawns=3" >"$S"\necho "krepro-done rc=0 t=1.0 spawns=3"\nexit 0\n');
    await chmod(fake, 0o755);
    const art = join(d, 'artifacts.raw');
    const script = join(d, 'g.sh');
    await writeFile(script, vngGuestScript({ ...base, workload: fake, artifactFile: art, durationSec: 1 }));
    const r = await execa('sh', [script], { reject: false });
    expect(r.exitCode).toBe(0);
    const out = String(r.stdout).split('\n');
    expect(out[0]).toBe(INIT_MARKER);
    expect(parseCounters(out.find((l) => l.startsWith('krepro-hb'))!)).toMatchObject({ spawns: 3, accepts: 5 });
    const files = splitArtifacts(await readFile(art, 'utf8'));
    expect(files['workload.txt']).toContain('krepro-done rc=0');
    expect(files['guest.txt']).toContain('status=0');
    expect(files['guest.txt']).toContain('backend=vng');
  });
});

describe('planVng', () => {
  it('dry run (no run dir): the vng command with our kernel command line, nothing prepared', async () => {
    const o = resolveRunOptions({ backend: 'vng', cpus: 3, memoryMb: 1536, accel: 'tcg', append: 'foo=1' });
    const runDir = join(tmpdir(), 'krepro-no-such-dir', '<run-id>');
    const plan = await planVng(o, { bzImage: '/k/bzImage', configText: 'CONFIG_HZ=1000\n' }, runDir, '<tmp>', 'tcg', null);
    expect(after(plan.argv, '--cpus')).toBe('3');
    expect(after(plan.argv, '--memory')).toBe('1536M');
    expect(after(plan.argv, '--run')).toBe('/k/bzImage');
    expect(plan.append).toContain('highres=off');
    expect(plan.append).toMatch(/ foo=1$/);
    expect(plan.append).not.toContain('krepro.');
    expect(after(plan.argv, '--append')).toBe(plan.append);
    expect(plan.accel).toBe('tcg');
    expect(plan.vsockCid).toBeNull();
  });
  it('a real run without vng is an environment error that says what to do', async () => {
    const runDir = await mkdtemp(join(tmpdir(), 'krepro-vngplan-'));
    const o = resolveRunOptions({ backend: 'vng' });
    const save = { p: process.env.PATH, v: process.env.KREPRO_VNG };
    process.env.PATH = '/nonexistent';
    process.env.KREPRO_VNG = join(runDir, 'missing-vng');
    try {
      await expect(planVng(o, { bzImage: '/k/bzImage', configText: null }, runDir, join(runDir, 'sock'), 'tcg')).rejects.toThrow(/vng not found.*KREPRO_VNG/);
    } finally {
      process.env.PATH = save.p;
      if (save.v === undefined) delete process.env.KREPRO_VNG;
      else process.env.KREPRO_VNG = save.v;
    }
  });
});

describe('finding vng', () => {
  it('KREPRO_VNG wins over PATH; a non-executable is not vng', async () => {
    const d = await mkdtemp(join(tmpdir(), 'krepro-vngfind-'));
    await mkdir(join(d, 'bin'));
    const onPath = join(d, 'bin', 'vng');
    await writeFile(onPath, '#!/bin/sh\necho "virtme-ng 9.9"\n');
    await chmod(onPath, 0o755);
    const other = join(d, 'other-vng');
    await writeFile(other, '#!/bin/sh\necho "virtme-ng 1.2.3"\n');
    expect(await findVng({ PATH: join(d, 'bin') })).toBe(onPath);
    expect(await findVng({ PATH: join(d, 'bin'), KREPRO_VNG: other })).toBeNull(); // not executable
    await chmod(other, 0o755);
    expect(await findVng({ PATH: join(d, 'bin'), KREPRO_VNG: other })).toBe(other);
    expect(await findVng({ PATH: '/nonexistent' })).toBeNull();
    const f = await vngFact({ PATH: `${join(d, 'bin')}:/usr/bin:/bin`, KREPRO_VNG: other });
    expect(f.value).toContain('virtme-ng 1.2.3');
    expect(f.value).toMatch(/udev (present|missing)/);
    const missing = await vngFact({ PATH: '/nonexistent' });
    expect(missing.ok).toBe(false);
    expect(missing.hint).toMatch(/KREPRO_VNG/);
  });
});

describe('vng launcher', () => {
  it('root gets a PID namespace, others a user+PID namespace, both kill the child with the parent', () => {
    expect(vngLauncher(0)).toEqual(['unshare', '--pid', '--fork', '--kill-child=SIGKILL', '--']);
    expect(vngLauncher(1000)).toContain('--map-current-user');
    expect(vngLauncher(1000)).toContain('--kill-child=SIGKILL');
  });
});
