import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { mkdtemp, readFile, writeFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { git } from '../../src/source/git.ts';
import { startBisect, resumeBisect, validateRange } from '../../src/bisect/engine.ts';
import { rng } from '../../src/bisect/simulate.ts';
import type { BisectEnv, StepRunOutcome } from '../../src/bisect/types.ts';
import { KreproError } from '../../src/util/errors.ts';

const TITLE = 'INFO: rcu detected stall in mm_cid_get';
let root: string;
let repo: string;
let commits: string[]; // commits[0] = good endpoint, commits[12] = bad endpoint

async function makeRepo(dir: string): Promise<string[]> {
  const env = { GIT_AUTHOR_NAME: 'T', GIT_AUTHOR_EMAIL: 't@example.org', GIT_COMMITTER_NAME: 'T', GIT_COMMITTER_EMAIL: 't@example.org' };
  await git(dir, ['init', '-q', '-b', 'main']);
  const out: string[] = [];
  for (let i = 0; i <= 12; i++) {
    await writeFile(join(dir, `f${i}.c`), `int f${i};\n`);
    await git(dir, ['add', '.']);
    await git(dir, ['commit', '-q', '-m', `commit ${i}: touch f${i}.c`], {
      env: { ...env, GIT_AUTHOR_DATE: `2025-01-${String(i + 1).padStart(2, '0')}T00:00:00Z`, GIT_COMMITTER_DATE: `2025-01-${String(i + 1).padStart(2, '0')}T00:00:00Z` },
    });
    out.push((await git(dir, ['rev-parse', 'HEAD'])).stdout.trim());
  }
  return out;
}

/**
 * A fake environment: commit index >= culprit carries the bug (with
 * `fixed`, index >= culprit is fixed). Runs crash with the bug's title with
 * probability p, with an unrelated title with probability q; some commits
 * do not build; infra errors and a kill can be injected by run number.
 */
function fakeEnv(o: {
  culprit: number;
  p: number;
  q?: number;
  /** Type of the unrelated crash (default 'warning'; 'stall' makes it look like the bug's kind). */
  qType?: string;
  seed: number;
  fixed?: boolean;
  unbuildable?: number[];
  infraAt?: number[]; // call numbers that fail with infra
  killAfter?: number; // throw after this many completed runs
  calls?: { commit: number; kind: string }[];
}): BisectEnv {
  const r = rng(o.seed);
  let call = 0;
  let completed = 0;
  return {
    async test(commit: string): Promise<StepRunOutcome> {
      const idx = commits.indexOf(commit);
      if (idx < 0) throw new Error(`unknown commit ${commit}`);
      call++;
      if (o.unbuildable?.includes(idx)) {
        o.calls?.push({ commit: idx, kind: 'skip' });
        return { kind: 'skip', reason: 'build failed: error: implicit declaration' };
      }
      if (o.infraAt?.includes(call)) {
        o.calls?.push({ commit: idx, kind: 'infra' });
        return { kind: 'infra', reason: 'qemu exited: cannot allocate memory' };
      }
      if (o.killAfter !== undefined && completed >= o.killAfter) throw new Error('killed');
      completed++;
      const buggy = o.fixed ? idx < o.culprit : idx >= o.culprit;
      const hit = buggy && r() < o.p;
      const other = r() < (o.q ?? 0);
      o.calls?.push({ commit: idx, kind: hit ? 'crash' : other ? 'unrelated' : 'clean' });
      const qType = o.qType ?? 'warning';
      const unrelated = other ? [{ title: qType === 'warning' ? 'WARNING in some_driver_probe' : 'INFO: task hung in some_driver_probe', type: qType }] : [];
      if (hit) return { kind: 'run', crashed: true, title: TITLE, type: 'stall', unrelated };
      if (other) return { kind: 'run', crashed: true, title: unrelated[0].title, type: qType, unrelated: [] };
      return { kind: 'run', crashed: false, title: null, type: null, unrelated: [] };
    },
  };
}

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'krepro-bisect-'));
  repo = join(root, 'linux');
  await git(root, ['init', '-q', repo]);
  commits = await makeRepo(repo);
});
afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

const base = () => ({ tree: repo, good: commits[0], bad: commits[12], resultsDir: join(root, 'results'), cacheDir: join(root, 'cache') });

