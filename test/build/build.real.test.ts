import { describe, it, expect, beforeAll } from 'vitest';
import { mkdtemp, readFile, writeFile, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createHash } from 'node:crypto';
import { execa } from 'execa';
import { buildKernel } from '../../src/build/build.ts';
import { cacheRoot } from '../../src/util/paths.ts';
import { debianTreeDir } from '../../src/source/debian.ts';
import { cachedBuild } from '../helpers/real.ts';
import type { BuildResult } from '../../src/build/types.ts';

// Real builds of Debian's linux-source-6.12 through the build cache.
let first: BuildResult;

beforeAll(async () => {
  first = await cachedBuild({});
  console.log(`default build: key ${first.key} cached=${first.cached} ${first.seconds.toFixed(1)} s`);
});

describe('building the default 6.12 tree', () => {
  it('has the symbols the mission needs, and a bzImage and test_lockup.ko', async () => {
    const cfg = await readFile(first.config, 'utf8');
    for (const s of ['CONFIG_SCHED_MM_CID=y', 'CONFIG_VSOCKETS=y', 'CONFIG_VIRTIO_VSOCKETS=y', 'CONFIG_SOFTLOCKUP_DETECTOR=y', 'CONFIG_FTRACE=y', 'CONFIG_TEST_LOCKUP=m']) {
      expect(cfg).toContain(`\n${s}\n`);
    }
    expect((await stat(first.bzImage)).size).toBeGreaterThan(1_000_000);
    const ko = await execa('find', [first.modules, '-name', 'test_lockup.ko']);
    expect(ko.stdout).toMatch(/test_lockup\.ko/);
    expect(first.kernelRelease).toMatch(/^6\.12\./);
  });

  it('a second build of the same inputs is a cache hit that runs no make', async () => {
    const logBefore = await stat(first.log);
    const again = await buildKernel({});
    console.log(`cached build answered in ${again.seconds.toFixed(3)} s`);
    expect(again.cached).toBe(true);
    expect(again.key).toBe(first.key);
    expect((await stat(again.log)).mtimeMs).toBe(logBefore.mtimeMs);
  });

  it('a patch that does not apply is a skip naming the file and hunk', async () => {
    const d = await mkdtemp(join(tmpdir(), 'badpatch-'));
    const p = join(d, 'stale.patch');
    await writeFile(p, `diff --git a/kernel/sched/core.c b/kernel/sched/core.c
--- a/kernel/sched/core.c
+++ b/kernel/sched/core.c
@@ -100,3 +100,3 @@
 this context
-does not exist
+in this tree
 at all
`);
    const err = await buildKernel({ patches: [p] }).catch((e) => e);
    expect(err.kind).toBe('skip');
    expect(err.exitCode).toBe(125);
    expect(err.message).toMatch(/stale\.patch does not apply: hunk kernel\/sched\/core\.c @@ -100,3 \+100,3 @@ rejected/);
  });

  it("building another commit of a user's tree leaves its HEAD, index and files byte-identical", async () => {
    // The user's checkout: a worktree of the default repository, with its own
    // HEAD, index and files. (Sharing the object store keeps the build in the
    // tree's private checkout and O= dir, so it is incremental; a separate
    // clone would be a new tree and, with its own paths, a cold build.)
    const user = await mkdtemp(join(tmpdir(), 'usertree-'));
    const src = debianTreeDir(cacheRoot());
    const repo = join(user, 'linux');
    await execa('git', ['-C', src, 'worktree', 'add', '-q', '--detach', repo, 'HEAD']);
    const g = (...a: string[]) => execa('git', ['-C', repo, ...a]);
    const id = ['-c', 'user.name=t', '-c', 'user.email=t@t'];
    // Commit A changes a scheduler file; B on top is what the user has checked out.
    await writeFile(join(repo, 'kernel', 'sched', 'core.c'), (await readFile(join(repo, 'kernel', 'sched', 'core.c'), 'utf8')) + '\n/* commit A */\n');
    await g(...id, 'commit', '-q', '-a', '-m', 'A: touch the scheduler');
    await g(...id, 'commit', '-q', '--allow-empty', '-m', 'B: on top');
    // Uncommitted work: a staged change and an unstaged one.
    await writeFile(join(repo, 'README'), 'staged change\n');
    await g('add', 'README');
    await writeFile(join(repo, 'kernel', 'sched', 'core.c'), (await readFile(join(repo, 'kernel', 'sched', 'core.c'), 'utf8')) + '\n/* my work in progress */\n');
    const snapshot = async () => {
      const head = (await g('rev-parse', 'HEAD')).stdout;
      const indexPath = (await g('rev-parse', '--path-format=absolute', '--git-path', 'index')).stdout.trim();
      const index = createHash('sha256').update(await readFile(indexPath)).digest('hex');
      const status = (await g('status', '--porcelain=v1')).stdout;
      const core = createHash('sha256').update(await readFile(join(repo, 'kernel', 'sched', 'core.c'))).digest('hex');
      const refs = (await g('for-each-ref')).stdout;
      return { head, index, status, core, refs };
    };
    const before = await snapshot();
    const r = await buildKernel({ tree: repo, commit: 'HEAD~1' });
    expect(r.commit).toBe((await g('rev-parse', 'HEAD~1')).stdout);
    expect(r.cached).toBe(false);
    console.log(`build of another commit in a user tree: ${r.seconds.toFixed(0)} s`);
    expect(await snapshot()).toEqual(before);
    await execa('git', ['-C', src, 'worktree', 'remove', '--force', repo], { reject: false });
  });
});
