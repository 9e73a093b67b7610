import { execa } from 'execa';
import { envError, infraError } from '../util/errors.ts';

/**
 * The one place the guest-image stage runs host programs: gcc (static guest
 * binaries) and busybox (its applet list). Arguments are arrays; no shell.
 */

const ENV = { LC_ALL: 'C' };


/** Compile one C file into a static executable at `out`. */
export async function gccStatic(
  src: string,
  out: string,
  flags: string[],
  opts: { gcc?: string; signal?: AbortSignal } = {},
): Promise<void> {
  const gcc = opts.gcc ?? 'gcc';
  const r = await execa(gcc, [...flags, '-o', out, src], {
    env: ENV,
    reject: false,
    cancelSignal: opts.signal,
    all: true,
  });
  if (r.isCanceled) throw infraError(`compiling ${src} was interrupted`);
  if (r.exitCode !== 0) {
    const first = String(r.all ?? '').split('\n').find((l) => /error/.test(l)) ?? `exit ${r.exitCode}`;
    if (/cannot find -lc|cannot find -lpthread/.test(String(r.all))) {
      throw envError(`${gcc} cannot link statically (${first.trim()}); install libc6-dev`);
    }
    throw infraError(`${gcc} failed on ${src}: ${first.trim()}`, String(r.all ?? ''));
  }
}

/**
 * The applets a busybox binary provides, as install paths relative to / (e.g.
 * "bin/sh", "usr/bin/awk"), from `busybox --list-full`.
 */
export async function busyboxApplets(busybox: string): Promise<string[]> {
  const r = await execa(busybox, ['--list-full'], { env: ENV, reject: false });
  if (r.exitCode !== 0) {
    throw envError(`cannot list the applets of ${busybox} (${r.stderr || `exit ${r.exitCode}`}); install busybox-static`);
  }
  return r.stdout
    .split('\n')
    .map((l) => l.trim().replace(/^\/+/, ''))
    .filter((l) => l && !l.includes('..'));
}
