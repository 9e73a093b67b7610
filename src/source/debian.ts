import { execa } from 'execa';
import { mkdir, rename, readdir, writeFile, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { git } from './git.ts';
import { exists, rmrf } from '../util/fs.ts';
import { acquireLock } from '../util/lock.ts';
import { envError, usageError } from '../util/errors.ts';
import { privateApt, packageVersions, linuxSourceSeries, downloadDeb, extractDeb } from './apt.ts';
import { requireFreeSpace } from '../host/facts.ts';

/**
 * The default kernel: Debian's linux-source-6.12 tarball, unpacked once into
 * the cache and committed as a one-commit git repository, so the default tree
 * and a user's tree go through the same worktree/build path. The commit is
 * made with fixed author, committer and dates, so its hash depends only on
 * the tarball's content (and build keys stay stable across machines).
 */
export const DEBIAN_TARBALL_DIR = '/usr/src';

export async function findDebianTarball(dir = DEBIAN_TARBALL_DIR, series = '6.12'): Promise<string | null> {
  let names: string[] = [];
  try {
    names = await readdir(dir);
  } catch {
    return null;
  }
  const prefix = `linux-source-${series}.tar.`;
  const hit = names.filter((n) => n.startsWith(prefix) && ['xz', 'bz2', 'gz'].includes(n.slice(prefix.length))).sort();
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

/**
 * `--tree debian:7.2` (or `debian:7.2=7.2.12-1~bpo13+1` to pin a version):
 * Debian's linux-source-X.Y. Returns null when `tree` is not of that form.
 */
export interface DebianSpec {
  series: string;
  version?: string;
}

export function parseDebianSpec(tree: string | null | undefined): DebianSpec | null {
  if (!tree || !tree.startsWith('debian:')) return null;
  const m = /^debian:(\d+\.\d+)(?:=(\S+))?$/.exec(tree);
  if (!m) throw usageError(`--tree ${tree}: write debian:X.Y (e.g. debian:7.2) or debian:X.Y=VERSION`);
  return { series: m[1], version: m[2] };
}

/** What a Debian tree was made from: recorded in the repo, read into run.json and reports. */
export interface DebianTreeInfo {
  package: string;   // linux-source-7.2
  version: string;   // 7.2.13-1, or 'host' for the host's installed tarball
  suite: string;     // sid, trixie-backports, 'host'
}

export function debianTreeName(spec: DebianSpec, info: DebianTreeInfo): string {
  return info.version === 'host' ? `debian-linux-source-${spec.series}` : `debian-linux-source-${spec.series}_${info.version.replace(/[^A-Za-z0-9.+-]/g, '_')}`;
}

export async function readDebianTreeInfo(repo: string): Promise<DebianTreeInfo | null> {
  try {
    return JSON.parse(await readFile(join(repo, '.git', 'krepro-debian.json'), 'utf8')) as DebianTreeInfo;
  } catch {
    return null;
  }
}

/**
 * Unpack a source tarball into `dir` as a one-commit git repository with a
 * fixed identity and date: its hash depends only on the tarball's content.
 * Written to `<dir>.partial` and renamed, so nothing half-made is left.
 */
async function commitTarball(cacheDir: string, tarball: string, dir: string, message: string, info: DebianTreeInfo, log: (s: string) => void): Promise<void> {
  const partial = `${dir}.partial`;
  await rmrf(partial);
  await requireFreeSpace(cacheDir, 'unpacking a kernel tree');
  await mkdir(partial, { recursive: true });
  log(`unpacking ${tarball} into ${dir} (once)`);
  try {
    const tar = await execa('tar', ['-xf', tarball, '-C', partial, '--strip-components=1'], { reject: false });
    if (tar.exitCode !== 0) {
      if (/No space left/.test(tar.stderr)) throw envError(`no space left in ${cacheDir} while unpacking ${tarball}: free space or set KREPRO_CACHE to a bigger disk`);
      throw envError(`cannot unpack ${tarball}: ${tar.stderr.split('\n')[0]}`);
    }
    await git(partial, ['init', '-q']);
    // Debian's top-level .gitignore ignores everything (`/*`): force-add.
    await git(partial, ['add', '-f', '-A', '.']);
    await git(partial, ['commit', '-q', '--no-gpg-sign', '-m', message], { env: FIXED_IDENTITY });
    await writeFile(join(partial, '.git', 'krepro-debian.json'), JSON.stringify(info) + '\n');
    await rmrf(dir);
    await rename(partial, dir);
    await writeFile(join(dir, '.git', 'krepro-ready'), '');
  } catch (e) {
    await rmrf(partial);
    throw e;
  }
}

/**
 * Can `tree` be opened without unpacking or downloading anything? A
 * checkout always; the default tree or a `debian:X.Y` one when some version
 * of it is already in the cache (what --dry-run may look at).
 */
export async function treeInCache(cacheDir: string, tree: string | null | undefined): Promise<boolean> {
  if (!tree) return exists(join(debianTreeDir(cacheDir), '.git'));
  const spec = parseDebianSpec(tree);
  if (!spec) return true;
  const prefix = `debian-linux-source-${spec.series}`;   // debianTreeName's, for every version
  const names = await readdir(join(cacheDir, 'trees')).catch(() => [] as string[]);
  for (const n of names) {
    if ((n === prefix || n.startsWith(`${prefix}_`)) && (await exists(join(cacheDir, 'trees', n, '.git')))) return true;
  }
  return false;
}

async function readyRepo(dir: string): Promise<boolean> {
  if (await exists(join(dir, '.git', 'krepro-ready'))) return true;
  // A repo from before the ready marker existed (or made by hand) counts if it has a commit.
  if (await exists(join(dir, '.git'))) {
    const r = await git(dir, ['rev-parse', '--verify', '--quiet', 'HEAD'], { reject: false });
    if (r.exitCode === 0) {
      await writeFile(join(dir, '.git', 'krepro-ready'), '');
      return true;
    }
  }
  return false;
}

/**
 * The repo at `dir`, made by `make` once: a second krepro waits on the
 * lock and then finds it ready (or makes it if the first one failed).
 */
async function makeTreeOnce(dir: string, what: string, log: (s: string) => void, make: () => Promise<void>): Promise<string> {
  if (await readyRepo(dir)) return dir;
  const lock = await acquireLock(`${dir}.lock`, { onWait: (who) => log(`waiting for ${who} to finish ${what}`) });
  try {
    if (!(await readyRepo(dir))) await make();
    return dir;
  } finally {
    await lock.release();
  }
}

/** Return the git repo of the default tree (the host's linux-source-6.12), creating it on first use. */
export async function ensureDebianTree(cacheDir: string, log: (s: string) => void = () => {}): Promise<string> {
  return makeTreeOnce(debianTreeDir(cacheDir), 'unpacking the default tree', log, async () => {
    const tarball = await findDebianTarball();
    if (!tarball) {
      throw envError(`no kernel tree given and ${DEBIAN_TARBALL_DIR}/linux-source-6.12.tar.xz is missing: run scripts/setup (apt-get install linux-source-6.12) or pass --tree DIR`);
    }
    // The message names the tarball as it always did, so the commit hash (and build keys) stay what they were.
    await commitTarball(cacheDir, tarball, debianTreeDir(cacheDir), `Debian linux-source-6.12 (${tarball})`, { package: 'linux-source-6.12', version: 'host', suite: 'host' }, log);
  });
}

/**
 * `debian:X.Y`: the host's installed tarball when it has one and no version
 * is pinned (6.12 on Debian 12), else the newest (or the pinned) version any
 * suite of the private apt configuration carries, downloaded once.
 */
export async function ensureDebianSeriesTree(cacheDir: string, spec: DebianSpec, log: (s: string) => void = () => {}): Promise<string> {
  if (!spec.version) {
    const host = await findDebianTarball(DEBIAN_TARBALL_DIR, spec.series);
    if (host && spec.series === '6.12') return ensureDebianTree(cacheDir, log);
    if (host) {
      const info = { package: `linux-source-${spec.series}`, version: 'host', suite: 'host' };
      const dir = join(cacheDir, 'trees', debianTreeName(spec, info));
      return makeTreeOnce(dir, `unpacking ${host}`, log, () => commitTarball(cacheDir, host, dir, `Debian linux-source-${spec.series} (${host})`, info, log));
    }
  }
  const pkg = `linux-source-${spec.series}`;
  // A pinned version already unpacked needs no network.
  if (spec.version) {
    const dir = join(cacheDir, 'trees', debianTreeName(spec, { package: pkg, version: spec.version, suite: '' }));
    if (await readyRepo(dir)) return dir;
  }
  const apt = await privateApt(cacheDir, log);
  const versions = await packageVersions(apt, pkg);
  if (!versions.length) {
    const have = await linuxSourceSeries(apt);
    throw usageError(`no Debian suite carries ${pkg}: versions that exist: ${have.length ? have.map((s) => `debian:${s}`).join(', ') : 'none (is the mirror reachable?)'}`);
  }
  const pick = spec.version ? versions.find((v) => v.version === spec.version) : versions[0];
  if (!pick) throw usageError(`${pkg} ${spec.version} is not in any suite: versions that exist: ${versions.map((v) => `${v.version} (${v.suite})`).join(', ')}`);
  const info: DebianTreeInfo = { package: pkg, version: pick.version, suite: pick.suite };
  const dir = join(cacheDir, 'trees', debianTreeName(spec, info));
  return makeTreeOnce(dir, `fetching ${pkg} ${pick.version}`, log, async () => {
    const dl = join(cacheDir, 'apt', 'debs');
    const unpack = join(cacheDir, 'apt', `unpack-${process.pid}`);
    await requireFreeSpace(cacheDir, `fetching ${pkg}`);
    log(`downloading ${pkg} ${pick.version} from ${pick.suite}`);
    const deb = await downloadDeb(apt, pkg, pick.version, dl);
    try {
      await rmrf(unpack);
      await extractDeb(deb, unpack);
      const tarball = await findDebianTarball(join(unpack, 'usr', 'src'), spec.series);
      if (!tarball) throw envError(`${deb} holds no usr/src/${pkg}.tar.*: is it a linux-source package?`);
      // No suite in the message: a version that moves from sid to testing keeps its commit hash (and build keys).
      await commitTarball(cacheDir, tarball, dir, `Debian ${pkg} ${pick.version}`, info, log);
    } finally {
      await rmrf(unpack);
    }
  });
}
