import { mkdir, readFile, rename, writeFile, copyFile, readdir, utimes } from 'node:fs/promises';
import { join, basename, resolve } from 'node:path';
import { cpus } from 'node:os';
import type { BuildOptions, BuildResult } from './types.ts';
import { cacheRoot } from '../util/paths.ts';
import { envError, skipError, usageError, KreproError } from '../util/errors.ts';
import { exists, rmrf, sha256 } from '../util/fs.ts';
import { acquireLock } from '../util/lock.ts';
import { openTree, resolveCommit, checkoutCommit } from '../source/worktree.ts';
import { loadPatches, loadReverts, resolveReverts, applyPatches, patchRecord, changeLabel, type PatchFile } from '../source/patches.ts';
import { planConfig, requestedSymbols, parseDotConfig, fragmentsDigestText } from '../kconfig/fragments.ts';
import { compareConfig, scanKconfig, explainMismatch } from '../kconfig/verify.ts';
import { makeQuiet, mergeConfig, makeStreaming, compilerVersion, haveCcache, haveMake, type MakeEnv } from './make.ts';
import {
  buildKey, inputKey, buildsDir, lookupInput, recordInput, readMeta, writeMeta, touchUsed, evict, evictWorkDirs, sweepLeftovers, type BuildMeta,
} from './cache.ts';
import { progressTracker, firstCompilerErrors } from './progress.ts';
import { requireFreeSpace } from '../host/facts.ts';

const say = (opts: BuildOptions, message: string) => opts.progress?.({ phase: 'source', message });

/** Where a build keeps its bzImage, relative to the build dir (the O= layout). */
export const BZIMAGE_IN_BUILD = 'arch/x86/boot/bzImage';

/** Where a build dir keeps what runs, reports and symbolization use: the one copy of the layout. */
export function buildLayout(dir: string): Pick<BuildResult, 'bzImage' | 'modules' | 'config' | 'systemMap' | 'vmlinux' | 'log'> {
  return {
    bzImage: join(dir, BZIMAGE_IN_BUILD),
    modules: join(dir, 'modinst'),
    config: join(dir, '.config'),
    systemMap: join(dir, 'System.map'),
    vmlinux: join(dir, 'vmlinux'),
    log: join(dir, 'build.log'),
  };
}

function resultFrom(dir: string, m: BuildMeta, cached: boolean, seconds: number): BuildResult {
  return {
    key: m.key,
    cached,
    seconds,
    dir,
    ...buildLayout(dir),
    tree: m.repo,
    commit: m.commit,
    patches: m.patches,
    kernelRelease: m.kernelRelease,
  };
}

/**
 * The build a bzImage belongs to, when it sits in a krepro build dir
 * (<O>/arch/x86/boot/bzImage, with build meta): its .config, System.map,
 * vmlinux and modules come along. Null for a bzImage anywhere else.
 */
export async function buildOfBzImage(bzImage: string): Promise<BuildResult | null> {
  const dir = resolve(bzImage, '..', '..', '..', '..');
  const meta = await readMeta(dir);
  return meta ? { ...resultFrom(dir, meta, true, 0), bzImage } : null;
}

/** The build dir of a bzImage path in the O= layout (whether or not it is a krepro build). */
export function buildDirOfBzImage(bzImage: string): string {
  return resolve(bzImage, '..', '..', '..', '..');
}

/**
 * Build (or find in the cache) the kernel described by `opts`:
 * private checkout at the commit -> patches -> tinyconfig + fragments +
 * olddefconfig -> verify -> make bzImage modules with ccache in the tree's
 * own O= dir (so only what changed is rebuilt) -> publish the results into
 * <cache>/builds/<key>.
 */
