import { describe, it, expect } from 'vitest';
import { mkdtemp, mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { git } from '../../src/source/git.ts';
import { cacheRoot, patchDir } from '../../src/util/paths.ts';

// The injected-bug fixture must apply to Debian's 6.12 alone and together with
// the mmcid tracepoint patch in either order (both touch kernel/sched/core.c).
const tree = join(cacheRoot(), 'trees', 'debian-linux-source-6.12');
const leak = join(patchDir(), '6.12', 'inject-cid-leak.patch');
const tracepoints = join(patchDir(), '6.12', 'mmcid-tracepoints.patch');
const FILES = ['kernel/sched/core.c', 'kernel/sched/sched.h'];

async function applyInOrder(patches: string[]): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'krepro-patch-'));
  try {
    for (const f of FILES) {
      await mkdir(join(dir, f, '..'), { recursive: true });
      await writeFile(join(dir, f), (await git(tree, ['show', `HEAD:${f}`])).stdout + '\n');
    }
    // Outside a repository, `git apply` patches plain files under cwd.
    for (const p of patches) await git(dir, ['apply', p]);
    return await readFile(join(dir, 'kernel/sched/core.c'), 'utf8');
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

describe.skipIf(!existsSync(tree))('patches/6.12/inject-cid-leak.patch', () => {
  it('applies alone and adds the boot parameter and the leak in sched_mm_cid_before_execve', async () => {
    const core = await applyInOrder([leak]);
    expect(core).toContain('__setup("mmcid_leak_pct=", setup_mmcid_leak_pct);');
    const fn = core.slice(core.indexOf('void sched_mm_cid_before_execve('), core.indexOf('void sched_mm_cid_after_execve('));
    expect(fn).toMatch(/if \(mm_cid_inject_leak\(t, mm\)\)\s+mm_cid_pcpu_unset\(mm\);[^\n]*\n\s+else\s+mm_cid_put\(mm\);/);
  });

  it.skipIf(!existsSync(tracepoints))('applies together with mmcid-tracepoints.patch in either order', async () => {
    const a = await applyInOrder([leak, tracepoints]);
    const b = await applyInOrder([tracepoints, leak]);
    expect(a).toBe(b);
    expect(a).toContain('mm_cid_inject_leak');
  });
});
