import { describe, it, expect } from 'vitest';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { watchBoot, type BootOutcome } from '../../src/run/watch.ts';
import { stopConfig, stuckVcpus, step, initialState, type StopConfig, type VcpuSample } from '../../src/run/stop-policy.ts';
import { ConsoleMonitor } from '../../src/run/monitor.ts';
import type { VcpuState } from '../../src/run/types.ts';
import type { CpuRegisters } from '../../src/vm/qmp.ts';
import { PROJECT_ROOT } from '../../src/util/paths.ts';
import { FakeClock, fakeLauncher, replayTimes, type FakeGuest, type TimedLine } from './fake-launcher.ts';

const corpus = (f: string) => readFileSync(join(PROJECT_ROOT, '..', 'shared', 'corpus', 'qemu-6.12', f), 'utf8');
const data = (f: string) => readFileSync(join(import.meta.dirname, 'data', f), 'utf8');

/** The real 7.2 stall: console up to the last heartbeat, and where QMP found the vCPUs. */
const STALL = JSON.parse(data('7.2-silent-stall.json')) as { vcpus: VcpuState[] };
const CLEAN = data('7.2-clean.console');
const SILENT = data('7.2-silent-stall.console');

/** The recorded stall's vCPUs, as QMP would return them on every sample. */
const stuckRegs = (): CpuRegisters[] => STALL.vcpus.map((v) => ({ cpu: v.cpu, rip: v.rip }));
/** Symbols for the fake's RIPs: the recorded ones, plus a few a busy guest moves through. */
const SYMBOLS = new Map<string, string>([
  ...STALL.vcpus.map((v) => [v.rip, v.symbol!] as [string, string]),
  ['ffffffff81000100', 'copy_process+0x1a0/0x1e00'],
  ['ffffffff81000200', 'do_wp_page+0x44/0x5a0'],
  ['ffffffff81000300', 'finish_task_switch+0x90/0x2a0'],
  ['ffffffff81000400', 'mm_get_cid+0x13/0x2a'],
  ['ffffffff81000500', 'default_idle+0x9/0x20'],
  ['ffffffff81000600', 'clear_page_erms+0x7/0x10'],
  ['ffffffff81000700', '_find_first_zero_bit+0x1b/0x31'],
  ['ffffffff81000800', 'mm_get_cid+0x1c/0x2a'],
]);
const symbolizeWords = async (words: string[]) => words.map((w) => SYMBOLS.get(w) ?? null);
const symbolize = async (regs: CpuRegisters[]): Promise<VcpuState[]> =>
  regs.map((r) => ({ cpu: r.cpu, rip: r.rip, symbol: SYMBOLS.get(r.rip) ?? null, ...(r.interruptsOn !== undefined ? { interruptsOn: r.interruptsOn } : {}), ...(r.halted !== undefined ? { halted: r.halted } : {}), ...(r.hostCpuMs !== undefined ? { hostCpuMs: r.hostCpuMs } : {}) }));

const OPTS = { bootTimeoutSec: 120, hangTimeoutSec: 45, graceSec: 10, durationSec: 60 };

async function replay(guest: FakeGuest, cfg: Partial<StopConfig> = {}, extra: { abortAtMs?: number; accel?: 'kvm' | 'tcg'; symbolizeMs?: number } = {}): Promise<{ out: BootOutcome; calls: { at: number; what: string }[]; endMs: number }> {
  const clock = new FakeClock();
  const launcher = fakeLauncher(guest, clock);
  const ac = new AbortController();
  if (extra.abortAtMs !== undefined) {
    const at = extra.abortAtMs;
    const sleep = clock.sleep;
    clock.sleep = async (ms) => {
      await sleep(ms);
      if (clock.t >= at && !ac.signal.aborted) ac.abort();
    };
  }
  const out = await watchBoot(
    { plan: { argv: ['qemu'], append: '', accel: extra.accel ?? 'tcg', vsockCid: null }, consoleLog: '/dev/null', qmpSocket: '/nonexistent', config: { ...stopConfig(OPTS), ...cfg }, hangTimeoutSec: OPTS.hangTimeoutSec, signal: ac.signal },
    {
      launcher, clock, artifactBytes: async () => 0, symbolizeWords,
      // Symbolizing reads System.map: it takes time, during which the console goes on.
      symbolize: extra.symbolizeMs ? async (regs) => { await clock.sleep(extra.symbolizeMs!); return symbolize(regs); } : symbolize,
    },
  );
  return { out, calls: launcher.vm().calls, endMs: clock.t };
}