export async function buildKernel(opts: BuildOptions): Promise<BuildResult> {
  const t0 = Date.now();
  const cacheDir = opts.cacheDir ?? cacheRoot();
  if (!(await haveMake())) throw envError('make is not installed: run scripts/setup (or apt-get install make gcc flex bison bc libelf-dev libssl-dev)');
  const compiler = await compilerVersion();
  if (compiler === 'gcc missing') throw envError('gcc is not installed: run scripts/setup');
  const ccache = await haveCcache();

  const plan = await planConfig(opts.profile ?? 'default', opts.configs ?? []);
  const forward = await loadPatches([...plan.profilePatches, ...(opts.patches ?? [])]);
  const revertSpecs = await loadReverts(opts.reverts ?? []);
  const tree = await openTree(opts.tree, cacheDir, (m) => say(opts, m));
  const commit = await resolveCommit(tree, opts.commit);
  const patches = await changeList(tree.repo, commit, revertSpecs, forward);
  const fragmentsText = fragmentsDigestText(plan.fragments);
  const ik = inputKey({ commit, fragmentsText, patches, compiler });

  const hit = await lookupInput(cacheDir, ik);
  if (hit) {
    const dir = join(buildsDir(cacheDir), hit);
    const meta = (await readMeta(dir))!;
    await touchUsed(dir);
    return resultFrom(dir, meta, true, (Date.now() - t0) / 1000);
  }

  await sweepLeftovers(cacheDir).catch(() => []);
  await requireFreeSpace(cacheDir, 'a kernel build');
  const treeLock = await acquireLock(join(cacheDir, 'locks', `tree-${tree.id}.lock`), {
    onWait: (who) => say(opts, `waiting for ${who}, which is using the checkout of ${tree.repo}`),
    signal: opts.signal,
  });
  const stage = join(buildsDir(cacheDir), `.stage-${process.pid}-${Date.now()}`);
  let partial: string | null = null;
  try {
    // Another krepro may have finished this very build while we waited.
    const again = await lookupInput(cacheDir, ik);
    if (again) {
      const dir = join(buildsDir(cacheDir), again);
      return resultFrom(dir, (await readMeta(dir))!, true, (Date.now() - t0) / 1000);
    }
    opts.progress?.({ phase: 'source', message: `checking out ${commit.slice(0, 12)} in ${tree.checkout}` });
    await checkoutCommit(tree, commit);
    let applied = patches.map((p) => patchRecord(p));
    if (patches.length) {
      opts.progress?.({ phase: 'patch', message: `applying ${patches.map(changeLabel).join(', ')}` });
      applied = await applyPatches(tree.checkout, patches, (label, offsets) =>
        opts.progress?.({ phase: 'patch', message: `${label} applied with offsets: ${offsets.join('; ')}` }));
    }

    // Configure in a stage dir to learn the final .config (and so the key).
    opts.progress?.({ phase: 'config', message: `configuring: tinyconfig + ${plan.fragments.map((f) => f.name).join(' + ')}` });
    await mkdir(stage, { recursive: true });
    const env: MakeEnv = { src: tree.checkout, out: stage, cacheDir, ccache, jobs: opts.jobs ?? cpus().length };
    const configText = await configure(env, plan.fragments, stage);
    const warnings = await verifyConfig(tree.checkout, plan.fragments, configText);
    for (const w of warnings) opts.progress?.({ phase: 'config', message: `warning: ${w}` });
    const key = buildKey({ commit, configText, patches, compiler });
    const dir = join(buildsDir(cacheDir), key);

    const keyLock = await acquireLock(join(cacheDir, 'locks', `build-${key}.lock`), { signal: opts.signal });
    try {
      const existing = await readMeta(dir);
      if (existing) {
        await recordInput(cacheDir, ik, key);
        await touchUsed(dir);
        return resultFrom(dir, existing, true, (Date.now() - t0) / 1000);
      }
      partial = `${dir}.partial`;
      await rmrf(partial);
      await mkdir(partial, { recursive: true });
      const configSha = sha256(configText);
      // One O= dir per tree checkout, always at the same path: make sees
      // exactly what the checkout and the .config changed since the last
      // build of this tree, and objtool and other host tools (whose
      // dependency files hold absolute paths) are not rebuilt.
      const work = workDirOf(cacheDir, tree.id, fragmentsText);
      await touchWorkDir(work);
      const lastKey = (await readFile(join(work, '.krepro-last-key'), 'utf8').catch(() => '')).trim() || null;
      if (await exists(join(work, 'Makefile')) && (await exists(join(work, 'include/config/auto.conf')))) {
        opts.progress?.({ phase: 'make', message: `incremental: reusing ${work}${lastKey ? ` (last built ${lastKey})` : ''}` });
        await copyFile(join(stage, '.config'), join(work, '.config'));
      } else {
        await rmrf(work);
        await rename(stage, work);
      }
      await rmrf(join(work, '.krepro-last-key'));
      const prevLines = await previousMakeLines(cacheDir, tree.id, lastKey !== null);
      const benv: MakeEnv = { ...env, out: work };
      const tracker = progressTracker(prevLines, (p) => opts.progress?.(p));
      const logPath = join(partial, 'build.log');
      const proc = makeStreaming(benv, ['bzImage', 'modules'], logPath, tracker.line, opts.signal);
      const r = await proc;
      if (opts.signal?.aborted) throw new KreproError('infra', 'build interrupted');
      if (r.exitCode !== 0) {
        const log = await readFile(logPath, 'utf8').catch(() => '');
        if (/No space left on device/.test(log)) {
          throw envError(`no space left on the cache disk while building (${cacheDir}): free space or set KREPRO_CACHE to a bigger disk`);
        }
        const failedLog = join(buildsDir(cacheDir), `failed-${key}.log`);
        await copyFile(logPath, failedLog).catch(() => {});
        const errs = firstCompilerErrors(log);
        throw skipError(`build of ${commit.slice(0, 12)} failed (log: ${failedLog})${errs.length ? `: ${errs[0]}` : ''}`, errs.join('\n'));
      }
      // Publish what runs, reports and symbolization need into the keyed dir.
      await mkdir(join(partial, 'arch/x86/boot'), { recursive: true });
      await mkdir(join(partial, 'include/config'), { recursive: true });
      for (const f of ['arch/x86/boot/bzImage', 'System.map', 'vmlinux', '.config', 'include/config/kernel.release']) {
        await copyFile(join(work, f), join(partial, f));
      }
      await makeQuiet(benv, ['modules_install'], [`INSTALL_MOD_PATH=${join(partial, 'modinst')}`, 'INSTALL_MOD_STRIP=1']);
      // The initramfs takes the stripped modules; with debug info, keep
      // unstripped ones too so module frames decode to file:line.
      if (/^CONFIG_DEBUG_INFO=y$/m.test(configText)) {
        await makeQuiet(benv, ['modules_install'], [`INSTALL_MOD_PATH=${join(partial, 'modinst-debug')}`]);
      }
      // The diff each reverted commit made: what run dirs and bundles copy, next to the build.
      for (const p of patches.filter((x) => x.commit)) {
        await mkdir(join(partial, 'reverts'), { recursive: true });
        await writeFile(join(partial, 'reverts', basename(p.file)), p.text);
      }
      await writeFile(join(work, '.krepro-last-key'), key + '\n');
      const seedMeta = lastKey ? { key: lastKey } : null;
      const kernelRelease = (await readFile(join(partial, 'include/config/kernel.release'), 'utf8')).trim();
      const seconds = (Date.now() - t0) / 1000;
      const meta: BuildMeta = {
        key, inputKey: ik, treeId: tree.id, repo: tree.repo, commit, configSha,
        patches: applied.map((r, i) => (patches[i].commit ? { ...r, file: join(dir, 'reverts', basename(patches[i].file)) } : r)),
        compiler, kernelRelease, finishedAt: new Date().toISOString(), seconds,
        makeLines: tracker.count(), seededFrom: seedMeta ? seedMeta.key : null,
      };
      await writeMeta(partial, meta);
      await rename(partial, dir);
      partial = null;
      await recordInput(cacheDir, ik, key);
      await evict(cacheDir, dir).catch(() => []);
      await evictWorkDirs(cacheDir, work).catch(() => []);
      opts.progress?.({ phase: 'done', percent: 100, message: `built ${key} in ${seconds.toFixed(0)} s` });
      return resultFrom(dir, meta, false, seconds);
    } finally {
      await keyLock.release();
    }
  } catch (e) {
    if (e instanceof Error && (e as { code?: string }).code === 'ENOSPC') {
      throw envError(`no space left on the cache disk (${cacheDir}): free space or set KREPRO_CACHE to a bigger disk`);
    }
    throw e;
  } finally {
    if (partial) await rmrf(partial);
    await rmrf(stage);
    await treeLock.release();
  }
}

