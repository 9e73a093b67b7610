import { execa, type ResultPromise } from 'execa';
import { createWriteStream, type WriteStream } from 'node:fs';
import { lineSplitter } from './lines.ts';

/**
 * The one module that starts QEMU. QEMU runs under `setpriv --pdeathsig
 * KILL` (util-linux, always on Debian): the kernel kills it when krepro
 * dies, even on SIGKILL, so no guest outlives its controller.
 * Console bytes are appended to console.log as they arrive and handed to
 * `onLine` split into lines (CR stripped).
 */
export interface QemuProcess {
  pid: number | undefined;
  exited: Promise<{ code: number | null; signal: string | null; stderr: string }>;
  kill(signal?: NodeJS.Signals): void;
  isRunning(): boolean;
}

export function startQemu(argv: string[], consoleLog: string, onLine: (line: string) => void): QemuProcess {
  const log: WriteStream = createWriteStream(consoleLog, { flags: 'a' });
  const [bin, ...args] = argv;
  const p: ResultPromise = execa('setpriv', ['--pdeathsig', 'KILL', '--', bin, ...args], {
    stdin: 'pipe',          // stdio chardev: kept open, never written
    stdout: 'pipe',
    stderr: 'pipe',
    buffer: { stdout: false, stderr: true },
    reject: false,
    cleanup: true,
    encoding: 'buffer',
  });
  let running = true;
  const lines = lineSplitter(onLine);
  p.stdout!.on('data', (chunk: Buffer) => {
    log.write(chunk);
    lines.data(chunk);
  });
  const exited = (async () => {
    const r = await p;
    running = false;
    lines.end();
    await new Promise<void>((res) => log.end(() => res()));
    const stderr = r.stderr instanceof Uint8Array ? Buffer.from(r.stderr).toString('utf8') : String(r.stderr ?? '');
    return { code: r.exitCode ?? null, signal: r.signal ?? null, stderr };
  })();
  return vmHandle(p, exited, () => running);
}

/** The handle both launchers (QEMU, vng) return: kill only while it runs. */
export function vmHandle(p: { pid?: number; kill(signal?: NodeJS.Signals): unknown }, exited: QemuProcess['exited'], running: () => boolean): QemuProcess {
  return {
    pid: p.pid,
    exited,
    kill: (signal = 'SIGKILL') => {
      if (running()) p.kill(signal);
    },
    isRunning: running,
  };
}

/** The QEMU program, by the rule qemuArgv and probeArgv use: KREPRO_QEMU, else qemu-system-x86_64 on PATH. */
export function qemuBinary(env: NodeJS.ProcessEnv = process.env): string {
  return env.KREPRO_QEMU ?? 'qemu-system-x86_64';
}

export interface QemuOnce {
  code: number | null;
  signal: string | null;
  stderr: string;
  timedOut: boolean;
  ms: number;
  spawnError?: string;       // the program could not be started at all (ENOENT, EACCES)
}

/**
 * Run a short-lived QEMU to its end (the KVM probe): same death signal as
 * startQemu, no console, killed after `timeoutMs`.
 */
export async function runQemuOnce(argv: string[], timeoutMs: number): Promise<QemuOnce> {
  const [bin, ...args] = argv;
  const t0 = Date.now();
  const r = await execa('setpriv', ['--pdeathsig', 'KILL', '--', bin, ...args], {
    stdin: 'ignore',
    stdout: 'ignore',
    stderr: 'pipe',
    reject: false,
    timeout: timeoutMs,
    killSignal: 'SIGKILL',
    cleanup: true,
  });
  const stderr = String(r.stderr ?? '');
  // setpriv reports a program it cannot exec on stderr and exits 127/126.
  const spawnError = r.failed && r.exitCode === undefined && !r.timedOut && !r.signal
    ? r.shortMessage
    : /^setpriv: failed to execute/m.test(stderr)
      ? stderr.trim().split('\n').pop()
      : undefined;
  return { code: r.exitCode ?? null, signal: r.signal ?? null, stderr, timedOut: !!r.timedOut, ms: Date.now() - t0, spawnError };
}

/**
 * The line of QEMU's stderr saying KVM itself failed (not the guest, not the
 * host's files): an assertion in QEMU's KVM code, KVM that cannot be opened
 * or initialized, a vCPU KVM refuses. Such a failure repeats identically on
 * every attempt. Null when the stderr shows none.
 */
export function kvmStartFailure(stderr: string): string | null {
  for (const line of stderr.split('\n')) {
    if (/warning:/i.test(line)) continue;
    if (KVM_FAILURES.some((re) => re.test(line))) return line.trim();
  }
  return null;
}

const KVM_FAILURES = [
  /kvm_buf_set_msrs/,                          // target/i386/kvm/kvm.c: MSR setup at vCPU init (nested KVM without the MSRs)
  /\bkvm\b.*Assertion .* failed/i,              // any other assertion in QEMU's KVM code
  /failed to initialize kvm/i,                 // KVM_CREATE_VM refused, or /dev/kvm not openable
  /Could not access KVM kernel module/i,       // no /dev/kvm, or no permission on it
  /kvm_init_vcpu.*failed/i,
  /KVM: entry failed/,                         // the first VM entry failed (hardware error)
  /-accel kvm: .*(not supported|unavailable|failed)/i,
];

export async function qemuVersion(binary = process.env.KREPRO_QEMU ?? 'qemu-system-x86_64'): Promise<string | null> {
  try {
    const r = await execa(binary, ['--version'], { reject: false });
    return r.exitCode === 0 ? String(r.stdout).split('\n')[0] : null;
  } catch {
    return null;
  }
}
