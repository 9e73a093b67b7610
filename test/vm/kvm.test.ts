import { describe, it, expect, vi } from 'vitest';
import { mkdtemp, readFile, mkdir, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  cpuHasVirt, probeKvmOn, judgeStart, decideAccel, fallBackToTcg, fallbackNotifier, probePayload, startProbeGuest,
  probeKvm, realKvmHost, probeCacheFile, PROBE_EXIT_CODE, type KvmHost, type KvmProbeRecord,
} from '../../src/vm/kvm.ts';
import { kvmStartFailure, qemuVersion, type QemuOnce } from '../../src/vm/qemu.ts';
import { probeArgv } from '../../src/vm/qemu-args.ts';
import { kvmFact } from '../../src/doctor/facts.ts';
import { KreproError } from '../../src/util/errors.ts';

const VMX = 'processor\t: 0\nflags\t\t: fpu vme msr pae vmx ept hypervisor\n';
const SVM = 'processor\t: 0\nflags\t\t: fpu vme msr pae svm npt\n';
const NONE = 'processor\t: 0\nflags\t\t: fpu vme msr pae hypervisor avx512f\nvmx flags\t: none\n';
const ASSERT = "qemu-system-x86_64: ../target/i386/kvm/kvm.c:3047: kvm_buf_set_msrs: Assertion `ret == cpu->kvm_msr_buf->nmsrs' failed.";

const ok: QemuOnce = { code: PROBE_EXIT_CODE, signal: null, stderr: '', timedOut: false, ms: 180 };
const aborted: QemuOnce = { code: null, signal: 'SIGABRT', stderr: ASSERT + '\n', timedOut: false, ms: 90 };

/** A host as plain data; startGuest and save are recorded. */
function host(over: Partial<KvmHost> & { start?: QemuOnce } = {}) {
  const saved: KvmProbeRecord[] = [];
  const start = vi.fn(async () => over.start ?? ok);
  const h: KvmHost = {
    cpuinfo: VMX, devKvm: 'rw', bootId: 'boot-1', qemu: 'qemu-system-x86_64', cached: null,
    startGuest: start, save: async (r) => void saved.push(r), now: () => new Date('2026-01-01T00:00:00Z'),
    ...over,
  };
  return { h, saved, start };
}

describe('KVM probe: what it checks, in order', () => {
  it('reads vmx or svm from the flags line only', () => {
    expect(cpuHasVirt(VMX)).toBe(true);
    expect(cpuHasVirt(SVM)).toBe(true);
    expect(cpuHasVirt(NONE)).toBe(false);
    expect(cpuHasVirt('flags\t: fpu vmx_ept\n')).toBe(false);
  });

  it('no vmx/svm flag: not usable, says so, and starts no QEMU', async () => {
    const { h, start, saved } = host({ cpuinfo: NONE });
    const p = await probeKvmOn(h);
    expect(p.usable).toBe(false);
    expect(p.reason).toBe('no vmx/svm flag in /proc/cpuinfo (nested virtualization not exposed)');
    expect(p.hint).toMatch(/nested virtualization/);
    expect(start).not.toHaveBeenCalled();
    expect(saved).toEqual([]);
  });

  it('/dev/kvm missing or not writable: the reason and the fix', async () => {
    const missing = await probeKvmOn(host({ devKvm: 'missing' }).h);
    expect(missing).toMatchObject({ usable: false, reason: '/dev/kvm missing' });
    expect(missing.hint).toMatch(/modprobe kvm_intel/);
    const ro = await probeKvmOn(host({ devKvm: 'no-access', uid: 1000, devKvmDetail: 'mode 0600, owner 0:0' }).h);
    expect(ro.reason).toBe('/dev/kvm not writable by uid 1000 (mode 0600, owner 0:0)');
    expect(ro.hint).toMatch(/group kvm/);
  });

  it('flags and /dev/kvm fine: a guest that reaches long mode is usable, and the result is cached for this boot', async () => {
    const { h, start, saved } = host();
    const p = await probeKvmOn(h);
    expect(p).toMatchObject({ usable: true, cached: false, ms: 180 });
    expect(p.reason).toMatch(/KVM guest started and reached long mode in 180 ms/);
    expect(start).toHaveBeenCalledTimes(1);
    expect(saved).toEqual([{ bootId: 'boot-1', qemu: 'qemu-system-x86_64', usable: true, reason: p.reason, hint: undefined, ms: 180, at: '2026-01-01T00:00:00.000Z' }]);
  });

  it('QEMU aborting in vCPU setup: not usable, with the assertion as the reason', async () => {
    const p = await probeKvmOn(host({ start: aborted }).h);
    expect(p.usable).toBe(false);
    expect(p.reason).toBe(`qemu -accel kvm failed: ${ASSERT}`);
    expect(p.hint).toMatch(/nested virtualization/);
  });

  it('a guest that never finishes (KVM stuck or crawling) is not usable', () => {
    const v = judgeStart({ code: null, signal: 'SIGKILL', stderr: '', timedOut: true, ms: 8000 });
    expect(v.usable).toBe(false);
    expect(v.reason).toMatch(/did not finish within 8 s/);
  });

  it('any other exit is not usable, with QEMU\'s last line', () => {
    expect(judgeStart({ code: 1, signal: null, stderr: 'qemu-system-x86_64: failed to initialize kvm: Permission denied\n', timedOut: false, ms: 20 }).reason)
      .toBe('qemu -accel kvm failed: qemu-system-x86_64: failed to initialize kvm: Permission denied');
    expect(judgeStart({ code: 1, signal: null, stderr: 'something else\n', timedOut: false, ms: 20 }).reason).toBe('qemu -accel kvm failed: something else');
  });

  it('a QEMU that cannot be executed is reported and not cached', async () => {
    const { h, saved } = host({ start: { code: 127, signal: null, stderr: 'setpriv: failed to execute /x/qemu: No such file or directory', timedOut: false, ms: 3, spawnError: 'setpriv: failed to execute /x/qemu: No such file or directory' } });
    const p = await probeKvmOn(h);
    expect(p.usable).toBe(false);
    expect(p.reason).toMatch(/could not be started: .*No such file/);
    expect(saved).toEqual([]);
  });
});

