import { readFile, access, stat, constants } from 'node:fs/promises';
import { resolve, basename } from 'node:path';
import { git } from './git.ts';
import { sha256 } from '../util/fs.ts';
import { usageError, skipError } from '../util/errors.ts';

/**
 * One patch or revert a build applied, as build meta, run.json and loop.json
 * record it. A plain patch is just { file, sha256 } (as before reverts
 * existed). `reverted` marks `--revert`: the file applied in reverse, or,
 * with `commit`, `git revert --no-commit <commit>` (then `file` keeps the
 * diff the commit made, in the build dir, and `sha256` is of that diff).
 */
export interface PatchRecord {
  file: string;
  sha256: string;
  reverted?: true;
  commit?: string;             // full hash of the reverted commit
  subject?: string;            // its subject line
  offsets?: string[];          // "f.c: Hunk #1 succeeded at 14 (offset 2 lines)": applied, but not where the patch said
}

export interface PatchFile {
  file: string;      // absolute path (a commit revert: `<hash12>.patch`, written into the build dir when published)
  sha256: string;    // of its bytes: part of the build identity
  text: string;
  reverted?: boolean; // --revert: applied in reverse (`git apply -R`), or `git revert` of `commit`
  commit?: string;    // --revert COMMIT: full hash; `text` is the diff that commit made
  subject?: string;
}

/** A --revert argument before the tree is known: a patch file, or a revision still to resolve. */
export type RevertSpec = { kind: 'file'; patch: PatchFile } | { kind: 'commit'; rev: string };

/** Read patch files up front: a missing or unreadable patch is a usage error before anything runs. */
export async function loadPatches(files: string[]): Promise<PatchFile[]> {
  const out: PatchFile[] = [];
  for (const f of files) {
    const abs = resolve(f);
    try {
      await access(abs, constants.R_OK);
    } catch {
      throw usageError(`cannot read patch ${f}: give the path of a diff or an mbox saved from lore`);
    }
    const text = await readFile(abs, 'utf8');
    if (!looksLikePatch(text)) {
      throw usageError(`${f} is not a patch (no 'diff --git' or '---/+++' headers): save the mail as mbox or pass a unified diff`);
    }
    out.push({ file: abs, sha256: sha256(text), text });
  }
  return out;
}

export function looksLikePatch(text: string): boolean {
  if (/^diff --git /m.test(text)) return true;
  return /^--- \S/m.test(text) && /^\+\+\+ \S/m.test(text) && /^@@ -\d/m.test(text);
}

/**
 * Find the hunk git complained about: "error: patch failed: path:LINE" names
 * the old-file line where the hunk starts. Returns "path @@ -L,N +L,N @@ ctx".
 */