/**
 * Everything applied on top of the commit, in order: the reverts (they put
 * back an older state of the tree, so the patches apply to that), then the
 * profile's patches, then --patch, each group in the order given.
 */
async function changeList(repo: string, commit: string, reverts: Awaited<ReturnType<typeof loadReverts>>, forward: PatchFile[]): Promise<PatchFile[]> {
  return [...(await resolveReverts(repo, commit, reverts)), ...forward];
}

async function configure(env: MakeEnv, fragments: { name: string; text: string }[], stage: string): Promise<string> {
  try {
    await makeQuiet(env, ['tinyconfig']);
  } catch (e) {
    throw skipError(`make tinyconfig failed in ${env.src}: ${String((e as { output?: string }).output ?? '').split('\n').slice(-3).join(' ')}`);
  }
  const fdir = join(stage, 'krepro-fragments');
  await mkdir(fdir, { recursive: true });
  const files: string[] = [];
  let i = 0;
  for (const f of fragments) {
    const p = join(fdir, `${String(i++).padStart(2, '0')}-${f.name.replace(/[^A-Za-z0-9_.-]/g, '_')}.config`);
    await writeFile(p, f.text);
    files.push(p);
  }
  await mergeConfig(env, files);
  await makeQuiet(env, ['olddefconfig']);
  return readFile(join(stage, '.config'), 'utf8');
}