describe('KVM probe cache: per boot of the host and per QEMU', () => {
  const rec = (o: Partial<KvmProbeRecord> = {}): KvmProbeRecord => ({ bootId: 'boot-1', qemu: 'qemu-system-x86_64', usable: false, reason: `qemu -accel kvm failed: ${ASSERT}`, ms: 90, at: 'x', ...o });

  it('same boot id and QEMU: the cached answer, no QEMU started', async () => {
    const { h, start } = host({ cached: rec() });
    const p = await probeKvmOn(h);
    expect(p).toMatchObject({ usable: false, cached: true, reason: rec().reason });
    expect(start).not.toHaveBeenCalled();
  });

  it('another boot, another QEMU, or fresh (doctor): probed again and saved', async () => {
    for (const [over, opts] of [[{ cached: rec({ bootId: 'boot-0' }) }, {}], [{ cached: rec({ qemu: '/opt/qemu' }) }, {}], [{ cached: rec() }, { fresh: true }]] as const) {
      const { h, start, saved } = host(over);
      const p = await probeKvmOn(h, opts);
      expect(p).toMatchObject({ usable: true, cached: false });
      expect(start).toHaveBeenCalledTimes(1);
      expect(saved[0]).toMatchObject({ bootId: 'boot-1', usable: true });
    }
  });

  it('the cheap checks are never cached: a cache saying usable does not outlive a missing flag', async () => {
    const { h } = host({ cpuinfo: NONE, cached: rec({ usable: true, reason: 'fine' }) });
    expect((await probeKvmOn(h)).usable).toBe(false);
  });

  it('no boot id: probed every time, nothing saved', async () => {
    const { h, saved, start } = host({ bootId: null, cached: rec() });
    await probeKvmOn(h);
    expect(start).toHaveBeenCalledTimes(1);
    expect(saved).toEqual([]);
  });

  it('the real host view reads <cache>/host/kvm-probe.json', async () => {
    const env = { ...process.env, KREPRO_CACHE: await mkdtemp(join(tmpdir(), 'krepro-kvm-')) };
    await mkdir(join(env.KREPRO_CACHE, 'host'), { recursive: true });
    await writeFile(probeCacheFile(env), JSON.stringify(rec()));
    expect(probeCacheFile(env)).toBe(join(env.KREPRO_CACHE, 'host', 'kvm-probe.json'));
    expect((await realKvmHost(env)).cached).toEqual(rec());
  });
});

