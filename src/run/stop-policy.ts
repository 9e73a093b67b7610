import type { MonitorState } from './monitor.ts';
import type { VcpuState } from './types.ts';
import { funcOf, KNOWN_SPINS } from './silent.ts';

/**
 * When to stop watching a guest, as a pure function of (state, event, time)
 * -> (state, action). The watch loop (watch.ts) feeds it console lines,
 * ticks, vCPU samples and the guest's exit, and carries out its actions
 * (take a vCPU sample, inspect a hung guest, stop QEMU). No clock, no QEMU,
 * no files here: the fast tier drives it with a fake launcher and a fake
 * clock (test/run/stop-policy.test.ts).
 *
 * The rules, in the order they are asked on each tick:
 * - abort (Ctrl-C, a loop's --until): stop now;
 * - a kernel report was detected: keep reading for the grace period, and
 *   while the console is still busy (backtraces, an ftrace dump of
 *   thousands of lines), up to two minutes more; then stop;
 * - a hang was inspected (registers read, NMI injected): the NMI may make
 *   the kernel print (and panic with its trace dump); wait for that output
 *   to start (up to `nmiWaitMs`: the grace period after the hang timeout,
 *   1 s after vCPU samples, 5 s in a traced run), then read it until it is quiet for the grace
 *   period (up to 3 minutes), stop;
 * - no init banner after the boot timeout: stop (a flood if the console was
 *   still pouring out more than FLOOD_BYTES);
 * - after init, nothing on the console for the hang timeout: inspect
 *   (the slow silent-hang rule);
 * - the heartbeat (one a second) is late (`lateMs`, 1.2 s, after the last one,
 *   or after init before the first one): sample every
 *   vCPU's registers every `sampleEveryMs` (0.5 s); when the last `samples` (3) show
 *   every vCPU either idle or stuck (the same kernel function each time,
 *   with interrupts off or in a known spin such as mm_get_cid or
 *   queued_spin_lock_slowpath; and its QEMU thread ran MIN_STUCK_RUN_MS
 *   meanwhile), at least one stuck, and the console said
 *   nothing since the first of them: inspect (the fast rule). A guest that
 *   is only slow keeps moving and is left alone; a heartbeat resets it;
 * - the workload ended but the guest did not power off within 30 s (the
 *   artifact channel still growing counts as progress): stop;
 * - past the deadline (boot + duration + 2 x hang timeout + 60 s), unless
 *   the artifact channel is still growing (up to 10 minutes more): stop.
 */
export interface StopConfig {
  bootTimeoutMs: number;
  hangTimeoutMs: number;
  graceMs: number;
  deadlineMs: number;          // from the start
  fastHang: { lateMs: number; sampleEveryMs: number; samples: number } | null;
  nmiWaitMs: { silent: number; stuck: number };
}

/** Console output before init above this, still flowing at the boot timeout, is a flood. */
export const FLOOD_BYTES = 512 * 1024;
/** The console counts as quiet after this long without a line. */
export const QUIET_MS = 2000;
/** How long a busy console is read past the grace period at most. */
export const BUSY_MAX_MS = 120_000;
/** Longest krepro reads a guest printing after its NMI (an ftrace dump of a large buffer). */
export const NMI_PRINT_MAX_MS = 180_000;
/** A finished workload whose guest does not power off is stopped after this. */
export const DONE_IDLE_MS = 30_000;

/**
 * The fast rule's timing. Samples 0.5 s apart, three in a row: a hang is
 * seen about 1.2 + 1.0 s after the last heartbeat plus QMP's answers; host
 * starvation cannot pass for a spin (MIN_STUCK_RUN_MS).
 *
 * After the NMI of a stuck guest: on the 7.2 stall here an untraced kernel
 * without CONFIG_CRASH_DUMP printed its panic 3.8 s after the NMI (vpanic
 * waits 1 s of udelay(1) loops, slow under TCG, for spinning CPUs to take
 * a stop IPI they cannot take), so a plain run waits 1 s and takes its
 * title from the vCPU samples. A traced run waits 5 s for the panic that
 * dumps its trace: with krepro's kconfig (NMI stop) and guest (a small
 * dump instance) it reaches the console and ends QEMU 0.5-0.8 s after the
 * NMI; the 5 s leave room for a kernel that stops CPUs the slow way.
 */
export const FAST_HANG = { lateMs: 1200, sampleEveryMs: 500, samples: 3 } as const;
export const NMI_WAIT_STUCK_MS = { plain: 1000, traced: 5000 } as const;

export function stopConfig(o: { bootTimeoutSec: number; hangTimeoutSec: number; graceSec: number; durationSec: number; fastHang?: boolean; traceEvents?: string[] | null }): StopConfig {
  return {
    bootTimeoutMs: o.bootTimeoutSec * 1000,
    hangTimeoutMs: o.hangTimeoutSec * 1000,
    graceMs: o.graceSec * 1000,
    deadlineMs: (o.bootTimeoutSec + o.durationSec + 2 * o.hangTimeoutSec + 60) * 1000,
    fastHang: o.fastHang === false ? null : { ...FAST_HANG },
    nmiWaitMs: { silent: o.graceSec * 1000, stuck: o.traceEvents?.length ? NMI_WAIT_STUCK_MS.traced : NMI_WAIT_STUCK_MS.plain },
  };
}

