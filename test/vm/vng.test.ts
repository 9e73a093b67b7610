import { describe, it, expect } from 'vitest';
import { mkdtemp, writeFile, chmod, mkdir, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { vngArgv, vngQemuOpts, checkVngSpec, vngGuestCommand, planVng, findVng, vngFact, type VngSpec } from '../../src/vm/vng.ts';
import { guestDir } from '../../src/util/paths.ts';
import { SELF_TESTS } from '../../src/image/guest-cmdline.ts';
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
  exec: 'sh /r/run-1/guest-init --backend vng',
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
    expect(after(a, '--exec')).toBe('sh /r/run-1/guest-init --backend vng');
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

describe('vng guest command: guest/init itself', () => {
  const cmd = { init: '/r/run-1/guest-init', workload: '/c/guest-bin/k/workload', modload: '/c/guest-bin/k/modload', artifactFile: '/r/run-1/artifacts.raw', modulesDir: '/b/modinst' };
  it('runs the copy of guest/init with --backend vng and the host paths', () => {
    expect(vngGuestCommand(cmd)).toBe('sh /r/run-1/guest-init --backend vng --artifacts /r/run-1/artifacts.raw --workload-bin /c/guest-bin/k/workload --modload-bin /c/guest-bin/k/modload --modules /b/modinst');
    expect(vngGuestCommand({ ...cmd, modulesDir: null })).toMatch(/--modules none$/);
    expect(vngGuestCommand({ ...cmd, init: "/r/it's/guest-init" })).toContain(`'/r/it'\\''s/guest-init'`);
  });

  // guest/init in vng mode, on the host under a real sh, with stand-ins for
  // the static binaries that record what they were given.
  const setup = async (cmdline: string) => {
    const d = await mkdtemp(join(tmpdir(), 'krepro-vnginit-'));
    const fake = join(d, 'workload');
    await writeFile(fake, '#!/bin/sh\necho "args: $*" >' + join(d, 'workload.args') + '\nwhile [ $# -gt 0 ]; do case "$1" in --summary) S=$2; shift;; esac; shift; done\necho "krepro-hb t=1 spawns=3 forks=2 vforks=1 threads=4 accepts=5 connects=5"\necho "krepro-done rc=0 t=1.0 spawns=3" >"$S"\necho "krepro-done rc=0 t=1.0 spawns=3"\nexit 0\n');
    const modload = join(d, 'modload');
    await writeFile(modload, '#!/bin/sh\necho "$1|$2" >' + join(d, 'modload.args') + '\nexit 0\n');
    await chmod(fake, 0o755);
    await chmod(modload, 0o755);
    await mkdir(join(d, 'modinst', 'lib', 'modules', '6.12.0', 'kernel', 'lib'), { recursive: true });
    await writeFile(join(d, 'modinst', 'lib', 'modules', '6.12.0', 'kernel', 'lib', 'test_lockup.ko'), '');
    await writeFile(join(d, 'cmdline'), cmdline + '\n');
    const art = join(d, 'artifacts.raw');
    const c = vngGuestCommand({ init: join(guestDir(), 'init'), workload: fake, modload, artifactFile: art, modulesDir: join(d, 'modinst') });
    const r = await execa('sh', ['-c', `${c} --cmdline ${join(d, 'cmdline')}`], { reject: false });
    return { d, r, art, out: String(r.stdout).split('\n') };
  };

  it('prints the init marker first, runs the workload with the krepro.* items, writes framed artifacts, exits with its status', async () => {
    const { d, r, art, out } = await setup('console=ttyS0 krepro.duration=7 krepro.threads=8 krepro.workload=mode=cells,cell-threads=6');
    expect(r.exitCode, r.stderr).toBe(0);
    expect(out[0]).toBe(INIT_MARKER);
    expect(out.find((l) => l.includes('backend=vng'))).toBeTruthy();
    expect(parseCounters(out.find((l) => l.startsWith('krepro-hb'))!)).toMatchObject({ spawns: 3, accepts: 5 });
    expect(await readFile(join(d, 'workload.args'), 'utf8')).toMatch(/^args: --duration 7 --port 1024 --summary \S+ --threads 8 --mode cells --cell-threads 6\n$/);
    const files = splitArtifacts(await readFile(art, 'utf8'));
    expect(files['workload.txt']).toContain('krepro-done rc=0');
    expect(files['guest.txt']).toContain('status=0');
    expect(files['guest.txt']).toContain('backend=vng');
    expect(out.at(-1)).toBe('krepro-init: exit 0');
  });

  it('every self-test kind loads test_lockup.ko from the build\'s modules with guest/init\'s parameters', async () => {
    const want: Record<string, string> = {
      'soft-lockup': 'time_secs=25 disable_preempt=1',
      'rcu-stall': 'time_secs=15 lock_rcu=1',
      'hung-task': 'time_secs=30 state=D',
      'silent-hang': 'time_secs=600 all_cpus=1 disable_irq=1',
    };
    for (const kind of SELF_TESTS) {
      const { d, r, art } = await setup(`krepro.selftest=${kind}`);
      expect(r.exitCode, `${kind}: ${r.stdout}`).toBe(0);
      expect(await readFile(join(d, 'modload.args'), 'utf8')).toBe(`${join(d, 'modinst', 'lib', 'modules', '6.12.0', 'kernel', 'lib', 'test_lockup.ko')}|${want[kind]}\n`);
      expect(splitArtifacts(await readFile(art, 'utf8'))['guest.txt']).toContain(`selftest=${kind}`);
    }
  });

  it('a self-test without test_lockup.ko says so and exits 125', async () => {
    const d = await mkdtemp(join(tmpdir(), 'krepro-vnginit-'));
    await writeFile(join(d, 'cmdline'), 'krepro.selftest=soft-lockup\n');
    const c = vngGuestCommand({ init: join(guestDir(), 'init'), workload: '/bin/false', modload: '/bin/false', artifactFile: join(d, 'a'), modulesDir: null });
    const r = await execa('sh', ['-c', `${c} --cmdline ${join(d, 'cmdline')}`], { reject: false });
    expect(r.exitCode).toBe(125);
    expect(r.stdout).toContain('test_lockup.ko not found in none');
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
    // the run parameters travel as for the QEMU backend: krepro.* items that guest/init reads
    expect(plan.append).toContain('krepro.duration=60');
    expect(after(plan.argv, '--exec')).toMatch(/^sh '?\S+\/guest-init'? --backend vng /);
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
