import type { CrashReport } from '../console/types.ts';
import type { Launcher, VmInstance, VmPlan, VmExit } from '../vm/launcher.ts';
import type { CpuRegisters } from '../vm/qmp.ts';
import { kvmStartFailure } from '../vm/qemu.ts';
import type { RunRecord, VcpuState, WorkloadCounters } from './types.ts';
import { ConsoleMonitor, INIT_PREFIX, HB_MARKER, DONE_MARKER } from './monitor.ts';
import { step, initialState, type StopConfig, type WatchAction, type WatchEvent, type WatchState, type StopReason } from './stop-policy.ts';
import { pickHangFrame, isLibraryLeaf, callerFromStack, funcOf } from './silent.ts';

/**
 * Boot once and watch until the guest ends, is ended after a detection, or
 * hangs: the loop that carries out the stop policy's actions. Everything it
 * touches comes in `WatchDeps` (the launcher, a clock, the artifact file's
 * size, the symbolizer), so the fast tier runs it against a fake launcher
 * replaying real consoles on a fake clock.
 */
export interface Clock {
  now(): number;
  sleep(ms: number): Promise<void>;
}

export const realClock: Clock = {
  now: () => Date.now(),
  sleep: (ms) => new Promise((r) => setTimeout(r, ms)),
};

export interface WatchDeps {
  launcher: Launcher;
  clock: Clock;
  /** Bytes in the artifact channel's file so far (the guest's tracefs dump is slow under TCG). */
  artifactBytes: () => Promise<number>;
  /** Registers -> symbols (and file:line when `withSource` and vmlinux has debug info). */
  symbolize: (regs: CpuRegisters[], withSource: boolean) => Promise<VcpuState[]>;
  /** Stack words -> text symbols (null: not a text address); without it no stack is read. */
  symbolizeWords?: (words: string[]) => Promise<(string | null)[]>;
}

/** Words read from the top of each vCPU's stack at the inspection, and text addresses kept of them. */
export const STACK_WORDS = 32;
export const STACK_SCAN_KEEP = 8;

/** What the live progress line shows (progress.ts). */
export interface WatchProgress {
  phase: 'boot' | 'workload' | 'detected' | 'hang-check' | 'hang' | 'stopping' | 'done';
  uptimeMs: number;
  heartbeats: number;
  counters: WorkloadCounters | null;
  lastKernelLine: string | null;
}

export interface WatchInput {
  plan: VmPlan;
  consoleLog: string;
  qmpSocket: string;
  config: StopConfig;
  hangTimeoutSec: number;
  onLine?: (line: string) => void;
  onProgress?: (p: WatchProgress) => void;
  signal?: AbortSignal;
}

/** What startWithFallback needs to know of one boot. */
export interface StartAttempt {
  startFailure?: string;       // QEMU did not start (host side)
  accelFailure?: string;       // ... because KVM itself failed (kvmStartFailure's line)
}

export interface BootOutcome extends StartAttempt {
  exit: { code: number | null; signal: string | null; byUs: boolean } | null;
  stderr: string;
  initSeen: boolean;
  workloadDone: boolean;
  silentHang: CrashReport | null;
  stopReason: StopReason | null;
  floodedBootBytes?: number | null;
  vcpus?: VcpuState[] | null;
  counters?: RunRecord['workload'];
  detection?: RunRecord['detection'];
  hangCheck?: RunRecord['hangCheck'];
  timings?: Partial<RunRecord['timings']>;
}

const TICK_MS = 250;