/** The last heartbeat's time in a replay. */
const lastHeartbeatAt = (lines: TimedLine[]) => Math.max(...lines.filter((l) => l.line.includes('krepro-hb')).map((l) => l.atMs));
/** A console that powered off ends with QEMU's exit shortly after its last line. */
const poweredOff = (lines: TimedLine[]): FakeGuest => ({ lines, exitAtMs: lines[lines.length - 1].atMs + 50 });

describe('stop policy, driven by a fake launcher replaying real consoles', () => {
  it('boot, 60 heartbeats, workload done, power off: the guest ends by itself, nothing detected, nothing sampled', async () => {
    const { out, calls } = await replay(poweredOff(replayTimes(CLEAN)));
    expect(out.stopReason).toBeNull();
    expect(out.exit).toMatchObject({ code: 0, byUs: false });
    expect(out).toMatchObject({ initSeen: true, workloadDone: true, detection: null, silentHang: null });
    expect(out.counters?.heartbeats).toBe(60);
    expect(calls.filter((c) => c.what !== 'kill')).toEqual([]);
    expect(out.hangCheck).toEqual({ samples: 0, lateHeartbeats: 0 });
  });

  it.each([
    ['softlockup.log', 'soft-lockup'],
    ['rcustall.log', 'rcu-stall'],
    ['hungtask.log', 'hung-task'],
    ['injected-cid-leak-stall.log', 'rcu-stall'],
  ])('%s: the kernel report is detected, read for the grace period, then QEMU is quit (%s)', async (file, kind) => {
    const lines = replayTimes(corpus(file));
    const { out, calls } = await replay({ lines });
    expect(out.stopReason).toBe('detected');
    expect(out.detection?.kind).toBe(kind);
    expect(out.exit?.byUs).toBe(true);
    // Stopped after the grace period, and only once the console was quiet (the dump is read whole).
    const quitAt = calls.find((c) => c.what === 'quit')!.at;
    expect(quitAt - out.detection!.atMs).toBeGreaterThanOrEqual(OPTS.graceSec * 1000);
    expect(lines.filter((l) => l.atMs > quitAt - 2000 && l.atMs <= quitAt)).toEqual([]);
  });

  it('the real 7.2 stall: heartbeats stop, vCPUs sampled stuck in mm_get_cid / spin slow paths: a hang within 4 s of the last heartbeat', async () => {
    const lines = replayTimes(SILENT);
    const { out, calls } = await replay({ lines, registers: stuckRegs });
    expect(out.stopReason).toBe('stuck');
    expect(out.detection).toMatchObject({ kind: 'silent-hang', rule: 'vcpu-samples', line: 'INFO: silent hang in mm_get_cid' });
    expect(out.silentHang?.title).toBe('INFO: silent hang in mm_get_cid');
    // Three samples 0.5 s apart, one more read at the inspection with each vCPU's stack, the NMI, quit; QEMU goes by itself.
    expect(calls.map((c) => c.what)).toEqual(['registers', 'registers', 'registers', 'registers', 'stack', 'stack', 'stack', 'stack', 'nmi', 'quit']);
    const hb = lastHeartbeatAt(lines);
    const seen = out.detection!.atMs - hb;
    expect(seen).toBeLessThanOrEqual(3000);
    // The kernel said nothing after the NMI: QEMU is asked to quit 1 s later, gone within 5 s of the last heartbeat.
    const nmi = calls.find((c) => c.what === 'nmi')!.at;
    expect(calls.find((c) => c.what === 'quit')!.at - nmi).toBe(1000);
    expect(out.timings?.heartbeatToExitMs).toBeLessThanOrEqual(5000);
  });

  it('the same stall in a traced run (--fast-hang): the kernel gets 5 s after the NMI to start its panic and trace dump', async () => {
    const { out, calls } = await replay({ lines: replayTimes(SILENT), registers: stuckRegs }, stopConfig({ ...OPTS, traceEvents: ['mmcid:*'] }));
    expect(out.stopReason).toBe('stuck');
    const nmi = calls.find((c) => c.what === 'nmi')!.at;
    expect(calls.find((c) => c.what === 'quit')!.at - nmi).toBe(5000);
  });

  it('vCPU threads the host gives no CPU (a loaded host): the same RIPs are no hang until the threads run; the stall is still seen once they do', async () => {
    const lines = replayTimes(SILENT);
    let calls = 0;
    // Starved for the first 4 samples (10 ms of CPU each), then 300 ms per sample: spinning.
    const starvedThenSpinning = () => {
      calls++;
      const ms = calls <= 4 ? calls * 10 : 40 + (calls - 4) * 300;
      return stuckRegs().map((r) => ({ ...r, hostCpuMs: ms }));
    };
    const { out } = await replay({ lines, registers: starvedThenSpinning });
    expect(out.stopReason).toBe('stuck');
    expect(out.detection?.line).toBe('INFO: silent hang in mm_get_cid');
    // Not before the fifth sample: the first window whose threads ran 100 ms (samples 3-5) decides.
    expect(out.hangCheck!.samples).toBeGreaterThanOrEqual(5);
    const starved = await replay({ lines, registers: () => stuckRegs().map((r) => ({ ...r, hostCpuMs: 5 })) });
    expect(starved.out.detection?.rule).not.toBe('vcpu-samples');
  });

  it('a stall whose CPU sits in a library leaf: its stack is read before the NMI and names the caller, mm_get_cid', async () => {
    const lines = replayTimes(SILENT);
    const regs = (): CpuRegisters[] => [{ cpu: 0, rip: 'ffffffff81000700', interruptsOn: false }, ...stuckRegs().filter((r) => r.cpu !== 0)];
    const { out, calls } = await replay({ lines, registers: regs, stack: (cpu) => (cpu === 0 ? ['ff11000000240500', 'ffffffff81000700', 'ffffffff81000800', 'ffffffff81000100'] : null) });
    expect(out.stopReason).toBe('stuck');
    expect(out.silentHang?.title).toBe('INFO: silent hang in mm_get_cid');
    expect(out.vcpus?.find((v) => v.cpu === 0)?.caller).toBe('mm_get_cid+0x1c/0x2a');
    const what = calls.map((c) => c.what);
    expect(what.indexOf('stack')).toBeGreaterThan(-1);
    expect(what.indexOf('stack')).toBeLessThan(what.indexOf('nmi'));
    // Every vCPU's stack is read once, at the inspection; the one that answered is kept, nearest address first.
    expect(what.filter((w) => w === 'stack')).toHaveLength(4);
    expect(out.vcpus?.find((v) => v.cpu === 0)?.stackScan).toEqual(['_find_first_zero_bit+0x1b/0x31', 'mm_get_cid+0x1c/0x2a', 'copy_process+0x1a0/0x1e00']);
    expect(out.vcpus?.find((v) => v.cpu === 1)?.stackScan).toBeUndefined();
  });

  it('a stall before the first heartbeat (the workload\'s first second) is seen by the samples too', async () => {
    const lines = replayTimes(SILENT).filter((l) => !l.line.startsWith('krepro-hb'));
    const { out } = await replay({ lines, registers: stuckRegs });
    expect(out.stopReason).toBe('stuck');
    expect(out.detection!.atMs - lines[lines.length - 1].atMs).toBeLessThan(5000);
  });

  it('the same stall with vCPU sampling off: the hang timeout (45 s of silence) finds it, as before', async () => {
    const lines = replayTimes(SILENT);
    const { out, calls } = await replay({ lines, registers: stuckRegs }, { fastHang: null });
    expect(out.stopReason).toBe('silent');
    expect(out.detection).toMatchObject({ kind: 'silent-hang', rule: 'silence' });
    const nmi = calls.find((c) => c.what === 'nmi')!.at;
    expect(nmi - lines[lines.length - 1].atMs).toBeGreaterThan(45_000);
    // Nothing came after the NMI: stopped after the grace period.
    expect(calls.find((c) => c.what === 'quit')!.at - nmi).toBeGreaterThanOrEqual(10_000);
  });

  it('the 6.12 injected-leak console that went silent, from a guest without krepro\'s init: never a hang, the boot timeout', async () => {
    const { out, calls } = await replay({ lines: replayTimes(corpus('injected-cid-leak-silent.log')), registers: stuckRegs });
    expect(out.stopReason).toBe('boot-timeout');
    expect(out.detection).toBeNull();
    expect(calls.some((c) => c.what === 'registers')).toBe(false);
  });

  it('an NMI that makes the kernel print: its output is read to the end, across a 4 s pause before the dump, the hang keeps its title', async () => {
    const lines = replayTimes(SILENT);
    // The 7.2 panic: 'Dumping ftrace buffer:' right away, the dump's body about 4 s later.
    const dump = replayTimes(corpus('injected-cid-leak-stall.log')).slice(-400).map((l, i) => ({ atMs: (i === 0 ? 200 : 4200) + i * 10, line: l.line }));
    const { out, calls } = await replay({ lines, registers: stuckRegs, afterNmi: { lines: dump } });
    expect(out.stopReason).toBe('stuck');
    expect(out.silentHang?.title).toBe('INFO: silent hang in mm_get_cid');
    const quit = calls.find((c) => c.what === 'quit')!.at;
    const nmi = calls.find((c) => c.what === 'nmi')!.at;
    expect(quit).toBeGreaterThan(nmi + 4200 + 399 * 10 + 10_000);
  });

  it('the 7.2 NMI panic reaching the console while the RIPs are symbolized: still a hang seen by the vCPU samples, titled by them, timed from the last heartbeat', async () => {
    const lines = replayTimes(SILENT);
    // The real panic and the start of its dump of the small trace instance (one printk timestamp:
    // stored in NMI context, flushed at the end of panic), all within 50 ms of the NMI; QEMU exits 300 ms after it (panic=-1).
    const panic = data('7.2-nmi-panic.console').trimEnd().split('\n').map((line, i) => ({ atMs: 20 + i / 2, line }));
    const { out, calls } = await replay({ lines, registers: stuckRegs, afterNmi: { lines: panic, exitAfterMs: 300 } }, stopConfig({ ...OPTS, traceEvents: ['mmcid:*'] }), { symbolizeMs: 200 });
    expect(out.stopReason).toBeNull();   // the panic ended QEMU before any stop
    expect(out.detection).toMatchObject({ kind: 'silent-hang', rule: 'vcpu-samples', line: 'INFO: silent hang in mm_get_cid' });
    expect(out.silentHang?.title).toBe('INFO: silent hang in mm_get_cid');
    // QEMU went by itself: no quit
    expect(calls.map((c) => c.what)).not.toContain('quit');
    expect(out.exit?.byUs).toBe(false);
    expect(out.timings?.heartbeatToExitMs).toBeLessThanOrEqual(5000);
    expect(out.timings!.heartbeatToExitMs! - (out.detection!.atMs - out.timings!.lastHeartbeatMs!)).toBeLessThan(1000);
  });

  it('a guest that is only slow (heartbeats 8 s late on a loaded host) keeps moving: sampled, never a hang', async () => {
    // The clean console with every heartbeat from t=20 on 8 s late.
    const lines = replayTimes(CLEAN, { heartbeatShift: (t) => (t >= 20 ? t + 8 : t) * 1000 });
    const busy = ['ffffffff81000100', 'ffffffff81000200', 'ffffffff81000300', 'ffffffff81000400', 'ffffffff81000600'];
    let n = 0;
    const moving = () => [0, 1, 2, 3].map((cpu) => ({ cpu, rip: busy[(cpu + n++) % busy.length], interruptsOn: n % 3 !== 0 }));
    const { out, calls } = await replay({ ...poweredOff(lines), registers: moving });
    expect(calls.filter((c) => c.what === 'registers').length).toBeGreaterThan(3);
    // The heartbeat went late once (t=20 came 8 s late), the vCPUs were sampled all along, never a hang.
    expect(out.hangCheck).toEqual({ samples: calls.filter((c) => c.what === 'registers').length, lateHeartbeats: 1 });
    expect(out.stopReason).toBeNull();
    expect(out.detection).toBeNull();
    expect(out.workloadDone).toBe(true);
  });

  it('a late heartbeat with vCPUs parked in one function with interrupts on (descheduled on the host) is not a hang', async () => {
    const lines = replayTimes(CLEAN, { heartbeatShift: (t) => (t >= 20 ? t + 6 : t) * 1000 });
    const parked = () => [0, 1, 2, 3].map((cpu) => ({ cpu, rip: 'ffffffff81000600', interruptsOn: true }));
    const { out } = await replay({ ...poweredOff(lines), registers: parked });
    expect(out.stopReason).toBeNull();
    expect(out.detection).toBeNull();
  });

  it('QMP that does not answer during a late heartbeat: no fast hang; the hang timeout still applies', async () => {
    const { out } = await replay({ lines: replayTimes(SILENT), registers: () => null });
    expect(out.stopReason).toBe('silent');
  });

  it('a console flood before init: stopped at the boot timeout, the flood measured', async () => {
    const kernel = replayTimes(corpus('softlockup.log')).filter((l) => /^\[/.test(l.line)).slice(0, 200).map((l) => l.line);
    const lines: TimedLine[] = [];
    for (let t = 0, i = 0; t < 130_000; t += 5, i++) lines.push({ atMs: t, line: kernel[i % kernel.length] });
    const { out } = await replay({ lines });
    expect(out.stopReason).toBe('boot-timeout');
    expect(out.floodedBootBytes).toBeGreaterThan(512 * 1024);
    expect(out.initSeen).toBe(false);
  });

  it('a boot that stops before init: boot timeout, no flood', async () => {
    const lines = replayTimes(CLEAN).filter((l) => !l.line.startsWith('krepro'));
    const { out } = await replay({ lines: lines.slice(0, 150) });
    expect(out.stopReason).toBe('boot-timeout');
    expect(out.floodedBootBytes).toBeNull();
  });

  it('QEMU that dies in the middle of the workload: its exit is the outcome, nothing stopped by us', async () => {
    const lines = replayTimes(CLEAN).filter((l) => !/krepro-hb t=(\d+)/.test(l.line) || Number(/t=(\d+)/.exec(l.line)![1]) <= 10);
    const cut = lines.findIndex((l) => l.line.startsWith('krepro-done'));
    const kept = lines.slice(0, cut);
    const { out, calls } = await replay({ lines: kept, exitAtMs: kept[kept.length - 1].atMs + 500, exit: { code: null, signal: 'SIGSEGV', stderr: 'Segmentation fault' } });
    expect(out.stopReason).toBeNull();
    expect(out.exit).toEqual({ code: null, signal: 'SIGSEGV', byUs: false });
    expect(out.workloadDone).toBe(false);
    expect(calls.some((c) => c.what === 'quit')).toBe(false);
  });

  it('QEMU that cannot start under KVM (no console line): a start failure naming KVM', async () => {
    const stderr = "qemu-system-x86_64: ../target/i386/kvm/kvm.c:3183: kvm_buf_set_msrs: Assertion `ret == cpu->kvm_msr_buf->nmsrs' failed.";
    const { out } = await replay({ lines: [], exitAtMs: 40, exit: { code: null, signal: 'SIGABRT', stderr } }, {}, { accel: 'kvm' });
    expect(out.startFailure).toContain('kvm_buf_set_msrs');
    expect(out.accelFailure).toContain('kvm_buf_set_msrs');
  });

  it('an abort (Ctrl-C) mid-workload: quit at once', async () => {
    const { out, calls } = await replay(poweredOff(replayTimes(CLEAN)), {}, { abortAtMs: 20_000 });
    expect(out.stopReason).toBe('abort');
    expect(calls.find((c) => c.what === 'quit')!.at).toBeLessThan(20_600);
  });

  it('a workload that ends but a guest that does not power off: stopped 30 s after its last output', async () => {
    const lines = replayTimes(CLEAN).filter((l) => !/poweroff|Power down|S5/.test(l.line));
    const { out, calls } = await replay({ lines });
    expect(out.stopReason).toBe('done');
    expect(calls.find((c) => c.what === 'quit')!.at - lines[lines.length - 1].atMs).toBeGreaterThan(30_000);
  });

  it('a QEMU that ignores quit is killed 3 s later', async () => {
    const { calls } = await replay({ lines: replayTimes(corpus('softlockup.log')), ignoresQuit: true });
    const quit = calls.find((c) => c.what === 'quit')!.at;
    const kill = calls.find((c) => c.what === 'kill')!.at;
    expect(kill - quit).toBeGreaterThanOrEqual(3000);
    expect(kill - quit).toBeLessThan(3300);
  });
});

describe('stuck vCPUs across samples (the fast silent-hang rule)', () => {
  const v = (cpu: number, symbol: string | null, extra: Partial<VcpuState> = {}): VcpuState => ({ cpu, rip: '0', symbol, ...extra });
  const samples = (...rows: VcpuState[][]): VcpuSample[] => rows.map((vcpus, i) => ({ atMs: i * 1000, vcpus }));
  it.each<[string, VcpuSample[], boolean]>([
    ['every vCPU in a known spin (the recorded 7.2 stall)', samples(...[0, 1, 2].map(() => STALL.vcpus)), true],
    ['one stuck in mm_get_cid, the others idle', samples(...[0, 1, 2].map(() => [v(0, 'mm_get_cid+0x1c/0x2a'), v(1, 'default_idle+0x9/0x20', { halted: true }), v(2, 'pv_native_safe_halt+0xb/0x10')])), true],
    ['same unknown function with interrupts off on every sample', samples(...[0, 1, 2].map(() => [v(0, 'try_to_wake_up+0x18c/0x27c', { interruptsOn: false }), v(1, 'queued_spin_lock_slowpath+0x27/0x23f')])), true],
    ['same unknown function, interrupts unknown', samples(...[0, 1, 2].map(() => [v(0, 'try_to_wake_up+0x18c/0x27c'), v(1, 'queued_spin_lock_slowpath+0x27/0x23f')])), false],
    ['same unknown function with interrupts on (a descheduled vCPU thread)', samples(...[0, 1, 2].map(() => [v(0, 'clear_page_erms+0x7/0x10', { interruptsOn: true })])), false],
    ['a spin that moved to another function in the last sample', samples([v(0, 'mm_get_cid+0x1c/0x2a')], [v(0, 'mm_get_cid+0x13/0x2a')], [v(0, 'finish_task_switch+0x90/0x2a0')]), false],
    ['all idle: nothing stuck', samples(...[0, 1, 2].map(() => [v(0, 'default_idle+0x9/0x20'), v(1, null, { halted: true })])), false],
    ['one spinning, one in user space (no symbol)', samples(...[0, 1, 2].map(() => [v(0, 'mm_get_cid+0x1c/0x2a'), v(1, null)])), false],
    ['a vCPU missing from one sample', samples([v(0, 'mm_get_cid'), v(1, 'mm_get_cid')], [v(0, 'mm_get_cid')], [v(0, 'mm_get_cid'), v(1, 'mm_get_cid')]), false],
    // Host CPU time of the vCPU threads (MIN_STUCK_RUN_MS = 100 across the window).
    ['one in mm_get_cid whose thread ran 120 ms across the samples, the others halted (the smallest real stall)', samples(...[0, 1, 2].map((i) => [v(0, 'mm_get_cid+0x1c/0x2a', { hostCpuMs: 1000 + i * 60 }), v(1, 'default_idle+0x9/0x20', { halted: true, hostCpuMs: 50 })])), true],
    ['the same RIPs but the threads ran 30 ms in all (not scheduled by the host)', samples(...[0, 1, 2].map((i) => [v(0, 'mm_get_cid+0x1c/0x2a', { hostCpuMs: 1000 + i * 15 }), v(1, 'queued_spin_lock_slowpath+0x27/0x23f', { hostCpuMs: 500 + i * 15 })])), false],
    ['interrupts off in one function, its thread ran 0 ms: unjudged', samples(...[0, 1, 2].map(() => [v(0, 'try_to_wake_up+0x18c/0x27c', { interruptsOn: false, hostCpuMs: 70 })])), false],
  ])('%s -> hang %s', (_name, s, hang) => {
    expect(stuckVcpus(s).hang).toBe(hang);
  });
});

describe('stop policy, pure steps', () => {
  const cfg = stopConfig(OPTS);
  const fresh = () => {
    const m = new ConsoleMonitor(0);
    m.push('krepro-init: started', 1000);
    m.push('krepro-hb t=1 spawns=1', 2000);
    return { m, s: initialState(0, m.state) };
  };
  it('no sample while heartbeats are on time; one per interval once late; a heartbeat clears the samples', () => {
    const { m, s } = fresh();
    const { lateMs, sampleEveryMs } = cfg.fastHang!;
    const late = 2000 + lateMs;                           // the heartbeat came at 2000
    expect(step(s, { type: 'tick' }, late - 100, cfg).action).toEqual({ type: 'none' });
    let r = step(s, { type: 'tick' }, late + 100, cfg);
    expect(r.action).toEqual({ type: 'sample' });
    expect(step(r.state, { type: 'tick' }, late + 350, cfg).action).toEqual({ type: 'none' });   // one in flight
    r = step(r.state, { type: 'sample', vcpus: [{ cpu: 0, rip: '0', symbol: 'mm_get_cid+0x1c/0x2a' }] }, late + 200, cfg);
    expect(r.state.samples).toHaveLength(1);
    expect(step(r.state, { type: 'tick' }, late + 200 + sampleEveryMs - 100, cfg).action).toEqual({ type: 'none' });
    expect(step(r.state, { type: 'tick' }, late + 200 + sampleEveryMs, cfg).action).toEqual({ type: 'sample' });
    m.push('krepro-hb t=2 spawns=2', late + 1000);
    r = step({ ...r.state, sampling: true }, { type: 'sample', vcpus: [{ cpu: 0, rip: '0', symbol: 'mm_get_cid+0x1c/0x2a' }] }, late + 1100, cfg);
    expect(r.state.samples.map((x) => x.atMs)).toEqual([late + 1100]);
  });
  it('three stuck samples with a quiet console -> inspect; output between them -> not', () => {
    const stuck = [{ cpu: 0, rip: '0', symbol: 'mm_get_cid+0x1c/0x2a' }];
    const { m, s } = fresh();
    let st = s;
    for (const t of [3600, 4600]) st = step({ ...st, sampling: true }, { type: 'sample', vcpus: stuck }, t, cfg).state;
    expect(step({ ...st, sampling: true }, { type: 'sample', vcpus: stuck }, 5600, cfg).action).toMatchObject({ type: 'inspect', kind: 'stuck' });
    m.push('[   5.000000] some kernel line', 4000);
    expect(step({ ...st, sampling: true }, { type: 'sample', vcpus: stuck }, 5600, cfg).action).toEqual({ type: 'none' });
  });
  it('the deadline waits for a growing artifact channel, up to 10 minutes', () => {
    const { s } = fresh();
    const end = cfg.deadlineMs + 1;
    const growing = step(s, { type: 'tick', artifactBytes: 10 }, end, { ...cfg, fastHang: null, hangTimeoutMs: 1e12 });
    expect(growing.action).toEqual({ type: 'none' });
    expect(step(growing.state, { type: 'tick', artifactBytes: 10 }, end + 6000, { ...cfg, fastHang: null, hangTimeoutMs: 1e12 }).action).toEqual({ type: 'stop', reason: 'deadline' });
  });
});