export type StopReason = 'detected' | 'silent' | 'stuck' | 'done' | 'boot-timeout' | 'deadline' | 'abort';

export interface VcpuSample {
  atMs: number;
  vcpus: VcpuState[];
}

export interface WatchState {
  startMs: number;
  console: MonitorState;               // the console monitor's state (it parses the lines)
  aborted: boolean;
  detectedAt: number | null;           // a kernel report's first line
  hang: { kind: 'silent' | 'stuck'; atMs: number; vcpus: VcpuState[] | null; inspectedAt: number | null } | null;
  samples: VcpuSample[];               // since the heartbeat went late
  sampling: boolean;                   // a sample is being taken
  lastSampleAt: number | null;
  artifactBytes: number;
  artifactGrewAt: number;
  floodedBootBytes: number | null;
  stopped: { reason: StopReason; atMs: number } | null;
}

export type WatchEvent =
  | { type: 'tick'; artifactBytes?: number }
  | { type: 'detection' }                               // the console monitor saw a kernel report start
  | { type: 'abort' }
  | { type: 'sample'; vcpus: VcpuState[] | null }        // answer to a 'sample' action (null: QMP did not answer)
  | { type: 'inspected'; vcpus: VcpuState[] | null };    // answer to an 'inspect' action

export type WatchAction =
  | { type: 'none' }
  | { type: 'sample' }
  | { type: 'inspect'; kind: 'silent' | 'stuck'; vcpus: VcpuState[] | null }
  | { type: 'stop'; reason: StopReason };

export function initialState(startMs: number, console: MonitorState): WatchState {
  return {
    startMs, console, aborted: false, detectedAt: null, hang: null, samples: [], sampling: false, lastSampleAt: null,
    artifactBytes: 0, artifactGrewAt: 0, floodedBootBytes: null, stopped: null,
  };
}

const NONE: WatchAction = { type: 'none' };

export function step(s0: WatchState, ev: WatchEvent, now: number, cfg: StopConfig): { state: WatchState; action: WatchAction } {
  const s: WatchState = { ...s0 };
  const c = s.console;
  const stop = (reason: StopReason) => {
    s.stopped = { reason, atMs: now };
    return { state: s, action: { type: 'stop', reason } as WatchAction };
  };
  if (s.stopped) return { state: s, action: NONE };
  switch (ev.type) {
    case 'abort':
      s.aborted = true;
      return stop('abort');
    case 'detection':
      if (s.detectedAt === null && s.hang === null) s.detectedAt = now;
      return { state: s, action: NONE };
    case 'sample': {
      s.sampling = false;
      s.lastSampleAt = now;
      if (!ev.vcpus?.length || s.hang || s.detectedAt !== null) return { state: s, action: NONE };
      const hbAt = c.lastHeartbeatMs ?? -Infinity;
      // Samples taken before the latest heartbeat are of a guest that moved since.
      s.samples = [...s.samples.filter((x) => x.atMs > hbAt), { atMs: now, vcpus: ev.vcpus }].slice(-(cfg.fastHang?.samples ?? 3));
      if (cfg.fastHang && s.samples.length >= cfg.fastHang.samples && c.lastOutputMs < s.samples[0].atMs && stuckVcpus(s.samples).hang) {
        s.hang = { kind: 'stuck', atMs: now, vcpus: ev.vcpus, inspectedAt: null };
        return { state: s, action: { type: 'inspect', kind: 'stuck', vcpus: ev.vcpus } };
      }
      return { state: s, action: NONE };
    }
    case 'inspected':
      if (s.hang) s.hang = { ...s.hang, vcpus: s.hang.vcpus ?? ev.vcpus, inspectedAt: now };
      return { state: s, action: NONE };
    case 'tick':
      break;
  }

  // A tick.
  if (s.aborted) return stop('abort');
  if (ev.artifactBytes !== undefined && ev.artifactBytes !== s.artifactBytes) {
    s.artifactBytes = ev.artifactBytes;
    s.artifactGrewAt = now;
  }
  const quiet = now - c.lastOutputMs > QUIET_MS;
  if (s.detectedAt !== null) {
    const until = s.detectedAt + cfg.graceMs;
    return now >= until && (quiet || now >= until + BUSY_MAX_MS) ? stop('detected') : { state: s, action: NONE };
  }
  if (s.hang) {
    if (s.hang.inspectedAt === null) return { state: s, action: NONE };
    const at = s.hang.inspectedAt;
    // The NMI's panic prints, then dumps the trace over the serial console,
    // its body often seconds after 'Dumping ftrace buffer:': once the kernel
    // spoke, read on until it is quiet for the grace period (at most
    // NMI_PRINT_MAX_MS); a kernel that says nothing is left after nmiWaitMs.
    if (c.lastOutputMs <= at) return now >= at + cfg.nmiWaitMs[s.hang.kind] ? stop(s.hang.kind) : { state: s, action: NONE };
    return now - c.lastOutputMs > cfg.graceMs || now - at > NMI_PRINT_MAX_MS ? stop(s.hang.kind) : { state: s, action: NONE };
  }
  if (c.initAtMs === null) {
    if (now - s.startMs > cfg.bootTimeoutMs) {
      if (now - c.lastOutputMs < QUIET_MS && c.bytes >= FLOOD_BYTES) s.floodedBootBytes = c.bytes;
      return stop('boot-timeout');
    }
    return { state: s, action: NONE };
  }
  if (c.doneAtMs === null) {
    const silentFor = now - Math.max(c.lastOutputMs, c.lastHeartbeatMs ?? 0);
    if (silentFor > cfg.hangTimeoutMs) {
      s.hang = { kind: 'silent', atMs: now, vcpus: null, inspectedAt: null };
      return { state: s, action: { type: 'inspect', kind: 'silent', vcpus: null } };
    }
    const f = cfg.fastHang;
    // Before the first heartbeat, init's own start is the reference: a stall in the workload's first second has no heartbeat at all.
    const beat = c.lastHeartbeatMs ?? c.initAtMs;
    if (f && now - beat > f.lateMs && !s.sampling && (s.lastSampleAt === null || now - s.lastSampleAt >= f.sampleEveryMs)) {
      s.sampling = true;
      return { state: s, action: { type: 'sample' } };
    }
  }
  if (c.doneAtMs !== null && now - Math.max(c.doneAtMs, c.lastOutputMs, s.artifactGrewAt) > DONE_IDLE_MS) return stop('done');
  const deadline = s.startMs + cfg.deadlineMs;
  if (now > deadline && !(now - s.artifactGrewAt < 5000 && now < deadline + 600_000)) return stop('deadline');
  return { state: s, action: NONE };
}