export function rejectedHunk(patchText: string, gitStderr: string, reverse = false): string | null {
  const m = /patch failed: (\S+?):(\d+)/.exec(gitStderr);
  const missing = /error: (\S+): No such file or directory/.exec(gitStderr) ?? /error: (\S+): does not exist in index/.exec(gitStderr);
  if (!m) return missing ? `${missing[1]} (file does not exist in this tree)` : null;
  const [, path, lineStr] = m;
  const line = Number(lineStr);
  const lines = patchText.split('\n');
  let inFile = false;
  for (const l of lines) {
    if (l.startsWith('+++ ')) {
      const p = l.slice(4).replace(/^b\//, '').trim();
      inFile = p === path;
      continue;
    }
    if (inFile && l.startsWith('@@ -')) {
      // In reverse (`git apply -R`) git names the line of the patch's new side.
      const h = reverse ? /^@@ -\d+(?:,\d+)? \+(\d+)/.exec(l) : /^@@ -(\d+)/.exec(l);
      if (h && Number(h[1]) === line) return `${path} ${l.trim()}`;
    }
  }
  return `${path}:${line}`;
}

/**
 * Sort --revert arguments: an existing file is a patch to apply in reverse
 * (read now, like --patch); anything else is a revision, resolved in the
 * tree once it is known (resolveReverts).
 */
export async function loadReverts(specs: string[]): Promise<RevertSpec[]> {
  const out: RevertSpec[] = [];
  for (const s of specs) {
    if (!s.trim()) throw usageError('--revert needs a patch file or a commit of the tree');
    const st = await stat(resolve(s)).catch(() => null);
    if (st?.isFile()) {
      const [p] = await loadPatches([s]);
      out.push({ kind: 'file', patch: { ...p, reverted: true } });
    } else if (st) {
      throw usageError(`--revert ${s} is a directory: give a patch file or a commit of the tree`);
    } else {
      out.push({ kind: 'commit', rev: s });
    }
  }
  return out;
}

/**
 * Resolve the commit reverts in `repo` (the user's repository, only read):
 * each becomes its full hash plus the diff it made (its identity in the
 * build key). A name that is neither a file nor a commit is a usage error;
 * a merge commit too (git revert would need -m). A commit that is not in
 * the history of the commit being built has nothing to revert: skip.
 */
export async function resolveReverts(repo: string, commit: string, specs: RevertSpec[]): Promise<PatchFile[]> {
  const out: PatchFile[] = [];
  for (const s of specs) {
    if (s.kind === 'file') {
      out.push(s.patch);
      continue;
    }
    const r = await git(repo, ['rev-parse', '--verify', '--quiet', `${s.rev}^{commit}`], { reject: false });
    const hash = r.stdout.trim();
    if (r.exitCode !== 0 || !/^[0-9a-f]{40,64}$/.test(hash)) {
      throw usageError(`--revert ${s.rev}: no such file, and not a commit of ${repo}: give a patch file or a revision (check it with 'git -C ${repo} log --oneline')`);
    }
    const parents = (await git(repo, ['rev-list', '--parents', '-n', '1', hash])).stdout.trim().split(/\s+/).length - 1;
    if (parents > 1) throw usageError(`--revert ${s.rev}: ${hash.slice(0, 12)} is a merge commit; revert the commits it merged, or give the diff to undo as a file`);
    const anc = await git(repo, ['merge-base', '--is-ancestor', hash, commit], { reject: false });
    if (anc.exitCode !== 0) throw skipError(`revert ${hash.slice(0, 12)} does not apply: it is not in the history of ${commit.slice(0, 12)}`);
    const subject = (await git(repo, ['show', '-s', '--format=%s', hash])).stdout.trim();
    const diff = (await git(repo, ['diff-tree', '-p', '--binary', '--full-index', '--no-commit-id', '--root', hash])).stdout;
    const text = diff ? diff + '\n' : '';
    out.push({ file: `${hash.slice(0, 12)}.patch`, sha256: sha256(text), text, reverted: true, commit: hash, subject });
  }
  return out;
}

/** "f.c: Hunk #1 succeeded at 14 (offset 2 lines)" for each hunk git apply --verbose placed elsewhere than the patch said. */
export function appliedOffsets(gitOutput: string): string[] {
  const out: string[] = [];
  let file = '';
  for (const l of gitOutput.split('\n')) {
    const c = /^Checking patch (.+?)\.\.\.$/.exec(l);
    if (c) {
      file = c[1];
      continue;
    }
    const h = /^(Hunk #\d+ succeeded at \d+.*?)\.?$/.exec(l.trim());
    if (h) out.push(file ? `${file}: ${h[1]}` : h[1]);
  }
  return out;
}

/** How a change is named in messages: "patch a.patch", "revert a.patch", "revert 1234abcd5678 (subject)". */
export function changeLabel(p: Pick<PatchFile, 'file' | 'reverted' | 'commit' | 'subject'>): string {
  if (p.commit) return `revert ${p.commit.slice(0, 12)}${p.subject ? ` ("${p.subject}")` : ''}`;
  return `${p.reverted ? 'revert' : 'patch'} ${basename(p.file)}`;
}

/**
 * Apply patches and reverts in the order given (the build puts reverts
 * first) in the private checkout. If one does not apply, the commit cannot
 * be tested with it: a `skip` naming the file (or commit) and the hunk (or
 * the conflicting paths). Returns what was applied, with any offsets.
 *
 * A file revert is `git apply -R --index`, so that a later `git revert`
 * finds index and files in step; a commit revert is `git revert
 * --no-commit`, after which its state (REVERT_HEAD, MERGE_MSG) is dropped
 * with `--quit` whether it worked or not, so no sequencer state outlives
 * it. What a failed one leaves in the files, the next checkout discards.
 */
export async function applyPatches(checkout: string, patches: PatchFile[], onOffsets?: (label: string, offsets: string[]) => void): Promise<PatchRecord[]> {
  const done: PatchRecord[] = [];
  let clearedSequencer = false;
  for (const p of patches) {
    let offsets: string[] = [];
    if (p.commit) {
      if (!clearedSequencer) {
        // A krepro killed in the middle of a revert left its state behind.
        await quitRevert(checkout);
        clearedSequencer = true;
      }
      const r = await git(checkout, ['revert', '--no-commit', p.commit], { reject: false });
      if (r.exitCode !== 0) {
        const unmerged = await git(checkout, ['diff', '--name-only', '--diff-filter=U'], { reject: false });
        const paths = unmerged.stdout.split('\n').map((l) => l.trim()).filter(Boolean);
        await quitRevert(checkout);
        const firstError = [r.stderr, r.stdout].join('\n').split('\n').find((l) => /^(error|fatal):/.test(l));
        const reason = paths.length ? `conflict in ${paths.join(', ')}` : (firstError ?? 'git revert failed');
        throw skipError(`${changeLabel(p)} does not apply: ${reason}`, [r.stdout, r.stderr].filter(Boolean).join('\n'));
      }
      await quitRevert(checkout);
    } else {
      const args = p.reverted ? ['apply', '-R', '--index', '--verbose', '--whitespace=nowarn', p.file] : ['apply', '--verbose', '--whitespace=nowarn', p.file];
      const r = await git(checkout, args, { reject: false });
      if (r.exitCode !== 0) {
        const hunk = rejectedHunk(p.text, r.stderr, !!p.reverted);
        const reason = hunk ? `hunk ${hunk} rejected` : (r.stderr.split('\n').find((l) => l.startsWith('error:')) ?? 'git apply failed');
        throw skipError(`${changeLabel(p)} does not apply: ${reason}`, r.stderr);
      }
      offsets = appliedOffsets(`${r.stderr}\n${r.stdout}`);
      if (offsets.length) onOffsets?.(changeLabel(p), offsets);
    }
    done.push(patchRecord(p, offsets));
  }
  return done;
}

async function quitRevert(checkout: string): Promise<void> {
  await git(checkout, ['revert', '--quit'], { reject: false });
}

/** The record of an applied change (see PatchRecord); `file` as given unless `fileOf` places it. */
export function patchRecord(p: PatchFile, offsets: string[] = [], file = p.file): PatchRecord {
  const r: PatchRecord = { file, sha256: p.sha256 };
  if (p.reverted) r.reverted = true;
  if (p.commit) r.commit = p.commit;
  if (p.subject) r.subject = p.subject;
  if (offsets.length) r.offsets = offsets;
  return r;
}