export async function watchBoot(inp: WatchInput, deps: WatchDeps): Promise<BootOutcome> {
  const clock = deps.clock;
  const cfg = inp.config;
  const start = clock.now();
  const mon = new ConsoleMonitor(start);
  let state: WatchState = initialState(start, mon.state);
  let lastKernelLine: string | null = null;
  let byUs = false;
  const pending: WatchEvent[] = [];

  const onLine = (line: string) => {
    inp.onLine?.(line);
    if (line.trim() && !line.includes(INIT_PREFIX) && !line.includes(HB_MARKER) && !line.includes(DONE_MARKER) && !line.startsWith('krepro-')) lastKernelLine = line;
    if (mon.push(line, clock.now())) pending.push({ type: 'detection' });
  };
  const vm: VmInstance = deps.launcher.start(inp.plan, { consoleLog: inp.consoleLog, qmpSocket: inp.qmpSocket, onLine });
  let exitInfo: VmExit | null = null;
  const exited = vm.exited.then((e) => (exitInfo = e));
  const onAbort = () => pending.push({ type: 'abort' });
  if (inp.signal?.aborted) onAbort();
  inp.signal?.addEventListener('abort', onAbort);

  let silentHang: CrashReport | null = null;
  let vcpus: VcpuState[] | null = null;
  let samplesTaken = 0;
  let lateHeartbeats = 0;      // times the heartbeat went late and sampling began
  const feed = (ev: WatchEvent): WatchAction => {
    const r = step(state, ev, clock.now(), cfg);
    state = r.state;
    return r.action;
  };
  const stop = async () => {
    byUs = true;
    await vm.quit();
    // Up to 3 s for QEMU to go by itself, then SIGKILL.
    for (let waited = 0; waited < 3000 && vm.isRunning(); waited += 50) await Promise.race([exited, clock.sleep(50)]);
    vm.kill('SIGKILL');
  };
  const progress = () => {
    if (!inp.onProgress) return;
    const s = mon.state;
    const phase: WatchProgress['phase'] = state.stopped ? 'stopping' : state.hang ? 'hang' : state.detectedAt !== null ? 'detected'
      : s.doneAtMs !== null ? 'done' : state.samples.length || state.sampling ? 'hang-check' : s.initAtMs !== null ? 'workload' : 'boot';
    inp.onProgress({ phase, uptimeMs: clock.now() - start, heartbeats: s.counters?.heartbeats ?? 0, counters: s.counters, lastKernelLine });
  };

  /**
   * What each vCPU's stack holds at the inspection: the text addresses
   * on top of it (nearest first) and, for a vCPU in a library leaf, the
   * caller found there. Read before the NMI, which moves every stack.
   */
  const readStacks = async (regs: CpuRegisters[]): Promise<Map<number, Pick<VcpuState, 'stackScan' | 'caller'>>> => {
    const out = new Map<number, Pick<VcpuState, 'stackScan' | 'caller'>>();
    if (!deps.symbolizeWords) return out;
    for (const r of await deps.symbolize(regs, false)) {
      const words = await vm.stack(r.cpu, STACK_WORDS);
      if (!words) continue;
      const syms = await deps.symbolizeWords(words);
      const leaf = funcOf(r.symbol);
      const caller = leaf && isLibraryLeaf(leaf) ? callerFromStack(leaf, syms) : null;
      out.set(r.cpu, { stackScan: syms.filter((x): x is string => x !== null).slice(0, STACK_SCAN_KEEP), ...(caller ? { caller } : {}) });
    }
    return out;
  };

  /** Carry out one action; its answer (if any) is fed back at once. */
  const act = async (a: WatchAction): Promise<boolean> => {
    switch (a.type) {
      case 'none':
        return false;
      case 'stop':
        await stop();
        return true;
      case 'sample': {
        // A late spell begins with the first sample after a heartbeat.
        if (state.lastSampleAt === null || (mon.state.lastHeartbeatMs ?? -Infinity) > state.lastSampleAt) lateHeartbeats++;
        const regs = await vm.registers();
        samplesTaken++;
        const v = regs ? await deps.symbolize(regs, false) : null;
        return act(feed({ type: 'sample', vcpus: v }));
      }
      case 'inspect': {
        // Where every vCPU is (with file:line when there is debug info), then an NMI so the kernel
        // can print its own backtraces (unknown_nmi_panic=1 makes that a panic with the trace dump).
        // The NMI goes in right after the read (and a look at every vCPU's stack: the NMI
        // moves them); file:line (addr2line) is looked up after it.
        const regs = await vm.registers();
        const silentMs = clock.now() - mon.state.lastOutputMs;
        const stacks = regs ? await readStacks(regs) : new Map<number, Pick<VcpuState, 'stackScan' | 'caller'>>();
        // Whether the kernel reported by itself is decided here, before the NMI: the panic it
        // provokes can reach the console while the RIPs are symbolized (0.3 s after the NMI on the
        // 7.2 stall, whose panic stops the other CPUs with an NMI and dumps a small trace instance).
        const kernelReported = mon.state.firstDetection !== null;
        if (regs || a.vcpus) await vm.injectNmi();
        const v = regs ? (await deps.symbolize(regs, true)).map((x) => ({ ...x, ...stacks.get(x.cpu) })) : null;
        vcpus = v ?? a.vcpus;
        // A kernel that reported by itself titles the run; only a silent one is titled by its vCPUs.
        silentHang = vcpus && !kernelReported ? pickHangFrame(vcpus, Math.round(silentMs / 1000)) : null;
        return act(feed({ type: 'inspected', vcpus }));
      }
    }
  };

  try {
    while (!exitInfo) {
      await Promise.race([exited, clock.sleep(TICK_MS)]);
      if (exitInfo) break;
      let done = false;
      while (pending.length && !done) done = await act(feed(pending.shift()!));
      if (done) break;
      const artifactBytes = await deps.artifactBytes();
      if (await act(feed({ type: 'tick', artifactBytes }))) break;
      progress();
    }
    await exited;
  } finally {
    inp.signal?.removeEventListener('abort', onAbort);
    vm.kill('SIGKILL');
  }
  progress();
  const exitAt = clock.now();
  const e = exitInfo! as VmExit;
  const s = mon.state;
  if (s.lines === 0 && !byUs && e.code !== 0) {
    const accelFailure = inp.plan.accel === 'kvm' ? kvmStartFailure(e.stderr) ?? undefined : undefined;
    return { startFailure: accelFailure ?? (e.stderr.trim().split('\n').pop() || `exit ${e.code ?? e.signal}`), accelFailure, stderr: e.stderr, exit: { ...e, byUs }, initSeen: false, workloadDone: false, silentHang: null, stopReason: null };
  }
  // A hang is detected when it was seen (the silence, or the stuck vCPUs), before what our NMI makes the kernel print.
  const hang = state.hang && silentHang ? state.hang : null;
  const det = hang ? { kind: 'silent-hang', line: silentHang!.title, atMs: hang.atMs } : s.firstDetection;
  const heartbeatLost = hang && s.lastHeartbeatMs !== null ? s.lastHeartbeatMs - start : null;
  return {
    exit: { code: e.code, signal: e.signal, byUs },
    stderr: e.stderr,
    stopReason: state.stopped?.reason ?? null,
    initSeen: s.initAtMs !== null,
    floodedBootBytes: state.floodedBootBytes,
    workloadDone: s.doneAtMs !== null,
    silentHang,
    vcpus,
    counters: s.counters,
    hangCheck: { samples: samplesTaken, lateHeartbeats },
    detection: det
      ? { kind: det.kind, line: det.line, atMs: det.atMs - start, ...(hang ? { rule: hang.kind === 'stuck' ? 'vcpu-samples' as const : 'silence' as const, samples: samplesTaken } : {}) }
      : null,
    timings: {
      bootToInitMs: s.initAtMs !== null ? s.initAtMs - start : null,
      workloadMs: s.initAtMs !== null ? (s.doneAtMs ?? exitAt) - s.initAtMs : null,
      detectMs: det ? det.atMs - start : null,
      detectToExitMs: det ? exitAt - det.atMs : null,
      ...(heartbeatLost !== null ? { lastHeartbeatMs: heartbeatLost, heartbeatToExitMs: exitAt - start - heartbeatLost } : {}),
    },
  };
}
