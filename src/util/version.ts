import { readFileSync } from 'node:fs';
import { join, resolve, isAbsolute } from 'node:path';
import { PROJECT_ROOT } from './paths.ts';

/**
 * krepro's own version: package.json's, and the commit of the krepro
 * checkout when it is a git checkout (read from .git, no git process, so
 * `krepro --version` stays fast). Recorded in run.json, loop.json and every
 * report, so a result says which krepro made it.
 */
export interface KreproVersion {
  version: string;          // package.json
  commit: string | null;    // krepro checkout HEAD, when known
}

function readText(p: string): string | null {
  try { return readFileSync(p, 'utf8'); } catch { return null; }
}

/** HEAD of the git checkout at `root` (a worktree's .git file followed), or null. */
export function gitHead(root: string): string | null {
  let gitDir = join(root, '.git');
  const asFile = readText(gitDir);
  if (asFile !== null) {
    const m = /^gitdir:\s*(.+)\s*$/m.exec(asFile);
    if (!m) return null;
    gitDir = isAbsolute(m[1]) ? m[1] : resolve(root, m[1]);
  }
  const head = readText(join(gitDir, 'HEAD'))?.trim();
  if (!head) return null;
  if (/^[0-9a-f]{40}$/.test(head)) return head;
  const ref = /^ref:\s*(\S+)$/.exec(head)?.[1];
  if (!ref) return null;
  // A worktree keeps HEAD but shares refs with the main repository (commondir).
  const common = readText(join(gitDir, 'commondir'))?.trim();
  const dirs = [gitDir, ...(common ? [resolve(gitDir, common)] : [])];
  for (const d of dirs) {
    const v = readText(join(d, ref))?.trim();
    if (v && /^[0-9a-f]{40}$/.test(v)) return v;
  }
  for (const d of dirs) {
    const packed = readText(join(d, 'packed-refs'));
    const line = packed?.split('\n').find((l) => l.endsWith(` ${ref}`));
    if (line) return line.split(' ')[0];
  }
  return null;
}

let cached: KreproVersion | null = null;

export function kreproVersion(root = PROJECT_ROOT): KreproVersion {
  if (cached && root === PROJECT_ROOT) return cached;
  let version = 'unknown';
  try { version = (JSON.parse(readText(join(root, 'package.json')) ?? '{}') as { version?: string }).version ?? 'unknown'; } catch { /* keep unknown */ }
  const v = { version, commit: gitHead(root) };
  if (root === PROJECT_ROOT) cached = v;
  return v;
}

/** "krepro 0.1.0 (a75fd6f12345)" */
export function versionLine(v: KreproVersion = kreproVersion()): string {
  return `krepro ${v.version}${v.commit ? ` (${v.commit.slice(0, 12)})` : ''}`;
}
