import { mkdir, readFile, rename, mkdtemp } from 'node:fs/promises';
import { join } from 'node:path';
import { cacheRoot, guestDir } from '../util/paths.ts';
import { exists, rmrf, sha256 } from '../util/fs.ts';
import { infraError } from '../util/errors.ts';
import { gccStatic } from './tools.ts';
import { gccIdentity } from '../build/make.ts';
import { isStaticExecutable } from './elf.ts';

export interface GuestBinariesOptions {
  cacheDir?: string;        // default cacheRoot()
  guestSrcDir?: string;     // default <project>/guest
  gcc?: string;             // default "gcc"
  signal?: AbortSignal;
}

export interface GuestBinaries {
  workload: string;         // static executable
  modload: string;          // static executable
  key: string;              // content hash of sources, flags and gcc identity
  cached: boolean;
}

/** The guest programs and how each is compiled. Changing a flag changes the key. */
export const GUEST_PROGRAMS = [
  { name: 'workload', src: 'workload.c', flags: ['-static', '-O2', '-pthread', '-Wall'] },
  { name: 'modload', src: 'modload.c', flags: ['-static', '-O2', '-Wall'] },
] as const;

const FORMAT = 'krepro.guest-bin/1';

/**
 * Compile the guest programs with gcc -static, cached under
 * <cache>/guest-bin/<key>/ where key hashes the sources, the flags and the
 * gcc version, so an edit to guest/*.c or a compiler upgrade rebuilds.
 */
export async function buildGuestBinaries(opts: GuestBinariesOptions = {}): Promise<GuestBinaries> {
  const srcDir = opts.guestSrcDir ?? guestDir();
  const gccId = await gccIdentity(opts.gcc);
  const sources = await Promise.all(GUEST_PROGRAMS.map((p) => readFile(join(srcDir, p.src))));
  const key = sha256(
    JSON.stringify({
      format: FORMAT,
      gcc: gccId,
      programs: GUEST_PROGRAMS.map((p, i) => ({ ...p, sha256: sha256(sources[i]) })),
    }),
  ).slice(0, 24);

  const root = join(opts.cacheDir ?? cacheRoot(), 'guest-bin');
  const dir = join(root, key);
  const result = (cached: boolean): GuestBinaries => ({
    workload: join(dir, 'workload'),
    modload: join(dir, 'modload'),
    key,
    cached,
  });
  if ((await Promise.all(GUEST_PROGRAMS.map((p) => exists(join(dir, p.name))))).every(Boolean)) {
    return result(true);
  }

  await mkdir(root, { recursive: true });
  const tmp = await mkdtemp(join(root, `.tmp-${key}-`));
  try {
    for (const p of GUEST_PROGRAMS) {
      const out = join(tmp, p.name);
      await gccStatic(join(srcDir, p.src), out, [...p.flags], { gcc: opts.gcc, signal: opts.signal });
      if (!isStaticExecutable(await readFile(out))) {
        throw infraError(`${out} is not a static executable; check that gcc -static works (libc6-dev)`);
      }
    }
    try {
      await rename(tmp, dir);
    } catch (e) {
      // A concurrent build of the same key won the race: its result is identical.
      if (!(await exists(join(dir, GUEST_PROGRAMS[0].name)))) throw e;
      await rmrf(tmp);
    }
  } catch (e) {
    await rmrf(tmp);
    throw e;
  }
  return result(false);
}
