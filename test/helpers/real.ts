import { buildKernel } from '../../src/build/build.ts';
import type { BuildOptions, BuildResult } from '../../src/build/types.ts';
import { PROJECT_ROOT } from '../../src/util/paths.ts';
import { join } from 'node:path';

/**
 * Shared by the real-kernel tests: builds go through the normal cache
 * (KREPRO_CACHE or ~/.cache/krepro), so a kernel is built once per machine
 * and every later test or CI step reuses it.
 */
const memo = new Map<string, Promise<BuildResult>>();

export function cachedBuild(opts: BuildOptions = {}): Promise<BuildResult> {
  const k = JSON.stringify(opts);
  if (!memo.has(k)) {
    memo.set(k, buildKernel({ ...opts, progress: (p) => { if (p.message && p.phase !== 'make') console.log(`[build] ${p.message}`); } }));
  }
  return memo.get(k)!;
}

export const INJECT_PATCH = join(PROJECT_ROOT, 'patches', '6.12', 'inject-cid-leak.patch');
export const MMCID_PATCH = join(PROJECT_ROOT, 'patches', '6.12', 'mmcid-tracepoints.patch');
export const SHARED = join(PROJECT_ROOT, '..', 'shared');

/**
 * A patch that changes one comment in kernel/sched/loadavg.c, made unique
 * by `tag`: a new build key whose rebuild is one scheduler file.
 */
export async function touchSchedPatch(dir: string, tag: string): Promise<string> {
  const { writeFile } = await import('node:fs/promises');
  const p = join(dir, 'touch-sched.patch');
  await writeFile(p, `diff --git a/kernel/sched/loadavg.c b/kernel/sched/loadavg.c
--- a/kernel/sched/loadavg.c
+++ b/kernel/sched/loadavg.c
@@ -1,4 +1,5 @@
 // SPDX-License-Identifier: GPL-2.0
+/* krepro ${tag} */
 /*
  * kernel/sched/loadavg.c
  *
`);
  return p;
}
