import { describe, it, expect, beforeAll } from 'vitest';
import { mkdtemp, writeFile, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { loadPatches, applyPatches, rejectedHunk, looksLikePatch } from '../../src/source/patches.ts';
import { git } from '../../src/source/git.ts';

const PATCH = `From 1 Mon Sep 17 00:00:00 2001
From: A <a@b>
Subject: [PATCH] change two

---
 f.c | 2 +-
 1 file changed, 1 insertion(+), 1 deletion(-)

diff --git a/f.c b/f.c
--- a/f.c
+++ b/f.c
@@ -1,3 +1,3 @@
 one
-two
+TWO
 three
-- 
2.39.5
`;

describe('patches', () => {
  let repo: string;
  beforeAll(async () => {
    repo = await mkdtemp(join(tmpdir(), 'kpatch-'));
    await execa('git', ['init', '-q', repo]);
    await writeFile(join(repo, 'f.c'), 'one\ntwo\nthree\n');
  });

  it('recognises patches and rejects other files', () => {
    expect(looksLikePatch(PATCH)).toBe(true);
    expect(looksLikePatch('hello\nworld\n')).toBe(false);
  });

  it('applies an mbox patch, and names the rejected hunk when it does not apply', async () => {
    const d = await mkdtemp(join(tmpdir(), 'kp-'));
    const p = join(d, 'good.patch');
    await writeFile(p, PATCH);
    const [pf] = await loadPatches([p]);
    await applyPatches(repo, [pf]);
    expect(await readFile(join(repo, 'f.c'), 'utf8')).toBe('one\nTWO\nthree\n');
    // Applying again fails: the context changed.
    const err = await applyPatches(repo, [pf]).catch((e) => e);
    expect(err.kind).toBe('skip');
    expect(err.exitCode).toBe(125);
    expect(err.message).toMatch(/patch good\.patch does not apply: hunk f\.c @@ -1,3 \+1,3 @@ rejected/);
  });

  it('missing, unreadable and non-patch files are usage errors', async () => {
    await expect(loadPatches(['/no/such.patch'])).rejects.toMatchObject({ kind: 'usage' });
    const d = await mkdtemp(join(tmpdir(), 'kp-'));
    await writeFile(join(d, 'notes.txt'), 'not a patch\n');
    await expect(loadPatches([join(d, 'notes.txt')])).rejects.toThrow(/is not a patch/);
  });

  it('rejectedHunk finds the hunk header from git apply output', () => {
    expect(rejectedHunk(PATCH, 'error: patch failed: f.c:1\nerror: f.c: patch does not apply')).toBe('f.c @@ -1,3 +1,3 @@');
    expect(rejectedHunk(PATCH, 'error: g.c: No such file or directory')).toBe('g.c (file does not exist in this tree)');
  });

  it('git errors carry the command', async () => {
    await expect(git(repo, ['rev-parse', 'nope^{commit}'])).rejects.toThrow(/git rev-parse failed/);
  });
});

describe('tree identity', () => {
  it('every worktree of a repository maps to the same private checkout', async () => {
    const { treeId } = await import('../../src/source/worktree.ts');
    const repo = await mkdtemp(join(tmpdir(), 'ktree-id-'));
    await execa('git', ['init', '-q', join(repo, 'linux')]);
    await execa('git', ['-C', join(repo, 'linux'), '-c', 'user.name=t', '-c', 'user.email=t@t', 'commit', '-q', '--allow-empty', '-m', 'x']);
    await execa('git', ['-C', join(repo, 'linux'), 'worktree', 'add', '-q', '--detach', join(repo, 'other-name'), 'HEAD']);
    const a = await treeId(join(repo, 'linux'));
    const b = await treeId(join(repo, 'other-name'));
    expect(a).toBe(b);
    expect(a).toMatch(/^linux-[0-9a-f]{8}$/);
    await execa('git', ['clone', '-q', join(repo, 'linux'), join(repo, 'clone')]);
    expect(await treeId(join(repo, 'clone'))).not.toBe(a);
  });
});
