import { execa, type ResultPromise } from 'execa';
import { createWriteStream, type WriteStream } from 'node:fs';
import { StringDecoder } from 'node:string_decoder';

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
  let pending = '';
  const dec = new StringDecoder('utf8');
  p.stdout!.on('data', (chunk: Buffer) => {
    log.write(chunk);
    pending += dec.write(chunk);
    let i;
    while ((i = pending.indexOf('\n')) >= 0) {
      const line = pending.slice(0, i).replace(/\r/g, '');
      pending = pending.slice(i + 1);
      onLine(line);
    }
    // A single enormous line (flood without newlines) is cut, not buffered forever.
    if (pending.length > 1 << 20) {
      onLine(pending.replace(/\r/g, ''));
      pending = '';
    }
  });
  const exited = (async () => {
    const r = await p;
    running = false;
    if (pending) onLine(pending.replace(/\r/g, ''));
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

export async function qemuVersion(binary = process.env.KREPRO_QEMU ?? 'qemu-system-x86_64'): Promise<string | null> {
  try {
    const r = await execa(binary, ['--version'], { reject: false });
    return r.exitCode === 0 ? String(r.stdout).split('\n')[0] : null;
  } catch {
    return null;
  }
}
