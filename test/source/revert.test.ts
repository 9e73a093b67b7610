import { describe, it, expect, beforeAll } from 'vitest';
import { mkdtemp, writeFile, readFile, access } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { loadReverts, resolveReverts, applyPatches, loadPatches, rejectedHunk, appliedOffsets, type PatchFile } from '../../src/source/patches.ts';
import { inputKey, buildKey, patchIdentity } from '../../src/build/cache.ts';
import { sha256 } from '../../src/util/fs.ts';

/**
 * --revert on a small repository made here (not a kernel): a file applied in
 * reverse, a commit reverted with git revert, what does not apply, and the
 * build identity.
 */
const ID = ['-c', 'user.name=t', '-c', 'user.email=t@t'];
const g = (repo: string, ...args: string[]) => execa('git', ['-C', repo, ...ID, ...args]);
const lines = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => String(from + i)).join('\n') + '\n';

let repo: string;       // the "user's" repository
let hashes: { init: string; fifteen: string; other: string; head: string };
let changePatch: string; // the diff of the "change 15" commit, as a file

/** A private checkout like krepro's: clone --shared, detached at `commit`, clean. */
async function privateCheckout(commit: string): Promise<string> {
  const d = join(await mkdtemp(join(tmpdir(), 'krevert-co-')), 'co');
  await execa('git', ['clone', '-q', '--shared', '--no-checkout', repo, d]);
  await checkout(d, commit);
  return d;
}
async function checkout(d: string, commit: string): Promise<void> {
  await g(d, 'checkout', '-q', '--detach', '-f', commit);
  await g(d, 'clean', '-q', '-f', '-d', '-x');
}
const exists = (p: string) => access(p).then(() => true, () => false);

beforeAll(async () => {
  repo = await mkdtemp(join(tmpdir(), 'krevert-'));
  await execa('git', ['init', '-q', repo]);
  await writeFile(join(repo, 'f.c'), lines(1, 30));
  await writeFile(join(repo, 'g.c'), 'alpha\nbeta\ngamma\n');
  await g(repo, 'add', '.');
  await g(repo, 'commit', '-q', '-m', 'init');
  await writeFile(join(repo, 'f.c'), lines(1, 30).replace('\n15\n', '\nFIFTEEN\n'));
  await g(repo, 'commit', '-q', '-am', 'change 15');
  await writeFile(join(repo, 'g.c'), 'alpha\nBETA\ngamma\n');
  await g(repo, 'commit', '-q', '-am', 'change beta');
  // Two lines on top of f.c: the "change 15" hunk now sits 2 lines lower.
  await writeFile(join(repo, 'f.c'), 'x\ny\n' + lines(1, 30).replace('\n15\n', '\nFIFTEEN\n'));
  await g(repo, 'commit', '-q', '-am', 'prepend');
  const rev = async (r: string) => (await g(repo, 'rev-parse', r)).stdout.trim();
  hashes = { init: await rev('HEAD~3'), fifteen: await rev('HEAD~2'), other: await rev('HEAD~1'), head: await rev('HEAD') };
  changePatch = join(repo, '..', `${repo.split('/').pop()}-change15.patch`);
  await writeFile(changePatch, (await g(repo, 'format-patch', '-1', '--stdout', hashes.fifteen)).stdout + '\n');
});