describe('accelerator decision', () => {
  const yes = { usable: true, reason: 'a KVM guest started and reached long mode in 200 ms' };
  const no = { usable: false, reason: 'no vmx/svm flag in /proc/cpuinfo (nested virtualization not exposed)' };

  it('tcg needs no probe', () => {
    expect(decideAccel('tcg', null)).toMatchObject({ accel: 'tcg', requested: 'tcg', fellBack: false });
  });

  it('auto: KVM when a guest starts, else TCG with the reason', () => {
    expect(decideAccel('auto', yes)).toMatchObject({ accel: 'kvm', fellBack: false });
    const c = decideAccel('auto', no);
    expect(c).toMatchObject({ accel: 'tcg', requested: 'auto', fellBack: true });
    expect(c.reason).toBe(`KVM cannot start a guest here: ${no.reason}; using TCG`);
  });

  it('kvm where KVM cannot start a guest: a one-line environment error (exit 255) naming the reason', () => {
    expect(decideAccel('kvm', yes).accel).toBe('kvm');
    let err: unknown;
    try {
      decideAccel('kvm', no);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(KreproError);
    const k = err as KreproError;
    expect(k.kind).toBe('env');
    expect(k.exitCode).toBe(255);
    expect(k.message).toContain(no.reason);
    expect(k.message).not.toContain('\n');
  });

  it('the fallback is said once per process', () => {
    const out: string[] = [];
    const note = fallbackNotifier((s) => out.push(s));
    note(decideAccel('auto', yes));
    note(decideAccel('auto', no));
    note(decideAccel('auto', no));
    note(fallBackToTcg('qemu -accel kvm failed: x'));
    expect(out).toEqual([`krepro: KVM cannot start a guest here: ${no.reason}; using TCG\n`]);
  });

  it('doctor: what failed and the fix, in text and JSON', () => {
    const f = kvmFact({ ...no, hint: 'enable nested virtualization' });
    expect(f).toMatchObject({ name: 'kvm', ok: false, hint: 'enable nested virtualization', detail: { usable: false, reason: no.reason, fix: 'enable nested virtualization' } });
    expect(f.value).toContain(no.reason);
    expect(kvmFact(yes)).toMatchObject({ ok: true, value: `usable: ${yes.reason}` });
  });
});

describe('QEMU stderr: failures in KVM itself', () => {
  it('finds the KVM line', () => {
    expect(kvmStartFailure(`qemu-system-x86_64: -accel kvm: warning: Number of SMP cpus requested (4) exceeds the recommended cpus supported by KVM (2)\n${ASSERT}\n`)).toBe(ASSERT);
    expect(kvmStartFailure('qemu-system-x86_64: failed to initialize kvm: Permission denied\n')).toMatch(/failed to initialize kvm/);
    expect(kvmStartFailure('Could not access KVM kernel module: No such file or directory\nqemu-system-x86_64: failed to initialize kvm: No such file or directory\n')).toMatch(/Could not access KVM kernel module/);
  });

  it('leaves other start failures alone (those are retried)', () => {
    expect(kvmStartFailure('qemu-system-x86_64: -accel tcg: could not initialize\n')).toBeNull();
    expect(kvmStartFailure('qemu-system-x86_64: -kernel /x: No such file or directory\n')).toBeNull();
    expect(kvmStartFailure('qemu-system-x86_64: -accel kvm: warning: Number of SMP cpus requested (4) exceeds the recommended cpus supported by KVM (2)\n')).toBeNull();
  });
});

describe('the probe payload and its QEMU', () => {
  it('is a valid multiboot header with its entry after it', () => {
    const b = probePayload();
    expect(b.readUInt32LE(0)).toBe(0x1badb002);
    expect((b.readUInt32LE(0) + b.readUInt32LE(4) + b.readUInt32LE(8)) >>> 0).toBe(0);
    expect(b.readUInt32LE(28)).toBe(0x100020);
  });

  it('runs the machine the runs use, one vCPU, with isa-debug-exit', () => {
    const a = probeArgv({ binary: 'q', accel: 'kvm', payload: '/p' });
    expect(a.slice(0, 7)).toEqual(['q', '-machine', 'pc', '-accel', 'kvm', '-cpu', 'host']);
    expect(a).toEqual(expect.arrayContaining(['-kernel', '/p', '-device', 'isa-debug-exit,iobase=0xf4,iosize=0x04', '-nodefaults', '-no-reboot']));
    expect(probeArgv({ accel: 'tcg', payload: '/p' })).toContain('tcg');
  });
});

// Real, and quick (< 5 s): this host's QEMU and /proc/cpuinfo.
describe('on this host', async () => {
  const haveQemu = !!(await qemuVersion());

  it.skipIf(!haveQemu)('the payload reaches long mode and exits with its code under TCG', async () => {
    const r = await startProbeGuest('tcg');
    expect(r.stderr).toBe('');
    expect(r.code).toBe(PROBE_EXIT_CODE);
  });

  it.skipIf(!haveQemu)('the probe tells the truth of this host', async () => {
    const env = { ...process.env, KREPRO_CACHE: await mkdtemp(join(tmpdir(), 'krepro-kvm-')) };
    const t0 = Date.now();
    const p = await probeKvm({ env });
    const cold = Date.now() - t0;
    const cpuinfo = await readFile('/proc/cpuinfo', 'utf8');
    if (!cpuHasVirt(cpuinfo)) {
      expect(p.usable).toBe(false);
      expect(p.reason).toMatch(/vmx\/svm/);
    } else {
      const h = await realKvmHost(env);
      if (h.devKvm !== 'rw') expect(p).toMatchObject({ usable: false, reason: expect.stringMatching(/\/dev\/kvm/) });
      else expect(p.usable).toBe(judgeStart(await startProbeGuest('kvm')).usable);
    }
    const t1 = Date.now();
    const again = await probeKvm({ env });
    expect(again).toMatchObject({ usable: p.usable, reason: p.reason });
    console.log(`kvm probe on this host: usable=${p.usable} (${p.reason}); cold ${cold} ms, again ${Date.now() - t1} ms${again.cached ? ' (cached)' : ''}`);
  });
});
