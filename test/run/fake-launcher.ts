import type { Launcher, VmInstance, VmPlan, VmExit } from '../../src/vm/launcher.ts';
import type { CpuRegisters } from '../../src/vm/qmp.ts';
import type { Clock } from '../../src/run/watch.ts';
import { HB_MARKER } from '../../src/run/monitor.ts';

/**
 * A fake guest for the watch loop, in the manner of syzkaller's
 * vm/vm_test.go: it replays a real console on a fake clock, answers QMP
 * (registers, NMI, quit) from a script, and can die, refuse to start or
 * ignore quit. Nothing runs: a 60 s run replays in milliseconds.
 */
export interface TimedLine {
  atMs: number;
  line: string;
}

/**
 * When each line of a real console appeared: a kernel line at its printk
 * timestamp, a heartbeat `krepro-hb t=N` N seconds after the workload's
 * start line, any other line right after the line before (never earlier).
 */
export function replayTimes(text: string, opts: { bootDelayMs?: number; heartbeatShift?: (t: number) => number } = {}): TimedLine[] {
  const boot = opts.bootDelayMs ?? 300;
  let now = 0;
  let workloadAt: number | null = null;
  const out: TimedLine[] = [];
  for (const raw of text.split('\n')) {
    const line = raw.replace(/\r$/, '');
    let at = now;
    const ts = /^\[\s*(\d+)\.(\d{6})\]/.exec(line);
    const hb = line.includes(HB_MARKER) ? /\bt=(\d+)/.exec(line) : null;
    if (ts) at = boot + Number(ts[1]) * 1000 + Math.floor(Number(ts[2]) / 1000);
    else if (hb && workloadAt !== null) at = workloadAt + (opts.heartbeatShift ?? ((t) => t * 1000))(Number(hb[1]));
    now = Math.max(now, at);
    if (workloadAt === null && /krepro-workload: start|krepro-init: workload: start/.test(line)) workloadAt = now;
    out.push({ atMs: now, line });
  }
  if (out.length && out[out.length - 1].line === '') out.pop();
  return out;
}

export class FakeClock implements Clock {
  t = 0;
  private vms: FakeVm[] = [];
  now = () => this.t;
  sleep = async (ms: number) => {
    this.t += ms;
    for (const vm of this.vms) vm.advance(this.t);
  };
  attach(vm: FakeVm) {
    this.vms.push(vm);
  }
}

export interface FakeGuest {
  lines: TimedLine[];
  /** The guest ends by itself (power off, a crash of QEMU) at this time; undefined: it runs until stopped. */
  exitAtMs?: number;
  exit?: Partial<VmExit>;
  /** vCPU registers at a time (QMP `info registers -a`); null: QMP does not answer. */
  registers?: (nowMs: number) => CpuRegisters[] | null;
  /** Words on top of a vCPU's stack (hex); absent: QMP does not answer. */
  stack?: (cpu: number) => string[] | null;
  /** What the kernel prints after an NMI (relative times), and whether it then exits (a panic with panic=-1). */
  afterNmi?: { lines: TimedLine[]; exitAfterMs?: number };
  /** QEMU does not act on QMP quit (only SIGKILL ends it). */
  ignoresQuit?: boolean;
}

export class FakeVm implements VmInstance {
  readonly exited: Promise<VmExit>;
  private resolveExit!: (e: VmExit) => void;
  private running = true;
  private queue: TimedLine[];
  private exitAt: number | undefined;
  private exitInfo: VmExit;
  readonly calls: { at: number; what: 'registers' | 'stack' | 'nmi' | 'quit' | 'kill' }[] = [];

  constructor(private guest: FakeGuest, private clock: FakeClock, private onLine: (line: string) => void) {
    this.exited = new Promise((r) => (this.resolveExit = r));
    this.queue = [...guest.lines];
    this.exitAt = guest.exitAtMs;
    this.exitInfo = { code: 0, signal: null, stderr: '', ...guest.exit };
    clock.attach(this);
    queueMicrotask(() => this.advance(clock.t));
  }

  advance(now: number) {
    if (!this.running) return;
    while (this.queue.length && this.queue[0].atMs <= now) this.onLine(this.queue.shift()!.line);
    if (this.exitAt !== undefined && now >= this.exitAt) this.end(this.exitInfo);
  }

  private end(e: VmExit) {
    if (!this.running) return;
    this.running = false;
    this.resolveExit(e);
  }

  isRunning = () => this.running;
  kill = () => {
    if (!this.running) return;
    this.calls.push({ at: this.clock.t, what: 'kill' });
    this.end({ code: null, signal: 'SIGKILL', stderr: this.exitInfo.stderr });
  };
  registers = async () => {
    this.calls.push({ at: this.clock.t, what: 'registers' });
    return this.running ? this.guest.registers?.(this.clock.t) ?? null : null;
  };
  stack = async (cpu: number) => {
    this.calls.push({ at: this.clock.t, what: 'stack' });
    return this.running ? this.guest.stack?.(cpu) ?? null : null;
  };
  injectNmi = async () => {
    this.calls.push({ at: this.clock.t, what: 'nmi' });
    if (!this.running) return false;
    const a = this.guest.afterNmi;
    if (a) {
      const t = this.clock.t;
      this.queue = [...a.lines.map((l) => ({ atMs: t + l.atMs, line: l.line })), ...this.queue].sort((x, y) => x.atMs - y.atMs);
      if (a.exitAfterMs !== undefined) {
        this.exitAt = t + a.exitAfterMs;
        this.exitInfo = { code: 0, signal: null, stderr: '' };
      }
    }
    return true;
  };
  quit = async () => {
    this.calls.push({ at: this.clock.t, what: 'quit' });
    if (!this.running) return false;
    if (!this.guest.ignoresQuit) {
      this.exitAt = Math.min(this.exitAt ?? Infinity, this.clock.t + 100);
      this.exitInfo = { code: 0, signal: null, stderr: 'qemu-system-x86_64: terminating on QMP quit' };
    }
    return true;
  };
}

export function fakeLauncher(guest: FakeGuest, clock: FakeClock): Launcher & { vm: () => FakeVm } {
  let vm: FakeVm | null = null;
  return {
    name: 'qemu',
    start: (_plan: VmPlan, io) => (vm = new FakeVm(guest, clock, io.onLine)),
    vm: () => vm!,
  };
}
