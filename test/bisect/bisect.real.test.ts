import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { execa } from 'execa';
import { mkdtemp, appendFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { git } from '../../src/source/git.ts';
import { PROJECT_ROOT } from '../../src/util/paths.ts';
import { cachedBuild, INJECT_PATCH } from '../helpers/real.ts';

/**
 * End to end: a history of 12 small commits on top of the default 6.12 tree,
 * the 7th applying the injected CID leak (leak probability below 100% via
 * mmcid_leak_pct), and `krepro bisect` must name that commit. Prints builds,
 * runs and wall time for the closing note.
 */
const FILES = [
  'kernel/sched/fair.c',
  'kernel/fork.c',
  'fs/exec.c',
  'mm/mmap.c',
  'kernel/exit.c',
  'kernel/pid.c',
  null, // the injected bug
  'mm/memory.c',
  'kernel/sched/rt.c',
  'lib/string.c',
  'kernel/signal.c',
  'kernel/sys.c',
];
const ID = { GIT_AUTHOR_NAME: 'krepro test', GIT_AUTHOR_EMAIL: 'test@krepro.invalid', GIT_COMMITTER_NAME: 'krepro test', GIT_COMMITTER_EMAIL: 'test@krepro.invalid' };

let base: string;
let wt: string;
let root: string;
let good: string;
let culprit: string;
let bad: string;

beforeAll(async () => {
  const b = await cachedBuild({});
  base = b.tree;
  root = await mkdtemp(join(tmpdir(), 'krepro-bisect-real-'));
  wt = join(root, 'linux');
  await git(base, ['worktree', 'add', '--detach', wt, b.commit]);
  good = b.commit;
  for (let i = 0; i < FILES.length; i++) {
    const f = FILES[i];
    if (f === null) {
      await git(wt, ['apply', INJECT_PATCH]);
      await git(wt, ['commit', '-q', '-a', '-m', 'sched/mmcid: inject a CID leak for vfork children'], { env: ID });
      culprit = (await git(wt, ['rev-parse', 'HEAD'])).stdout.trim();
      continue;
    }
    await appendFile(join(wt, f), `/* krepro bisect test: step ${i} */\n`);
    await git(wt, ['commit', '-q', '-a', '-m', `${f}: krepro bisect test step ${i}`], { env: ID });
  }
  bad = (await git(wt, ['rev-parse', 'HEAD'])).stdout.trim();
});

afterAll(async () => {
  if (wt) await git(base, ['worktree', 'remove', '--force', wt], { reject: false });
  if (root) await rm(root, { recursive: true, force: true });
});

describe('krepro bisect on the 6.12 tree (real builds and QEMU runs)', () => {
  it('names the commit that injects the CID leak', async () => {
    const t0 = Date.now();
    const results = join(root, 'results');
    const r = await execa(
      'node',
      [
        join(PROJECT_ROOT, 'bin/krepro.mjs'), 'bisect',
        '--tree', wt, '--good', good, '--bad', bad,
        '--append', 'mmcid_leak_pct=30',
        // The injected stall shows as a soft lockup, an RCU stall or a silent
        // hang depending on the run: one signature for all of them.
        '--signature', 'soft lockup|rcu detected stall|silent hang|mm_cid',
        '--duration', '30', '--hang-timeout', '25', '--cpus', '4',
        '--max-runs', '20',
        '--results', results, '--json',
      ],
      { reject: false, cwd: PROJECT_ROOT, stderr: 'inherit' },
    );
    const wall = (Date.now() - t0) / 1000;
    expect(r.exitCode, r.stdout).toBe(0);
    const out = JSON.parse(r.stdout);
    console.log('bisect figures', JSON.stringify({ wallSec: wall, runs: out.runs, commitsTested: out.commitsTested, confidence: out.confidence, rate: out.rate, steps: out.steps }));
    expect(out.culprit.hash).toBe(culprit);
    expect(out.confidence).toBeGreaterThanOrEqual(0.95);
    // the log replays to the same answer
    const replay = await git(wt, ['bisect', 'replay', out.log], { reject: false });
    expect(replay.stdout).toContain(`${culprit} is the first bad commit`);
    await git(wt, ['bisect', 'reset'], { reject: false });
  });
});
