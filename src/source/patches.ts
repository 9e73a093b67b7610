import { readFile, access, constants } from 'node:fs/promises';
import { resolve, basename } from 'node:path';
import { git } from './git.ts';
import { sha256 } from '../util/fs.ts';
import { usageError, skipError } from '../util/errors.ts';

export interface PatchFile {
  file: string;      // absolute path
  sha256: string;    // of its bytes: part of the build identity
  text: string;
}

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
export function rejectedHunk(patchText: string, gitStderr: string): string | null {
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
      const h = /^@@ -(\d+)/.exec(l);
      if (h && Number(h[1]) === line) return `${path} ${l.trim()}`;
    }
  }
  return `${path}:${line}`;
}

/**
 * Apply patches in order in the private checkout. If one does not apply the
 * commit cannot be tested with it: a `skip` naming the file and the hunk.
 */
export async function applyPatches(checkout: string, patches: PatchFile[]): Promise<void> {
  for (const p of patches) {
    const r = await git(checkout, ['apply', '--verbose', '--whitespace=nowarn', p.file], { reject: false });
    if (r.exitCode !== 0) {
      const hunk = rejectedHunk(p.text, r.stderr);
      const reason = hunk ? `hunk ${hunk} rejected` : (r.stderr.split('\n').find((l) => l.startsWith('error:')) ?? 'git apply failed');
      throw skipError(`patch ${basename(p.file)} does not apply: ${reason}`, r.stderr);
    }
  }
}
