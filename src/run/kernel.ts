import { readFile, copyFile, writeFile } from 'node:fs/promises';
import { join, resolve, basename } from 'node:path';
import type { RunOptions } from './options.ts';
import type { KernelIdentity, Verdict } from './types.ts';
import type { BuildResult } from '../build/types.ts';
import { buildKernel, buildOfBzImage, buildDirOfBzImage, buildLayout } from '../build/build.ts';
import { holdBuild } from '../build/cache.ts';
import { withBackendConfig } from './plan.ts';
import { exists } from '../util/fs.ts';
import { usageError, isKreproError } from '../util/errors.ts';

/** The kernel a run boots, and what the run dir keeps of it (config, patch copies). */
export type KernelAcquired =
  | { ok: true; build: BuildResult | null; configText: string | null; kernel: KernelIdentity; buildMs?: number }
  | { ok: false; verdict: Verdict; error: string };

/**
 * Build the kernel (--tree/--commit, or the default tree), take the build a
 * loop or bisection passes, or use a given bzImage (whose build dir, when it
 * is a krepro build, brings its .config, System.map and modules along).
 * A build that cannot be tested is a `skip`, one that fails for the host an
 * `infra-error`; bad input throws (before anything else is written).
 */
export async function acquireKernel(o: RunOptions, runDir: string): Promise<KernelAcquired> {
  let build: BuildResult | null = o.prebuilt ?? null;
  let buildMs: number | undefined;
  if (!build && !o.kernel) {
    try {
      const tb = Date.now();
      build = await buildKernel({ ...(await withBackendConfig(o.build ?? {}, o.backend)), signal: o.signal });
      buildMs = Date.now() - tb;
    } catch (e) {
      if (o.signal?.aborted) return { ok: false, verdict: 'interrupted', error: 'interrupted during the build' };
      if (isKreproError(e) && e.kind === 'skip') {
        if (e.detail) await writeFile(join(runDir, 'skip-reason.txt'), e.detail + '\n');
        return { ok: false, verdict: 'skip', error: e.message };
      }
      if (isKreproError(e) && e.kind === 'usage') throw e;
      return { ok: false, verdict: 'infra-error', error: isKreproError(e) ? e.message : `build: ${(e as Error).message}` };
    }
  }
  let configText: string | null = null;
  let kernel: KernelIdentity;
  if (build) {
    // Pinned against eviction for as long as this process lives (a loop's, a bisection's later runs).
    await holdBuild(build.dir).catch(() => {});
    kernel = identityOf(build);
    configText = await readFile(build.config, 'utf8').catch(() => null);
    for (const p of build.patches) await copyFile(p.file, join(runDir, `${p.reverted ? 'revert' : 'patch'}-${basename(p.file)}`)).catch(() => {});
  } else {
    const k = resolve(o.kernel!);
    if (!(await exists(k))) throw usageError(`--kernel ${o.kernel}: no such file; give a bzImage (e.g. from krepro build --json)`);
    configText = await readFile(buildLayout(buildDirOfBzImage(k)).config, 'utf8').catch(() => null);
    build = await buildOfBzImage(k);
    kernel = build ? identityOf(build) : { tree: null, commit: null, buildKey: null, patches: [], bzImage: k };
  }
  if (configText !== null) await writeFile(join(runDir, 'config'), configText);
  return { ok: true, build, configText, kernel, ...(buildMs !== undefined ? { buildMs } : {}) };
}

function identityOf(b: BuildResult): KernelIdentity {
  return { tree: b.tree, commit: b.commit, buildKey: b.key, patches: b.patches, bzImage: b.bzImage, version: b.kernelRelease };
}
