import { startQemu, type QemuProcess } from './qemu.ts';
import { startVng } from './vng-process.ts';
import { Qmp, parseRegisters, type CpuRegisters } from './qmp.ts';
import type { BootPath } from './qemu-args.ts';

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
  /** Every vCPU's registers (`info registers -a`), null when QMP does not answer. */
  registers(): Promise<CpuRegisters[] | null>;
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

/** QMP over the socket the plan gave QEMU: one short connection per question. */
function withQmp(p: QemuProcess, qmpSocket: string): VmInstance {
  const ask = async <T>(what: (q: Qmp) => Promise<T>, connectMs: number, fallback: T): Promise<T> => {
    let q: Qmp;
    try {
      q = await Qmp.connect(qmpSocket, connectMs);
    } catch {
      return fallback;
    }
    try {
      return await what(q);
    } catch {
      return fallback;
    } finally {
      q.close();
    }
  };
  return {
    exited: p.exited,
    isRunning: p.isRunning,
    kill: p.kill,
    registers: () => ask(async (q) => parseRegisters(await q.hmp('info registers -a')), 3000, null),
    injectNmi: () => ask(async (q) => !(await q.execute('inject-nmi')).error, 3000, false),
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
