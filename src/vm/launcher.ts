import { startQemu, type QemuProcess } from './qemu.ts';
import { startVng } from './vng-process.ts';
import { Qmp, parseRegisters, parseMemoryDump, type CpuRegisters } from './qmp.ts';
import type { BootPath } from './qemu-args.ts';
import { threadCpuMs, vcpuThreadIds } from './threads.ts';

/** What `--dry-run` prints and what a real run executes. */
export interface VmPlan {
  argv: string[];
  append: string;
  accel: 'kvm' | 'tcg';
  accelReason?: string;        // why this accelerator (AccelChoice.reason)
  vsockCid: number | null;
  boot?: BootPath;             // QEMU backend: the boot path used
  bootReason?: string;         // why not the one asked for
}

export type VmExit = Awaited<QemuProcess['exited']>;

/**
 * One running guest, as the watch loop sees it: its console arrives through
 * the `onLine` given to `start`, QMP answers the three questions a run asks
 * (registers, NMI, quit), and it ends with `exited`.
 */
export interface VmInstance {
  readonly exited: Promise<VmExit>;
  isRunning(): boolean;
  kill(signal?: NodeJS.Signals): void;
  /**
   * Every vCPU's registers (`info registers -a`), with the host CPU time its
   * thread has used so far where QEMU names the thread; null when QMP does
   * not answer.
   */
  registers(): Promise<CpuRegisters[] | null>;
  /**
   * `words` 64-bit words from the top of one vCPU's stack (HMP `x/Ngx $sp`
   * on that CPU), hex without 0x; null when QMP does not answer.
   */
  stack(cpu: number, words: number): Promise<string[] | null>;
  /** Inject an NMI into every vCPU; false when QMP does not answer. */
  injectNmi(): Promise<boolean>;
  /** Ask QEMU to quit over QMP; false when it could not be asked. */
  quit(): Promise<boolean>;
}

/** How a guest is started: QEMU directly, or vng (virtme-ng) that starts QEMU. */
export interface Launcher {
  readonly name: 'qemu' | 'vng';
  start(plan: VmPlan, io: { consoleLog: string; qmpSocket: string; onLine: (line: string) => void }): VmInstance;
}

/**
 * QMP over the socket the plan gave QEMU: one connection, opened at the
 * first question and kept for the boot (a hang is judged from samples a
 * second apart; a new connection and handshake each time cost hundreds of
 * ms on a loaded host). A broken connection is reopened once per question.
 */
function withQmp(p: QemuProcess, qmpSocket: string): VmInstance {
  let conn: Promise<Qmp> | null = null;
  const open = (connectMs: number) => (conn ??= Qmp.connect(qmpSocket, connectMs).catch((e) => {
    conn = null;
    throw e;
  }));
  const ask = async <T>(what: (q: Qmp) => Promise<T>, connectMs: number, fallback: T): Promise<T> => {
    for (let attempt = 0; attempt < 2; attempt++) {
      let q: Qmp;
      try {
        q = await open(connectMs);
      } catch {
        return fallback;
      }
      try {
        return await what(q);
      } catch {
        q.close();
        conn = null;
      }
    }
    return fallback;
  };
  p.exited.then(() => conn?.then((q) => q.close(), () => {}), () => {});
  // vCPU -> host thread id: asked once (a vCPU keeps its thread), again only after a failed ask.
  let threads: Map<number, number> | null = null;
  const vcpuThreads = async () => (threads ??= await ask(async (q) => vcpuThreadIds((await q.execute('query-cpus-fast')).return), 3000, null));
  const registers = async (): Promise<CpuRegisters[] | null> => {
    const regs = await ask(async (q) => parseRegisters(await q.hmp('info registers -a')), 3000, null);
    if (!regs) return null;
    const t = await vcpuThreads();
    if (t) await Promise.all(regs.map(async (r) => {
      const tid = t.get(r.cpu);
      const ms = tid === undefined ? null : await threadCpuMs(tid);
      if (ms !== null) r.hostCpuMs = ms;
    }));
    return regs;
  };
  return {
    exited: p.exited,
    isRunning: p.isRunning,
    kill: p.kill,
    registers,
    stack: (cpu, words) => ask(async (q) => {
      const r = await q.execute('human-monitor-command', { 'command-line': `x/${words}gx $sp`, 'cpu-index': cpu });
      if (r.error) throw new Error(JSON.stringify(r.error));
      return parseMemoryDump(String(r.return ?? ''));
    }, 3000, null),
    injectNmi: () => ask(async (q) => {
      const r = await q.execute('inject-nmi');
      if (r.error && /closed|timeout/i.test(JSON.stringify(r.error))) throw new Error('QMP gone');
      return !r.error;
    }, 3000, false),
    quit: () => ask(async (q) => {
      await q.execute('quit', undefined, 2000);
      return true;
    }, 1000, false),
  };
}

export const qemuLauncher: Launcher = {
  name: 'qemu',
  start: (plan, io) => withQmp(startQemu(plan.argv, io.consoleLog, io.onLine), io.qmpSocket),
};

export const vngBackend: Launcher = {
  name: 'vng',
  start: (plan, io) => withQmp(startVng(plan.argv, io.consoleLog, io.onLine), io.qmpSocket),
};

export function launcherFor(backend: 'qemu' | 'vng'): Launcher {
  return backend === 'vng' ? vngBackend : qemuLauncher;
}
