import { execa, type ResultPromise } from 'execa';
import { createWriteStream } from 'node:fs';
import { cpus } from 'node:os';
import { envError } from '../util/errors.ts';

/**
 * The one module that runs the kernel's build tools: make (and through it
 * gcc), merge_config.sh, and `gcc --version` for the build identity.
 * Every make gets the same CC string, ARCH and KBUILD_BUILD_* values, so
 * ccache hits and reproducible identities do not depend on the caller.
 */
export interface MakeEnv {
  src: string;        // source checkout
  out: string;        // O= dir
  cacheDir: string;   // ccache base dir
  ccache: boolean;
  jobs?: number;
}

export function ccacheEnv(cacheDir: string): Record<string, string> {
  return {
    // Paths under the cache are hashed relative to the build dir, so any
    // build dir of a tree hits what another one compiled.
    CCACHE_BASEDIR: cacheDir,
    CCACHE_NOHASHDIR: '1',
    CCACHE_DIR: process.env.CCACHE_DIR ?? `${cacheDir}/ccache`,
    CCACHE_MAXSIZE: process.env.CCACHE_MAXSIZE ?? '20G',
    CCACHE_SLOPPINESS: 'time_macros,include_file_mtime,include_file_ctime',
  };
}

function makeArgs(e: MakeEnv, targets: string[], extra: string[] = []): string[] {
  const cc = e.ccache ? 'ccache gcc' : 'gcc';
  return [
    '-C', e.src,
    `O=${e.out}`,
    'ARCH=x86_64',
    `CC=${cc}`,
    `HOSTCC=${cc}`,
    `-j${e.jobs ?? cpus().length}`,
    ...extra,
    ...targets,
  ];
}

function makeEnv(e: MakeEnv): Record<string, string> {
  return {
    ...(e.ccache ? ccacheEnv(e.cacheDir) : {}),
    KBUILD_BUILD_USER: 'krepro',
    KBUILD_BUILD_HOST: 'krepro',
    KBUILD_BUILD_TIMESTAMP: 'Sat Jan  1 00:00:00 UTC 2000',
    LC_ALL: 'C',
  };
}

/** Run make quietly, returning combined output; throws with output on failure. */
export async function makeQuiet(e: MakeEnv, targets: string[], extra: string[] = []): Promise<string> {
  const r = await execa('make', ['-s', ...makeArgs(e, targets, extra)], { env: makeEnv(e), all: true, reject: false });
  if (r.exitCode !== 0) {
    throw Object.assign(new Error(`make ${targets.join(' ')} failed`), { output: r.all ?? '' });
  }
  return r.all ?? '';
}

/** merge_config.sh -m: merge fragments over the base .config in O= (no make). */
export async function mergeConfig(e: MakeEnv, fragments: string[]): Promise<string> {
  const r = await execa(`${e.src}/scripts/kconfig/merge_config.sh`, ['-m', '-O', e.out, `${e.out}/.config`, ...fragments], {
    cwd: e.src,
    env: { ...makeEnv(e), ARCH: 'x86_64' },
    all: true,
    reject: false,
  });
  if (r.exitCode !== 0) throw Object.assign(new Error('merge_config.sh failed'), { output: r.all ?? '' });
  return r.all ?? '';
}

/**
 * The long make. Output goes to `logPath` in full and line by line to
 * `onLine`; the returned process can be killed (and is, on abort).
 */
export function makeStreaming(e: MakeEnv, targets: string[], logPath: string, onLine: (l: string) => void, signal?: AbortSignal, extra: string[] = []): ResultPromise {
  const log = createWriteStream(logPath, { flags: 'a' });
  const p = execa('make', makeArgs(e, targets, extra), {
    env: makeEnv(e),
    all: true,
    reject: false,
    buffer: false,
    cancelSignal: signal,
    // make and its children die with us: detached=false keeps them in our process group.
    cleanup: true,
  });
  let buf = '';
  p.all?.on('data', (chunk: Buffer) => {
    log.write(chunk);
    buf += chunk.toString('utf8');
    let i;
    while ((i = buf.indexOf('\n')) >= 0) {
      onLine(buf.slice(0, i));
      buf = buf.slice(i + 1);
    }
  });
  p.finally(() => log.end()).catch(() => {});
  return p;
}

const ENV = { LC_ALL: 'C' };

/** `gcc --version` first line plus the target triple: part of the guest binaries' cache key (image/) and, without the triple, of the build key. */
export async function gccIdentity(gcc = 'gcc'): Promise<string> {
  let version: string;
  let machine: string;
  try {
    version = (await execa(gcc, ['--version'], { env: ENV })).stdout.split('\n')[0] ?? '';
    machine = (await execa(gcc, ['-dumpmachine'], { env: ENV })).stdout.trim();
  } catch (e) {
    throw envError(`cannot run ${gcc} (${(e as Error).message.split('\n')[0]}); install it with: apt-get install gcc libc6-dev`);
  }
  return `${version} (${machine})`;
}

/** The compiler's first `--version` line: part of the build identity. */
export async function compilerVersion(): Promise<string> {
  try {
    return (await gccIdentity()).replace(/ \([^()]*\)$/, '');
  } catch {
    return 'gcc missing';
  }
}

/** Does `tool --version` run? */
async function answers(tool: 'ccache' | 'make'): Promise<boolean> {
  try {
    await execa(tool, ['--version']);
    return true;
  } catch {
    return false;
  }
}

export const haveCcache = () => answers('ccache');
export const haveMake = () => answers('make');
