import { createHash } from 'node:crypto';
import { realpath, mkdir, readFile } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import { git, revParse } from './git.ts';
import { exists } from '../util/fs.ts';
import { usageError } from '../util/errors.ts';
import { ensureDebianTree, ensureDebianSeriesTree, parseDebianSpec } from './debian.ts';

/**
 * Where a tree is built. The user's repository is only read: krepro makes a
 * `git clone --shared --no-checkout` of it under the cache (objects are
 * borrowed through .git/objects/info/alternates) and checks commits out
 * there. The user's HEAD, index, working files and even .git/worktrees are
 * never written.
 */
export interface SourceTree {
  repo: string;      // the user's (or the default) repository, absolute
  id: string;        // stable name for the cache: <basename>-<hash of its git dir>
  checkout: string;  // the private checkout under the cache
  isDefault: boolean;
}

export async function resolveRepo(tree: string | null | undefined, cacheDir: string, log?: (s: string) => void): Promise<{ repo: string; isDefault: boolean }> {
  if (!tree) return { repo: await ensureDebianTree(cacheDir, log), isDefault: true };
  const spec = parseDebianSpec(tree);
  if (spec) return { repo: await ensureDebianSeriesTree(cacheDir, spec, log), isDefault: false };
  const abs = resolve(tree);
  if (!(await exists(abs))) throw usageError(`tree ${tree} does not exist: pass --tree with the path of a kernel git checkout`);
  const r = await git(abs, ['rev-parse', '--show-toplevel'], { reject: false });
  if (r.exitCode !== 0) throw usageError(`${tree} is not a git repository: pass --tree with a kernel git checkout (or omit it for the default 6.12 tree)`);
  const top = r.stdout.trim();
  if (!(await exists(join(top, 'Makefile'))) || !(await exists(join(top, 'Kconfig')))) {
    throw usageError(`${top} does not look like a Linux kernel tree (no top-level Makefile and Kconfig)`);
  }
  return { repo: top, isDefault: false };
}

/**
 * Named after the repository, not the checkout: every worktree of one
 * repository shares its object store, so they share one private checkout
 * and its O= dirs (and builds stay incremental across them).
 */
export async function treeId(repo: string): Promise<string> {
  const r = await git(repo, ['rev-parse', '--path-format=absolute', '--git-common-dir']);
  const gitDir = await realpath(r.stdout.trim());
  const name = basename(gitDir) === '.git' ? basename(dirname(gitDir)) : basename(gitDir).replace(/\.git$/, '');
  return `${name}-${createHash('sha256').update(gitDir).digest('hex').slice(0, 8)}`;
}

export async function openTree(tree: string | null | undefined, cacheDir: string, log?: (s: string) => void): Promise<SourceTree> {
  const { repo, isDefault } = await resolveRepo(tree, cacheDir, log);
  const id = await treeId(repo);
  return { repo, id, checkout: join(cacheDir, 'worktrees', id), isDefault };
}

/** Resolve a revision in the user's repo (default HEAD) to a full hash. */
export async function resolveCommit(t: SourceTree, rev: string | null | undefined): Promise<string> {
  return revParse(t.repo, rev || 'HEAD');
}

async function ensureCheckoutRepo(t: SourceTree): Promise<void> {
  if (await exists(join(t.checkout, '.git'))) {
    // Make sure the alternates still point at the user's objects.
    const alt = join(t.checkout, '.git', 'objects', 'info', 'alternates');
    if (await exists(alt)) return;
    // A plain git worktree (older layout) is also acceptable as a checkout.
    const g = await readFile(join(t.checkout, '.git'), 'utf8').catch(() => '');
    if (g.startsWith('gitdir:')) return;
    return;
  }
  await mkdir(join(t.checkout, '..'), { recursive: true });
  await git(join(t.checkout, '..'), ['clone', '-q', '--shared', '--no-checkout', t.repo, t.checkout]);
}

/**
 * Check `commit` out in the private checkout, discarding what earlier
 * patches left. Only files that differ get rewritten, so their mtimes tell
 * make exactly what to rebuild. The caller holds the checkout lock.
 */
export async function checkoutCommit(t: SourceTree, commit: string): Promise<void> {
  await ensureCheckoutRepo(t);
  // The commit object is reachable through alternates even if the clone's
  // refs are older than it.
  const r = await git(t.checkout, ['checkout', '-q', '--detach', '-f', commit], { reject: false });
  if (r.exitCode !== 0) {
    // The user's repo may hold objects newer than our clone knows about via refs;
    // fetching from it makes them available.
    await git(t.checkout, ['fetch', '-q', '--no-tags', t.repo, commit], { reject: false });
    await git(t.checkout, ['checkout', '-q', '--detach', '-f', commit]);
  }
  await git(t.checkout, ['clean', '-q', '-f', '-d', '-x']);
}