/** Functions a vCPU waits in when it has nothing to do. */
const IDLE = [/^default_idle/, /^native_safe_halt/, /^pv_native_safe_halt/, /^cpu_idle/, /^do_idle/, /^acpi_idle/, /^mwait_idle/, /^native_halt/, /^halt$/, /^cpuidle_/];

export interface StuckVerdict {
  hang: boolean;
  stuck: number[];             // cpus stuck in one function across the samples
  idle: number[];
  moving: number[];            // cpus seen in more than one function, or in user space
  unjudged: number[];          // cpus in one function whose QEMU thread barely ran meanwhile: the samples say nothing of them yet
}

/**
 * A vCPU counts as stuck only if its QEMU thread ran at least this much host
 * CPU time across the samples (when the launcher can tell: hostCpuMs).
 * A vCPU thread the host did not schedule (a loaded host: a build beside the
 * run, other VMs) keeps its RIP because it did not run at all, which is no
 * sign of a spin. 100 ms of TCG execution is tens of millions of guest
 * instructions: a function still running with interrupts off, or still in a
 * lock's slow path, after that much work and 1 s of wall time is spinning.
 */
export const MIN_STUCK_RUN_MS = 100;

/**
 * Across samples (oldest first): which vCPUs stayed in one kernel function
 * with interrupts off or in a known spin (stuck), which idled, which moved.
 * A hang is every vCPU stuck or idle and at least one stuck; a vCPU whose
 * thread did not run MIN_STUCK_RUN_MS meanwhile holds the verdict back.
 */
export function stuckVcpus(samples: VcpuSample[]): StuckVerdict {
  const out: StuckVerdict = { hang: false, stuck: [], idle: [], moving: [], unjudged: [] };
  const cpus = new Set(samples.flatMap((x) => x.vcpus.map((v) => v.cpu)));
  for (const cpu of [...cpus].sort((a, b) => a - b)) {
    const seen = samples.map((x) => x.vcpus.find((v) => v.cpu === cpu));
    if (seen.some((v) => !v)) {
      out.moving.push(cpu);
      continue;
    }
    const vs = seen as VcpuState[];
    const funcs = vs.map((v) => funcOf(v.symbol));
    const f = funcs[0];
    const same = f !== null && funcs.every((x) => x === f);
    if (vs.every((v) => v.halted) || (same && IDLE.some((re) => re.test(f!)))) out.idle.push(cpu);
    else if (same && (vs.every((v) => v.interruptsOn === false) || KNOWN_SPINS.some((re) => re.test(f!)))) {
      const first = vs[0].hostCpuMs;
      const last = vs[vs.length - 1].hostCpuMs;
      if (first !== undefined && last !== undefined && last - first < MIN_STUCK_RUN_MS) out.unjudged.push(cpu);
      else out.stuck.push(cpu);
    } else out.moving.push(cpu);
  }
  out.hang = out.stuck.length > 0 && out.moving.length === 0 && out.unjudged.length === 0;
  return out;
}
