import { execa, execaSync, type ResultPromise } from 'execa';
import { createWriteStream, type WriteStream } from 'node:fs';
import { lineSplitter } from './lines.ts';
import { vmHandle, type QemuProcess } from './qemu.ts';

/**
 * The one module that starts vng, with the same contract as startQemu
 * (qemu.ts): console bytes go to console.log and `onLine` as they arrive,
 * and no guest outlives krepro.
 *
 * Two differences from a plain QEMU:
 * - Where vng's console goes. virtme-run first tries to reopen its
 *   stdin/stdout/stderr through /proc/self/fd; Node gives a child sockets,
 *   not pipes, which cannot be reopened, so virtme-run always takes its
 *   "limited redirection" path here: with --verbose the guest's serial
 *   console (kernel messages and, through it, the script's output: markers,
 *   heartbeats) is QEMU's stdout, in one ordered stream as with the QEMU
 *   backend. Only stdout lines go to the detectors. vng's stderr carries
 *   host-side messages (vng, virtme-run, QEMU errors, and a WARNING about
 *   that very redirection, which must not count as a kernel warning): it
 *   stays out of console.log (which is classified after the run) and its
 *   last 64 KB are returned as `stderr`, which the run saves as
 *   qemu-stderr.txt and uses for start-failure messages.
 * - QEMU is not vng's child but its great-grandchild (vng -> sh ->
 *   virtme-run -> qemu), so a parent-death signal on vng alone would leave
 *   QEMU running after a SIGKILL of krepro. vng runs as PID 1 of a new PID
 *   namespace (`unshare --pid --fork --kill-child`): when krepro dies,
 *   setpriv's death signal kills unshare, --kill-child kills vng, and the
 *   kernel kills everything left in the namespace, QEMU included.
 *   Non-root users get a user namespace for that (`--user
 *   --map-current-user`); where namespaces are refused, vng runs under the
 *   death signal only and the final SIGKILL covers normal exits.
 */
export function vngLauncher(uid = process.getuid?.() ?? 0): string[] {
  return uid === 0
    ? ['unshare', '--pid', '--fork', '--kill-child=SIGKILL', '--']
    : ['unshare', '--user', '--map-current-user', '--pid', '--fork', '--kill-child=SIGKILL', '--'];
}

let launcherOk: boolean | null = null;

/** Can this host create the PID namespace? Probed once (a few ms). */
export function namespacesUsable(): boolean {
  if (launcherOk === null) {
    try {
      launcherOk = execaSync(vngLauncher()[0], [...vngLauncher().slice(1), 'true'], { reject: false, timeout: 5000 }).exitCode === 0;
    } catch {
      launcherOk = false;
    }
  }
  return launcherOk;
}

export function startVng(argv: string[], consoleLog: string, onLine: (line: string) => void): QemuProcess {
  const log: WriteStream = createWriteStream(consoleLog, { flags: 'a' });
  const wrapped = [...(namespacesUsable() ? vngLauncher() : []), ...argv];
  const p: ResultPromise = execa('setpriv', ['--pdeathsig', 'KILL', '--', ...wrapped], {
    stdin: 'pipe',          // the console chardev's input: kept open, never written
    stdout: 'pipe',
    stderr: 'pipe',
    buffer: false,
    reject: false,
    cleanup: true,
    encoding: 'buffer',
  });
  let running = true;
  let stderrTail = '';
  const out = lineSplitter((line) => {
    log.write(line + '\n');
    onLine(line);
  });
  // stderr is kept (its tail), not split into console lines.
  const err = lineSplitter(() => {}, (text) => {
    stderrTail = (stderrTail + text).slice(-65536);
  });
  p.stdout!.on('data', out.data);
  p.stderr!.on('data', err.data);
  const ended = (s: NodeJS.ReadableStream) => new Promise<void>((res) => {
    s.once('end', () => res());
    s.once('close', () => res());
  });
  const outEnd = ended(p.stdout!);
  const errEnd = ended(p.stderr!);
  const exited = (async () => {
    const r = await p;
    running = false;
    // Grandchildren may hold the pipes a moment longer; do not wait forever.
    await Promise.race([Promise.all([outEnd, errEnd]), new Promise((res) => setTimeout(res, 2000))]);
    out.end();
    err.end();
    await new Promise<void>((res) => log.end(() => res()));
    return { code: r.exitCode ?? null, signal: r.signal ?? null, stderr: stderrTail };
  })();
  return vmHandle(p, exited, () => running);
}