/**
 * Every symbol a fragment sets must hold that value. Symbols this tree does
 * not know are warnings (fragments are shared across versions); known ones
 * that Kconfig dropped stop the build, with their unmet dependencies.
 */
async function verifyConfig(src: string, fragments: Parameters<typeof requestedSymbols>[0], configText: string): Promise<string[]> {
  const req = requestedSymbols(fragments);
  const final = parseDotConfig(configText);
  const mism = compareConfig(req, final);
  if (!mism.length) return [];
  const entries = await scanKconfig(src, new Set(mism.map((m) => m.symbol)));
  const warnings: string[] = [];
  const errors: string[] = [];
  for (const m of mism) {
    const entry = entries.get(m.symbol.replace(/^CONFIG_/, ''));
    const text = explainMismatch(m, entry, final);
    if (!entry) warnings.push(text);
    else errors.push(text);
  }
  if (errors.length) {
    throw usageError(`kconfig dropped ${errors.length} requested symbol(s), not building: ${errors.join(' | ')}`);
  }
  return warnings;
}

async function previousMakeLines(cacheDir: string, treeId: string, seeded: boolean): Promise<number | null> {
  let names: string[] = [];
  try {
    names = await readdir(buildsDir(cacheDir));
  } catch {
    return null;
  }
  let best: BuildMeta | null = null;
  for (const n of names) {
    const m = await readMeta(join(buildsDir(cacheDir), n));
    if (!m || m.treeId !== treeId || !!m.seededFrom !== seeded) continue;
    if (!best || m.finishedAt > best.finishedAt) best = m;
  }
  if (best) return best.makeLines;
  return seeded ? null : 2400; // a cold tiny 6.12 build prints about this many steps
}

/**
 * The reused O= dir of a tree checkout and a set of requested fragments:
 * bisect steps and patches of one profile share it (kbuild follows small
 * .config drift between commits incrementally); another profile gets its
 * own, so two configurations never thrash one dir.
 */
export function workDirOf(cacheDir: string, treeId: string, fragmentsText: string): string {
  return join(buildsDir(cacheDir), `.work-${treeId}-${sha256(fragmentsText).slice(0, 8)}`);
}

async function touchWorkDir(dir: string): Promise<void> {
  await mkdir(dir, { recursive: true });
  const now = new Date();
  await utimes(dir, now, now).catch(() => {});
}

/**
 * The build that `buildKernel(opts)` would return from the cache, found
 * without side effects (no unpacking, no checkout, no make): for --dry-run.
 */
export async function peekBuild(opts: BuildOptions): Promise<BuildResult | null> {
  try {
    const cacheDir = opts.cacheDir ?? cacheRoot();
    const { treeInCache } = await import('../source/debian.ts');
    const plan = await planConfig(opts.profile ?? 'default', opts.configs ?? []);
    const forward = await loadPatches([...plan.profilePatches, ...(opts.patches ?? [])]);
    const revertSpecs = await loadReverts(opts.reverts ?? []);
    // A Debian tree not unpacked yet has no builds, and finding out its version may mean a download.
    if (!(await treeInCache(cacheDir, opts.tree))) return null;
    const tree = await openTree(opts.tree, cacheDir);
    const commit = await resolveCommit(tree, opts.commit);
    const patches = await changeList(tree.repo, commit, revertSpecs, forward);
    const ik = inputKey({ commit, fragmentsText: fragmentsDigestText(plan.fragments), patches, compiler: await compilerVersion() });
    const key = await lookupInput(cacheDir, ik);
    if (!key) return null;
    const dir = join(buildsDir(cacheDir), key);
    const meta = await readMeta(dir);
    return meta ? resultFrom(dir, meta, true, 0) : null;
  } catch (e) {
    if (e instanceof KreproError && e.kind === 'usage') throw e;
    return null;
  }
}
