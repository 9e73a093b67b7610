import { appendFile, mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { git } from '../../src/source/git.ts';
import { exists } from '../../src/util/fs.ts';
import { PROJECT_ROOT } from '../../src/util/paths.ts';

/**
 * A history on top of Debian's 7.2 tree for the real fix and regression
 * bisections of the v6.19 stall:
 *
 *   base       Debian linux-source-7.2 (the four upstream fixes in)
 *   trace      mmcid trace events, the 7.2 user-list walk traced
 *   restore    the v7.0-rc3 walk back (thread walk, then a task-list walk
 *              that stops when its count reaches 0): the bug
 *   doc 1      unrelated
 *   vfork fix  the early stop removed (28b5a1395036 "sched/mmcid: Handle
 *              vfork()/CLONE_VM correctly", re-applied by us)
 *   doc 2      unrelated
 *   list walk  the user-list walk again (192d852129b1 "sched/mmcid: Avoid
 *              full tasklist walks", re-applied by us): 7.2's own code
 *
 * and a second branch from `trace` where the bug comes in: doc 3, the
 * restore, doc 4. Commits have a fixed identity and date, so hashes are the
 * same on every machine. The history lives in a worktree of the cached
 * Debian tree repository: it shares that repository's private checkout and
 * O= build dir, so every step is an incremental build.
 */
export interface MmcidHistory {
  dir: string;             // the worktree
  base: string;
  trace: string;
  restore: string;
  vforkFix: string;
  listWalk: string;        // the fixed end (newest)
  // the regression branch
  regGood: string;         // = trace
  regCulprit: string;
  regBad: string;
}

const P = (f: string) => join(PROJECT_ROOT, 'patches', '7.2', f);
const ID = (n: number) => ({
  GIT_AUTHOR_NAME: 'krepro test', GIT_AUTHOR_EMAIL: 'test@krepro.invalid',
  GIT_COMMITTER_NAME: 'krepro test', GIT_COMMITTER_EMAIL: 'test@krepro.invalid',
  GIT_AUTHOR_DATE: `2001-01-01T00:${String(n).padStart(2, '0')}:00Z`, GIT_COMMITTER_DATE: `2001-01-01T00:${String(n).padStart(2, '0')}:00Z`,
});
const CORE = 'kernel/sched/core.c';
const DOC = 'Documentation/scheduler/sched-debug.rst';

/** The text of the early stop in the restored walk, and what the vfork fix makes of it. */
export const EARLY_STOP = '\t\tif (mm_cid_fixup_task_to_cpu(t, mm)) {\n\t\t\tif (--users == 0)\n\t\t\t\treturn;\n\t\t}\n';
export const NO_EARLY_STOP = '\t\tmm_cid_fixup_task_to_cpu(t, mm);\n';

export async function mmcidHistory(debianRepo: string, cacheDir: string): Promise<MmcidHistory> {
  const dir = join(cacheDir, 'test-repos', 'mmcid-7.2-history');
  const base = (await git(debianRepo, ['rev-parse', 'HEAD'])).stdout.trim();
  if (await exists(join(dir, '.git'))) await git(debianRepo, ['worktree', 'remove', '--force', dir], { reject: false });
  await git(debianRepo, ['worktree', 'prune']);
  await mkdir(join(cacheDir, 'test-repos'), { recursive: true });
  await git(debianRepo, ['worktree', 'add', '-q', '--detach', dir, base]);
  let n = 0;
  const commit = async (msg: string): Promise<string> => {
    await git(dir, ['commit', '-q', '-a', '--no-gpg-sign', '-m', msg], { env: ID(++n) });
    return (await git(dir, ['rev-parse', 'HEAD'])).stdout.trim();
  };
  const doc = async (i: number) => {
    await appendFile(join(dir, DOC), `\n.. krepro bisect test: unrelated change ${i}\n`);
    return commit(`Documentation: krepro bisect test, unrelated change ${i}`);
  };

  await git(dir, ['apply', P('mmcid-tracepoints.patch'), P('mmcid-trace-walk-userlist.patch')]);
  await git(dir, ['add', '-f', 'include/trace/events/mmcid.h']);
  const trace = await commit('sched/mmcid: mmcid trace events (krepro debug)');
  const tracedListWalk = await readFile(join(dir, CORE), 'utf8');

  await git(dir, ['apply', '-R', P('mmcid-trace-walk-userlist.patch')]);
  await git(dir, ['apply', P('0001-restore-rc3-fixup-walk.patch'), P('mmcid-trace-walk-restored.patch')]);
  const restore = await commit('sched/mmcid: restore the v7.0-rc3 task-to-CPU fixup walk');
  const tracedRestored = await readFile(join(dir, CORE), 'utf8');
  await doc(1);

  const traceEarly = tracedRestored.indexOf(EARLY_STOP);
  if (traceEarly < 0) throw new Error('the restored walk has no early stop to remove: patches/7.2 changed?');
  await writeFile(join(dir, CORE), tracedRestored.replace(EARLY_STOP, NO_EARLY_STOP));
  const vforkFix = await commit('sched/mmcid: Handle vfork()/CLONE_VM correctly (krepro re-application)');
  await doc(2);
  await writeFile(join(dir, CORE), tracedListWalk);
  const listWalk = await commit('sched/mmcid: Avoid full tasklist walks (krepro re-application)');

  // The regression branch: the bug comes in between two unrelated commits.
  await git(dir, ['checkout', '-q', '--detach', trace]);
  await doc(3);
  await writeFile(join(dir, CORE), tracedRestored);
  const regCulprit = await commit('sched/mmcid: restore the v7.0-rc3 task-to-CPU fixup walk (regression branch)');
  const regBad = await doc(4);
  await git(dir, ['checkout', '-q', '--detach', listWalk]);
  return { dir, base, trace, restore, vforkFix, listWalk, regGood: trace, regCulprit, regBad };
}