describe('--revert FILE', () => {
  it('applies the patch in reverse, marked as reverted, and states the offsets', async () => {
    const co = await privateCheckout(hashes.head);
    const specs = await loadReverts([changePatch]);
    expect(specs).toMatchObject([{ kind: 'file' }]);
    const changes = await resolveReverts(repo, hashes.head, specs);
    expect(changes[0]).toMatchObject({ file: changePatch, reverted: true });
    const [rec] = await applyPatches(co, changes);
    expect(await readFile(join(co, 'f.c'), 'utf8')).toBe('x\ny\n' + lines(1, 30));
    expect(rec).toMatchObject({ file: changePatch, reverted: true, sha256: sha256(await readFile(changePatch, 'utf8')) });
    expect(rec.commit).toBeUndefined();
    expect(rec.offsets).toHaveLength(1);
    expect(rec.offsets![0]).toMatch(/^f\.c: Hunk #1 succeeded at 14 \(offset -?2 lines\)$/);
  });

  it('a revert that does not apply is a skip naming the file and the hunk', async () => {
    // At "init" the change is not there: its new side cannot be found.
    const co = await privateCheckout(hashes.init);
    const changes = await resolveReverts(repo, hashes.init, await loadReverts([changePatch]));
    const err = await applyPatches(co, changes).catch((e) => e);
    expect(err.kind).toBe('skip');
    expect(err.exitCode).toBe(125);
    expect(err.message).toMatch(/^revert krevert-\w+-change15\.patch does not apply: hunk f\.c @@ -12,7 \+12,7 @@ rejected$/);
  });

  it('a file that is not a patch, or a directory, is a usage error', async () => {
    const d = await mkdtemp(join(tmpdir(), 'krevert-'));
    await writeFile(join(d, 'notes.txt'), 'not a patch\n');
    await expect(loadReverts([join(d, 'notes.txt')])).rejects.toMatchObject({ kind: 'usage', message: expect.stringMatching(/is not a patch/) });
    await expect(loadReverts([d])).rejects.toMatchObject({ kind: 'usage', message: expect.stringMatching(/is a directory/) });
  });
});

describe('--revert COMMIT', () => {
  it('runs git revert --no-commit, records hash, subject and the diff, and leaves no sequencer state', async () => {
    const co = await privateCheckout(hashes.head);
    const specs = await loadReverts([hashes.fifteen.slice(0, 10), 'HEAD~1']);
    expect(specs).toEqual([{ kind: 'commit', rev: hashes.fifteen.slice(0, 10) }, { kind: 'commit', rev: 'HEAD~1' }]);
    const changes = await resolveReverts(repo, hashes.head, specs);
    expect(changes.map((c) => [c.commit, c.subject])).toEqual([[hashes.fifteen, 'change 15'], [hashes.other, 'change beta']]);
    expect(changes[0].text).toMatch(/^diff --git a\/f\.c b\/f\.c\n/);
    expect(changes[0].text).toContain('+FIFTEEN');
    expect(changes[0].sha256).toBe(sha256(changes[0].text));
    expect(changes[0].file).toBe(`${hashes.fifteen.slice(0, 12)}.patch`);
    const recs = await applyPatches(co, changes);
    expect(recs.map((r) => ({ reverted: r.reverted, commit: r.commit }))).toEqual([{ reverted: true, commit: hashes.fifteen }, { reverted: true, commit: hashes.other }]);
    expect(await readFile(join(co, 'f.c'), 'utf8')).toBe('x\ny\n' + lines(1, 30));
    expect(await readFile(join(co, 'g.c'), 'utf8')).toBe('alpha\nbeta\ngamma\n');
    for (const f of ['REVERT_HEAD', 'MERGE_MSG', 'sequencer']) expect(await exists(join(co, '.git', f))).toBe(false);
    expect((await g(co, 'rev-parse', 'HEAD')).stdout.trim()).toBe(hashes.head); // nothing committed
  });

  it('file and commit reverts mix in the order given', async () => {
    const co = await privateCheckout(hashes.head);
    const changes = await resolveReverts(repo, hashes.head, await loadReverts([changePatch, 'HEAD~1']));
    expect(changes.map((c) => !!c.commit)).toEqual([false, true]);
    await applyPatches(co, changes);
    expect(await readFile(join(co, 'f.c'), 'utf8')).toBe('x\ny\n' + lines(1, 30));
    expect(await readFile(join(co, 'g.c'), 'utf8')).toBe('alpha\nbeta\ngamma\n');
  });

  it('a conflicting revert is a skip naming the paths, and the next checkout starts clean', async () => {
    const co = await privateCheckout(hashes.head);
    // Change the line "change beta" touched again, so reverting it conflicts.
    await writeFile(join(repo, 'g.c'), 'alpha\nBETA2\ngamma\n');
    await g(repo, 'commit', '-q', '-am', 'beta again');
    const tip = (await g(repo, 'rev-parse', 'HEAD')).stdout.trim();
    try {
      await checkout(co, tip);
      const changes = await resolveReverts(repo, tip, await loadReverts([hashes.other]));
      const err = await applyPatches(co, changes).catch((e) => e);
      expect(err.kind).toBe('skip');
      expect(err.exitCode).toBe(125);
      expect(err.message).toBe(`revert ${hashes.other.slice(0, 12)} ("change beta") does not apply: conflict in g.c`);
      for (const f of ['REVERT_HEAD', 'MERGE_MSG', 'sequencer']) expect(await exists(join(co, '.git', f))).toBe(false);
      // What checkoutCommit does next leaves nothing behind, and a revert works again.
      await checkout(co, hashes.head);
      expect((await g(co, 'status', '--porcelain')).stdout).toBe('');
      await applyPatches(co, await resolveReverts(repo, hashes.head, await loadReverts([hashes.other])));
      expect(await readFile(join(co, 'g.c'), 'utf8')).toBe('alpha\nbeta\ngamma\n');
    } finally {
      await g(repo, 'reset', '-q', '--hard', hashes.head);
    }
  });

  it('stale revert state from a killed krepro does not stop the next revert', async () => {
    const co = await privateCheckout(hashes.head);
    await g(co, 'revert', '--no-commit', hashes.other); // leaves REVERT_HEAD
    expect(await exists(join(co, '.git', 'REVERT_HEAD'))).toBe(true);
    await checkout(co, hashes.head);
    await applyPatches(co, await resolveReverts(repo, hashes.head, await loadReverts([hashes.fifteen])));
    expect(await readFile(join(co, 'f.c'), 'utf8')).toBe('x\ny\n' + lines(1, 30));
    expect(await exists(join(co, '.git', 'REVERT_HEAD'))).toBe(false);
  });

  it('unknown names, merges and commits outside the history are refused', async () => {
    await expect(resolveReverts(repo, hashes.head, await loadReverts(['no-such-branch']))).rejects.toMatchObject({
      kind: 'usage',
      message: expect.stringMatching(/^--revert no-such-branch: no such file, and not a commit of /),
    });
    // A commit that is not an ancestor of the one being built: nothing to revert there.
    await expect(resolveReverts(repo, hashes.init, await loadReverts([hashes.other]))).rejects.toMatchObject({
      kind: 'skip',
      message: expect.stringMatching(/is not in the history of/),
    });
    const m = await mkdtemp(join(tmpdir(), 'krevert-merge-'));
    await execa('git', ['init', '-q', '-b', 'main', m]);
    await writeFile(join(m, 'a'), 'a\n');
    await g(m, 'add', '.');
    await g(m, 'commit', '-q', '-m', 'a');
    await g(m, 'checkout', '-q', '-b', 'side');
    await writeFile(join(m, 'b'), 'b\n');
    await g(m, 'add', '.');
    await g(m, 'commit', '-q', '-m', 'b');
    await g(m, 'checkout', '-q', 'main');
    await writeFile(join(m, 'c'), 'c\n');
    await g(m, 'add', '.');
    await g(m, 'commit', '-q', '-m', 'c');
    await g(m, 'merge', '-q', '--no-edit', 'side');
    const tip = (await g(m, 'rev-parse', 'HEAD')).stdout.trim();
    await expect(resolveReverts(m, tip, await loadReverts(['HEAD']))).rejects.toMatchObject({ kind: 'usage', message: expect.stringMatching(/is a merge commit/) });
  });
});

describe('identity', () => {
  const base = { commit: 'c'.repeat(40), fragmentsText: 'CONFIG_A=y\n', compiler: 'gcc 12' };
  const patch = { sha256: 'p'.repeat(64) };
  const fileRevert = { sha256: 'p'.repeat(64), reverted: true };
  const commitRevert = { sha256: 'd'.repeat(64), reverted: true, commit: 'e'.repeat(40) };

  it('a build with a revert never shares a key with one without it, or with the patch applied forward', () => {
    const keys = [[], [patch], [fileRevert], [commitRevert], [fileRevert, patch], [patch, fileRevert], [commitRevert, patch]].map((patches) => inputKey({ ...base, patches }));
    expect(new Set(keys).size).toBe(keys.length);
    const bk = (patches: PatchFile[] | object[]) => buildKey({ commit: base.commit, configText: 'CONFIG_A=y\n', compiler: base.compiler, patches: patches as { sha256: string }[] });
    expect(bk([fileRevert])).not.toBe(bk([patch]));
    expect(bk([commitRevert])).not.toBe(bk([]));
    expect(bk([commitRevert])).not.toBe(bk([{ ...commitRevert, commit: 'f'.repeat(40) }]));
    expect(bk([commitRevert])).not.toBe(bk([{ ...commitRevert, sha256: '0'.repeat(64) }]));
  });

  it('keys of builds without reverts are what they were before reverts existed', () => {
    expect(patchIdentity(patch)).toBe(patch.sha256);
    expect(patchIdentity({ ...patch, reverted: undefined })).toBe(patch.sha256);
    expect(patchIdentity(fileRevert)).toBe(`revert:${fileRevert.sha256}`);
    expect(patchIdentity(commitRevert)).toBe(`revert:${commitRevert.commit}:${commitRevert.sha256}`);
  });

  it('the revert of a commit is identified by its hash and the diff it reverts', async () => {
    const [c] = await resolveReverts(repo, hashes.head, await loadReverts([hashes.fifteen]));
    const diff = (await g(repo, 'diff-tree', '-p', '--binary', '--full-index', '--no-commit-id', '--root', hashes.fifteen)).stdout + '\n';
    expect(c.sha256).toBe(sha256(diff));
    expect(patchIdentity(c)).toBe(`revert:${hashes.fifteen}:${sha256(diff)}`);
    // The same change as a file, forward or reverted, is three different builds.
    const [asFile] = await loadPatches([changePatch]);
    const ids = new Set([patchIdentity(c), patchIdentity(asFile), patchIdentity({ ...asFile, reverted: true })]);
    expect(ids.size).toBe(3);
  });
});

describe('git apply output', () => {
  it('rejectedHunk reads the new side of a reverse hunk', () => {
    const p = 'diff --git a/f.c b/f.c\n--- a/f.c\n+++ b/f.c\n@@ -1,6 +1,7 @@\n 1\n-3\n+3a\n+3b\n@@ -17,7 +18,7 @@\n 17\n-20\n+TWENTY\n';
    expect(rejectedHunk(p, 'error: patch failed: f.c:18', true)).toBe('f.c @@ -17,7 +18,7 @@');
    expect(rejectedHunk(p, 'error: patch failed: f.c:17')).toBe('f.c @@ -17,7 +18,7 @@');
  });
  it('appliedOffsets names the file and the hunk', () => {
    expect(appliedOffsets('Checking patch a.c...\nHunk #2 succeeded at 40 (offset 3 lines).\nApplied patch a.c cleanly.\nChecking patch b.c...\nApplied patch b.c cleanly.')).toEqual(['a.c: Hunk #2 succeeded at 40 (offset 3 lines)']);
    expect(appliedOffsets('Checking patch a.c...\nApplied patch a.c cleanly.')).toEqual([]);
  });
});