describe('bisect engine over a real git repo with a fake environment', () => {
  it('finds a flaky culprit, ignores unrelated crashes, writes state, log and table', async () => {
    const headBefore = (await git(repo, ['rev-parse', 'HEAD'])).stdout;
    const r = await startBisect({ ...base(), id: 'flaky', title: TITLE }, () => fakeEnv({ culprit: 7, p: 0.4, q: 0.15, seed: 3 }));
    expect(r.culprit?.hash).toBe(commits[7]);
    expect(r.culprit?.subject).toBe('commit 7: touch f7.c');
    expect(r.confidence).toBeGreaterThanOrEqual(0.95);
    expect(r.table.some((row) => row.unrelated > 0)).toBe(true);
    // unrelated crashes never decided a commit bad
    for (const row of r.table) if (row.decision === 'buggy') expect(row.matching).toBeGreaterThan(0);
    const state = JSON.parse(await readFile(join(r.dir, 'bisect.json'), 'utf8'));
    expect(state.answer.commit).toBe(commits[7]);
    // the user's checkout is untouched and has no bisect in progress
    expect((await git(repo, ['rev-parse', 'HEAD'])).stdout).toBe(headBefore);
    expect((await git(repo, ['bisect', 'log'], { reject: false })).exitCode).not.toBe(0);
    expect((await git(repo, ['status', '--porcelain'])).stdout).toBe('');
    // the log replays to the same first bad commit
    const log = await readFile(r.logFile, 'utf8');
    expect(log).toMatch(/git bisect start/);
    const replay = await git(repo, ['bisect', 'replay', r.logFile], { reject: false });
    expect(replay.stdout).toContain(`${commits[7]} is the first bad commit`);
    await git(repo, ['bisect', 'reset'], { reject: false });
    expect(r.text).toContain('first bad commit: ' + commits[7]);
  });

  it('defaults the signature to the bad endpoint titles and bisects a fix with --fixed', { timeout: 120_000 }, async () => {
    // fixed: commits before index 5 crash, from 5 on the bug is gone; bad (old) = 0, good (new) = 12
    const r = await startBisect(
      { ...base(), good: commits[12], bad: commits[0], fixed: true, id: 'fix' },
      () => fakeEnv({ culprit: 5, p: 0.6, seed: 9, fixed: true }),
    );
    expect(r.state.signature).toEqual({ source: 'bad-endpoint', titles: [TITLE], kinds: ['stall'], exclude: [] });
    expect(r.culprit?.hash).toBe(commits[5]);
    expect(r.text).toContain('first fixed commit');
    const replay = await git(repo, ['bisect', 'replay', r.logFile], { reject: false });
    expect(replay.stdout).toMatch(new RegExp(`${commits[5]} is the first fixed commit`));
    await git(repo, ['bisect', 'reset'], { reject: false });
  });

  it('a default-signature title that the good endpoint shows too is noise: dropped, not fatal', { timeout: 120_000 }, async () => {
    // every commit hangs in a driver 80% of the time (a stall like the bug, other title); the bug is at 6
    const lines: string[] = [];
    const r = await startBisect(
      { ...base(), id: 'noise', log: (l: string) => lines.push(l) },
      () => fakeEnv({ culprit: 6, p: 0.7, q: 0.8, qType: 'stall', seed: 11 }),
    );
    // the driver hang is of the bug's type and shows without the bug: unseen titles of that type are no longer the bug's
    expect(r.state.signature).toEqual({ source: 'bad-endpoint', titles: [TITLE], kinds: [], exclude: ['INFO: task hung in some_driver_probe'] });
    expect(lines.some((l) => /task hung in some_driver_probe.* dropped from the signature/.test(l))).toBe(true);
    expect(r.culprit?.hash).toBe(commits[6]);
    await git(repo, ['bisect', 'reset'], { reject: false });
  });

  it('skips a commit that does not build and still names the culprit', async () => {
    const calls: { commit: number; kind: string }[] = [];
    const r = await startBisect({ ...base(), id: 'skip', title: TITLE }, () =>
      fakeEnv({ culprit: 4, p: 1, seed: 1, unbuildable: [6], calls }),
    );
    expect(calls.some((c) => c.commit === 6 && c.kind === 'skip')).toBe(true);
    expect(r.table.find((row) => row.commit === commits[6])?.decision).toBe('skip');
    expect(r.culprit?.hash).toBe(commits[4]);
    expect(await readFile(r.logFile, 'utf8')).toMatch(new RegExp(`git bisect skip ${commits[6]}`));
  });

  it('retries an infra error, stops after repeated ones with state saved, and resumes', async () => {
    const calls: { commit: number; kind: string }[] = [];
    // call 5 fails once (retried); calls 9..11 fail three times in a row (stop)
    const opts = { ...base(), id: 'infra', title: TITLE };
    const err = await startBisect(opts, () => fakeEnv({ culprit: 9, p: 0.5, seed: 5, infraAt: [5, 9, 10, 11], calls })).catch((e) => e);
    expect(err).toBeInstanceOf(KreproError);
    expect((err as KreproError).kind).toBe('infra');
    expect((err as Error).message).toMatch(/--resume/);
    const dir = join(opts.resultsDir, 'bisect-infra');
    const saved = JSON.parse(await readFile(join(dir, 'bisect.json'), 'utf8'));
    const runsBefore = Object.values(saved.commits).reduce((s: number, c: any) => s + c.runs.length, 0);
    expect(runsBefore).toBe(calls.filter((c) => c.kind !== 'infra').length);
    const r = await resumeBisect(dir, () => fakeEnv({ culprit: 9, p: 0.5, seed: 6 }));
    expect(r.culprit?.hash).toBe(commits[9]);
  });

  it('resumes after a kill at any run without repeating finished runs, reaching the same answer', async () => {
    // One random stream per bisection; a killed run throws before drawing, so
    // start + resume see exactly the runs of an uninterrupted bisection.
    const streamEnv = (r: () => number, calls: number[], killAfter?: number): BisectEnv => {
      let done = 0;
      return {
        async test(c) {
          if (killAfter !== undefined && done >= killAfter) throw new Error('killed');
          done++;
          const idx = commits.indexOf(c);
          calls.push(idx);
          const hit = idx >= 3 && r() < 0.5;
          return hit
            ? { kind: 'run', crashed: true, title: TITLE, type: 'stall', unrelated: [] }
            : { kind: 'run', crashed: false, title: null, type: null, unrelated: [] };
        },
      };
    };
    const refCalls: number[] = [];
    const refRng = rng(21);
    const ref = await startBisect({ ...base(), id: 'ref', title: TITLE }, () => streamEnv(refRng, refCalls));
    const refRuns = ref.totalRuns;
    expect(ref.culprit?.hash).toBe(commits[3]);
    expect(refCalls.length).toBe(refRuns);
    const kills = [1, Math.floor(refRuns / 3), Math.floor((2 * refRuns) / 3), refRuns - 1];
    for (const k of kills) {
      const id = `kill${k}`;
      const opts = { ...base(), id, title: TITLE };
      const calls: number[] = [];
      const r = rng(21);
      await expect(startBisect(opts, () => streamEnv(r, calls, k))).rejects.toThrow('killed');
      const dir = join(opts.resultsDir, `bisect-${id}`);
      const saved = JSON.parse(await readFile(join(dir, 'bisect.json'), 'utf8'));
      const savedRuns = Object.values(saved.commits).reduce((s: number, c: any) => s + c.runs.length, 0);
      expect(savedRuns).toBe(k);
      const res = await resumeBisect(dir, () => streamEnv(r, calls));
      expect(res.culprit?.hash).toBe(ref.culprit?.hash);
      // every run made once: same runs on the same commits as without the kill
      expect(calls).toEqual(refCalls);
      expect(res.totalRuns).toBe(refRuns);
      expect(res.table.map((row) => [row.commit, row.runs, row.decision])).toEqual(
        ref.table.map((row) => [row.commit, row.runs, row.decision]),
      );
      expect(await readFile(res.logFile, 'utf8')).toBe(await readFile(ref.logFile, 'utf8'));
    }
  }, 240_000);

  it('--jobs 3: three runs at once, runs no longer needed cancelled, the same culprit', async () => {
    let active = 0;
    let peak = 0;
    let cancelled = 0;
    const r0 = rng(17);
    const env: BisectEnv = {
      async test(commit, signal) {
        const idx = commits.indexOf(commit);
        const hit = idx >= 8 && r0() < 0.5;
        active++;
        peak = Math.max(peak, active);
        try {
          // a crash ends its run early, as a real stall does
          const ok = await new Promise<boolean>((res) => {
            const t = setTimeout(() => res(true), hit ? 2 : 8);
            signal?.addEventListener('abort', () => { clearTimeout(t); res(false); });
          });
          if (!ok) {
            cancelled++;
            return { kind: 'interrupted', reason: 'cancelled' };
          }
        } finally {
          active--;
        }
        return hit
          ? { kind: 'run', crashed: true, title: TITLE, type: 'stall', unrelated: [] }
          : { kind: 'run', crashed: false, title: null, type: null, unrelated: [] };
      },
    };
    const r = await startBisect({ ...base(), id: 'jobs3', title: TITLE, jobs: 3 }, () => env);
    expect(r.culprit?.hash).toBe(commits[8]);
    expect(r.confidence).toBeGreaterThanOrEqual(0.97);
    expect(peak).toBe(3);
    expect(cancelled).toBeGreaterThan(0);
    expect(r.state.jobs).toBe(3);
    // a cancelled run leaves nothing in the state; every counted run is a finished one
    for (const c of Object.values(r.state.commits)) for (const run of c.runs) expect(['crash', 'clean']).toContain(run.kind);
  });

  it('--evidence: trace evidence without any stall decides bad; a clean run without a judged trace proves nothing', async () => {
    const EV = 'mmcid evidence: fixup-missed-task';
    const r0 = rng(23);
    const seen: { idx: number; traced: boolean }[] = [];
    const env: BisectEnv = {
      async test(commit) {
        const idx = commits.indexOf(commit);
        // buggy from 4 on: the walk misses a task in 70% of runs, nothing ever stalls; 1 trace in 5 is lost
        if (idx >= 4 && r0() < 0.7) return { kind: 'run', crashed: true, title: EV, type: 'EVIDENCE', unrelated: [], traced: true };
        const traced = r0() >= 0.2;
        seen.push({ idx, traced });
        return { kind: 'run', crashed: false, title: null, type: null, unrelated: [], traced };
      },
    };
    const r = await startBisect({ ...base(), id: 'evidence', signature: 'soft lockup|rcu.*stall|silent hang', evidence: [EV] }, () => env);
    expect(r.culprit?.hash).toBe(commits[4]);
    expect(r.confidence).toBeGreaterThanOrEqual(0.97);
    expect(seen.some((x) => !x.traced)).toBe(true);
    // the good endpoint's untraced clean runs are not among its clean ones
    const good = r.table.find((row) => row.role === 'good-endpoint')!;
    const goodUntraced = r.state.commits[commits[0]].runs.filter((x) => x.traced === false).length;
    expect(good.runs).toBeGreaterThan(goodUntraced);
    for (const row of r.table) if (row.decision === 'buggy') expect(row.matching).toBeGreaterThan(0);
  });

  it('rejects bad input with one-line usage errors', async () => {
    const e1 = await validateRange(root, 'HEAD', 'HEAD~1', false).catch((e) => e);
    expect(e1).toBeInstanceOf(KreproError);
    expect((e1 as Error).message).toMatch(/not a git tree|unknown revision/);
    const e2 = await validateRange(repo, 'v9.9', commits[12], false).catch((e) => e);
    expect((e2 as Error).message).toMatch(/unknown revision 'v9.9'/);
    const e3 = await validateRange(repo, commits[12], commits[0], false).catch((e) => e);
    expect((e3 as Error).message).toMatch(/not an ancestor.*--fixed/);
    const e4 = await validateRange(repo, commits[0], commits[12], true).catch((e) => e);
    expect((e4 as Error).message).toMatch(/with --fixed/);
    for (const e of [e1, e2, e3, e4]) {
      expect((e as KreproError).exitCode).toBe(255);
      expect((e as Error).message).not.toContain('\n');
    }
  });

  it('fails clearly when the bad endpoint does not reproduce or the good one does', async () => {
    const e1 = await startBisect({ ...base(), id: 'norepro', title: TITLE, maxRuns: 8 }, () => fakeEnv({ culprit: 99, p: 0.5, seed: 1 })).catch((e) => e);
    expect((e1 as Error).message).toMatch(/bad endpoint .* did not reproduce in 8 runs/);
    const e2 = await startBisect({ ...base(), id: 'goodrepro', title: TITLE }, () => fakeEnv({ culprit: 0, p: 1, seed: 1 })).catch((e) => e);
    expect((e2 as Error).message).toMatch(/good endpoint .* reproduces/);
  });
});
