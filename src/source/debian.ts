import { execa } from 'execa';
import { mkdir, rename, readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { git } from './git.ts';
import { exists, rmrf } from '../util/fs.ts';
import { acquireLock } from '../util/lock.ts';
import { envError } from '../util/errors.ts';
import { requireFreeSpace } from '../host/facts.ts';

/**
 * The default kernel: Debian's linux-source-6.12 tarball, unpacked once into
 * the cache and committed as a one-commit git repository, so the default tree
 * and a user's tree go through the same worktree/build path. The commit is
 * made with fixed author, committer and dates, so its hash depends only on
 * the tarball's content (and build keys stay stable across machines).
 */
export const DEBIAN_TARBALL_DIR = '/usr/src';

export async function findDebianTarball(dir = DEBIAN_TARBALL_DIR): Promise<string | null> {
  let names: string[] = [];
  try {
    names = await readdir(dir);
  } catch {
    return null;
  }
  const hit = names.filter((n) => /^linux-source-6\.12\.tar\.(xz|bz2|gz)$/.test(n)).sort();
  return hit.length ? join(dir, hit[0]) : null;
}

export function debianTreeDir(cacheDir: string): string {
  return join(cacheDir, 'trees', 'debian-linux-source-6.12');
}

const FIXED_IDENTITY = {
  GIT_AUTHOR_NAME: 'krepro',
  GIT_AUTHOR_EMAIL: 'krepro@localhost',
  GIT_COMMITTER_NAME: 'krepro',
  GIT_COMMITTER_EMAIL: 'krepro@localhost',
  GIT_AUTHOR_DATE: '2000-01-01T00:00:00Z',
  GIT_COMMITTER_DATE: '2000-01-01T00:00:00Z',
};

/** Return the git repo of the default tree, creating it on first use. */
export async function ensureDebianTree(cacheDir: string, log: (s: string) => void = () => {}): Promise<string> {
  const dir = debianTreeDir(cacheDir);
  if (await exists(join(dir, '.git', 'krepro-ready'))) return dir;
  const lock = await acquireLock(`${dir}.lock`, { onWait: (pid) => log(`waiting for pid ${pid} to finish unpacking the default tree`) });
  try {
    if (await exists(join(dir, '.git', 'krepro-ready'))) return dir;
    // A repo from before the ready marker existed (or made by hand) counts if it has a commit.
    if (await exists(join(dir, '.git'))) {
      const r = await git(dir, ['rev-parse', '--verify', '--quiet', 'HEAD'], { reject: false });
      if (r.exitCode === 0) {
        await writeFile(join(dir, '.git', 'krepro-ready'), '');
        return dir;
      }
    }
    const tarball = await findDebianTarball();
    if (!tarball) {
      throw envError(`no kernel tree given and ${DEBIAN_TARBALL_DIR}/linux-source-6.12.tar.xz is missing: run scripts/setup (apt-get install linux-source-6.12) or pass --tree DIR`);
    }
    const partial = `${dir}.partial`;
    await rmrf(partial);
    await requireFreeSpace(cacheDir, 'unpacking the default kernel tree');
    await mkdir(partial, { recursive: true });
    log(`unpacking ${tarball} into ${dir} (once)`);
    const tar = await execa('tar', ['-xf', tarball, '-C', partial, '--strip-components=1'], { reject: false });
    if (tar.exitCode !== 0) {
      await rmrf(partial);
      if (/No space left/.test(tar.stderr)) throw envError(`no space left in ${cacheDir} while unpacking the default tree: free space or set KREPRO_CACHE to a bigger disk`);
      throw envError(`cannot unpack ${tarball}: ${tar.stderr.split('\n')[0]}`);
    }
    await git(partial, ['init', '-q']);
    // Debian's top-level .gitignore ignores everything (`/*`): force-add.
    await git(partial, ['add', '-f', '-A', '.']);
    await git(partial, ['commit', '-q', '--no-gpg-sign', '-m', `Debian linux-source-6.12 (${tarball})`], { env: FIXED_IDENTITY });
    await rmrf(dir);
    await rename(partial, dir);
    await writeFile(join(dir, '.git', 'krepro-ready'), '');
    return dir;
  } finally {
    await lock.release();
  }
}
