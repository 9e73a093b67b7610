import { readdir, readFile, stat, utimes, writeFile, mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { execa } from 'execa';
import { sha256, exists, rmrf, writeJsonAtomic } from '../util/fs.ts';
import { pidAlive } from '../util/lock.ts';
import type { PatchRecord } from './types.ts';

/**
 * The build cache: <cache>/builds/<key>/ is a finished O= dir with
 * .krepro-build.json; <cache>/builds/index/<inputKey> maps what the user
 * asked for (commit, fragments, patches and reverts, compiler) to the key of the final
 * .config, so asking again is answered without running make at all.
 *
 * The O= dir where make runs is one per tree checkout
 * (<cache>/builds/.work-<tree id>), reused so rebuilds are incremental; a
 * finished build publishes bzImage, vmlinux, System.map, .config and the
 * installed modules into <cache>/builds/<key>/ (~40 MB for a tiny 6.12).
 *
 * Eviction: least recently used first, when more than KREPRO_MAX_BUILDS
 * (default 8) finished builds exist or they take more than
 * KREPRO_MAX_BUILD_GB (default 40) GiB.
 */
export const RECIPE_VERSION = 'krepro-build/1';

export interface BuildMeta {
  key: string;
  inputKey: string;
  treeId: string;
  repo: string;
  commit: string;
  configSha: string;
  patches: PatchRecord[];
  compiler: string;
  kernelRelease: string;
  finishedAt: string;
  seconds: number;
  makeLines: number;
  seededFrom: string | null;     // key last built in the tree's O= dir before this one (incremental), null for a cold build
}

/** What of a patch or revert enters the build identity. */
export type PatchIdentity = { sha256: string; reverted?: boolean; commit?: string };

export interface KeyInputs {
  commit: string;
  configText: string;
  patches: PatchIdentity[];
  compiler: string;
}

/**
 * One change as the keys see it: a patch is its sha256 (so keys of builds
 * without reverts are what they always were), a file revert is
 * `revert:<sha256>`, a commit revert `revert:<hash>:<sha256 of its diff>`.
 * The list keeps the order the changes were applied in.
 */
export function patchIdentity(p: PatchIdentity): string {
  if (!p.reverted) return p.sha256;
  return p.commit ? `revert:${p.commit}:${p.sha256}` : `revert:${p.sha256}`;
}

/** The build identity: commit, final .config, patch and revert contents in order, compiler. */
export function buildKey(k: KeyInputs): string {
  return sha256(JSON.stringify([RECIPE_VERSION, k.commit, sha256(k.configText), k.patches.map(patchIdentity), k.compiler])).slice(0, 24);
}

/** What was asked for, before any make: answers repeat builds in milliseconds. */
export function inputKey(k: { commit: string; fragmentsText: string; patches: PatchIdentity[]; compiler: string }): string {
  return sha256(JSON.stringify([RECIPE_VERSION, k.commit, sha256(k.fragmentsText), k.patches.map(patchIdentity), k.compiler])).slice(0, 24);
}

export const buildsDir = (cacheDir: string) => join(cacheDir, 'builds');
export const metaPath = (dir: string) => join(dir, '.krepro-build.json');

export async function lookupInput(cacheDir: string, ik: string): Promise<string | null> {
  try {
    const key = (await readFile(join(buildsDir(cacheDir), 'index', ik), 'utf8')).trim();
    if (await exists(metaPath(join(buildsDir(cacheDir), key)))) return key;
  } catch {
    /* not indexed */
  }
  return null;
}

export async function recordInput(cacheDir: string, ik: string, key: string): Promise<void> {
  await mkdir(join(buildsDir(cacheDir), 'index'), { recursive: true });
  await writeFile(join(buildsDir(cacheDir), 'index', ik), key + '\n');
}

export async function readMeta(dir: string): Promise<BuildMeta | null> {
  try {
    return JSON.parse(await readFile(metaPath(dir), 'utf8')) as BuildMeta;
  } catch {
    return null;
  }
}

export async function writeMeta(dir: string, m: BuildMeta): Promise<void> {
  await writeJsonAtomic(metaPath(dir), m);
}

export async function touchUsed(dir: string): Promise<void> {
  const now = new Date();
  await utimes(metaPath(dir), now, now).catch(() => {});
}

/**
 * A build in use: a process that boots it (a run, a loop's runs, a
 * bisection's steps) names itself in `<build>/.krepro-users/<pid>`, and
 * eviction never removes a build with a live user. A dead user's file is
 * stale and ignored, so a killed krepro pins nothing. (A loop of 20 runs
 * lost its kernel to eviction when a bisection beside it made 7 builds.)
 */
export async function holdBuild(dir: string, pid = process.pid): Promise<() => Promise<void>> {
  const users = join(dir, '.krepro-users');
  await mkdir(users, { recursive: true });
  const f = join(users, String(pid));
  await writeFile(f, '');
  return async () => {
    await rmrf(f).catch(() => {});
  };
}

export async function buildInUse(dir: string): Promise<boolean> {
  const names = await entriesOf(join(dir, '.krepro-users'));
  return names.some((n) => /^\d+$/.test(n) && pidAlive(Number(n)));
}

async function entriesOf(root: string): Promise<string[]> {
  return readdir(root).catch(() => [] as string[]);
}

export async function listBuilds(cacheDir: string): Promise<{ dir: string; meta: BuildMeta; usedMs: number }[]> {
  const root = buildsDir(cacheDir);
  const names = await entriesOf(root);
  const out = [];
  for (const n of names) {
    if (n === 'index' || n.startsWith('.') || n.endsWith('.partial') || n.endsWith('.lock')) continue;
    const dir = join(root, n);
    const meta = await readMeta(dir);
    if (!meta) continue;
    const st = await stat(metaPath(dir));
    out.push({ dir, meta, usedMs: st.mtimeMs });
  }
  return out.sort((a, b) => b.usedMs - a.usedMs);
}

async function duBytes(dir: string): Promise<number> {
  try {
    const r = await execa('du', ['-sb', dir]);
    return Number(r.stdout.split('\t')[0]) || 0;
  } catch {
    return 0;
  }
}

/** Pure policy: which builds to evict, given them newest-used first. */
export function chooseEvictions(builds: { dir: string; bytes: number }[], keep: string, maxBuilds: number, maxBytes: number): string[] {
  const out: string[] = [];
  let count = 0;
  let bytes = 0;
  for (const b of builds) {
    if (b.dir === keep) {
      count++;
      bytes += b.bytes;
      continue;
    }
    if (count + 1 > maxBuilds || bytes + b.bytes > maxBytes) {
      out.push(b.dir);
      continue;
    }
    count++;
    bytes += b.bytes;
  }
  return out;
}

export async function evict(cacheDir: string, keep: string, env = process.env): Promise<string[]> {
  const maxBuilds = Number(env.KREPRO_MAX_BUILDS ?? 8);
  const maxBytes = Number(env.KREPRO_MAX_BUILD_GB ?? 40) * 2 ** 30;
  const builds = await listBuilds(cacheDir);
  const sized = [];
  for (const b of builds) sized.push({ dir: b.dir, bytes: await duBytes(b.dir) });
  const victims = [];
  for (const v of chooseEvictions(sized, keep, maxBuilds, maxBytes)) {
    if (await buildInUse(v)) continue;   // over the limit for as long as someone boots it
    await rmrf(v);
    victims.push(v);
  }
  return victims;
}

/**
 * Remove what killed builds left: stage dirs of dead pids and partial build
 * dirs nobody holds the lock of. Nothing half-written is ever mistaken for
 * a build (only dirs with .krepro-build.json count), this only frees disk.
 */
export async function sweepLeftovers(cacheDir: string): Promise<string[]> {
  const root = buildsDir(cacheDir);
  const names = await entriesOf(root);
  const removed: string[] = [];
  for (const n of names) {
    const stage = /^\.stage-(\d+)-/.exec(n);
    if (stage && !pidAlive(Number(stage[1]))) {
      await rmrf(join(root, n));
      removed.push(n);
      continue;
    }
    const part = /^([0-9a-f]+)\.partial$/.exec(n);
    if (part) {
      const lock = join(cacheDir, 'locks', `build-${part[1]}.lock`);
      const owner = Number((await readFile(lock, 'utf8').catch(() => '')).trim());
      if (!owner || !pidAlive(owner)) {
        await rmrf(join(root, n));
        removed.push(n);
      }
    }
  }
  return removed;
}

/**
 * Work dirs (the reused O= dirs, ~0.6 GB each for a tiny 6.12) beyond
 * KREPRO_MAX_WORKDIRS (default 4) are removed, least recently used first;
 * never the one in use. Losing one only costs a ccache-warm rebuild.
 */
export async function evictWorkDirs(cacheDir: string, keep: string, env = process.env): Promise<string[]> {
  const max = Number(env.KREPRO_MAX_WORKDIRS ?? 4);
  const root = buildsDir(cacheDir);
  const names = (await entriesOf(root)).filter((n) => n.startsWith('.work-'));
  const dirs = [];
  for (const n of names) dirs.push({ dir: join(root, n), mtime: (await stat(join(root, n))).mtimeMs });
  dirs.sort((a, b) => b.mtime - a.mtime);
  const victims = chooseEvictions(dirs.map((d) => ({ dir: d.dir, bytes: 0 })), keep, max, Infinity);
  for (const v of victims) await rmrf(v);
  return victims;
}
