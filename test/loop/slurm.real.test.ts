import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { execa } from 'execa';
import { mkdtemp, readFile, readdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PROJECT_ROOT } from '../../src/util/paths.ts';
import { cachedBuild } from '../helpers/real.ts';
import { loopStats, summarizeRun } from '../../src/loop/summary.ts';
import type { RunRecord } from '../../src/run/types.ts';
import type { BuildResult } from '../../src/build/types.ts';

// `krepro loop --on slurm` on a real one-node Slurm (Debian 12's slurmctld,
// slurmd and munge, which scripts/setup installs), started here by
// scripts/slurm-local: a job array of real kernel boots and the merge job.
const slurmDir = join(process.env.KREPRO_CACHE ?? join(process.env.HOME ?? '/root', '.cache', 'krepro'), 'slurm');
const env = { ...process.env, SLURM_CONF: join(slurmDir, 'slurm.conf') } as Record<string, string>;
const krepro = (args: string[], extra: Record<string, string> = {}) =>
  execa('node', [join(PROJECT_ROOT, 'bin/krepro.mjs'), ...args], { reject: false, env: { ...env, ...extra }, cwd: PROJECT_ROOT });
const local = (cmd: string) => execa(join(PROJECT_ROOT, 'scripts/slurm-local'), [cmd, slurmDir], { reject: false });

let kernel: BuildResult;
let results: string;
let startedHere = false;
beforeAll(async () => {
  startedHere = (await execa('scontrol', ['ping'], { reject: false, env })).exitCode !== 0;
  const up = await local('start');
  console.log(up.stderr);
  expect(up.exitCode, up.stderr).toBe(0);
  kernel = await cachedBuild({});
  results = await mkdtemp(join(tmpdir(), 'krepro-slurm-real-'));
});
afterAll(async () => {
  if (startedHere) await local('stop');
});

const lastJson = (s: string) => JSON.parse(s.trim().split('\n').pop()!);

describe('krepro loop --on slurm', () => {
  it('2 shards: an array job and a merge job; the merged loop.json has the statistics of its runs', async () => {
    const t0 = Date.now();
    const r = await krepro(['loop', '--on', 'slurm', '--shards', '2', '--count', '2', '--kernel', kernel.bzImage, '--cpus', '1', '--duration', '5', '--results', results, '--json']);
    const wall = Date.now() - t0;
    console.log(r.stderr.slice(-3000));
    expect(r.exitCode, r.stderr).toBe(0);
    const out = lastJson(r.stdout);
    const merged = JSON.parse(await readFile(join(out.dir, 'loop.json'), 'utf8'));
    expect(merged.mergedFrom.map((m: { shard: { index: number; count: number } }) => m.shard)).toEqual([{ index: 0, count: 2 }, { index: 1, count: 2 }]);
    expect(merged.runs.map((x: { index: number }) => x.index)).toEqual([0, 1]);
    // Statistics recomputed from the runs' own run.json equal the merged ones.
    const recs = await Promise.all(merged.runs.map(async (s: { dir: string; index: number }) => JSON.parse(await readFile(join(out.dir, s.dir, 'run.json'), 'utf8')) as RunRecord));
    const again = loopStats(recs.map((rec, i) => summarizeRun(rec, merged.runs[i].index, merged.runs[i].dir)));
    expect(merged.stats).toEqual(again);
    expect(merged.stats).toMatchObject({ runs: 2, valid: 2, reproduced: 0 });
    // Overhead of Slurm per run: wall time of the whole thing minus the longest run (they ran side by side).
    const longest = Math.max(...recs.map((x) => x.timings.totalMs));
    console.log(JSON.stringify({ slurm: out.timings, wallMs: wall, runTotalMs: recs.map((x) => x.timings.totalMs), overheadMs: wall - longest }));
    const files = await readdir(join(out.dir, '..'));
    expect(files).toEqual(expect.arrayContaining(['shard-1', 'shard-2', 'merged', 'shard.sh', 'merge.sh', 'slurm.json']));
  });

  it('--stop-on-first: the shard that reproduced stops, scancel cancels the rest of the array, the merge still runs', async () => {
    const r = await krepro(['loop', '--on', 'slurm', '--shards', '2', '--max-running', '1', '--count', '4', '--stop-on-first', '--self-test', 'soft-lockup', '--kernel', kernel.bzImage, '--cpus', '2', '--results', results, '--json']);
    console.log(r.stderr.slice(-3000));
    expect(r.exitCode, r.stderr).toBe(1);
    const out = lastJson(r.stdout);
    expect(out.cancelled).toBe(true);
    expect(out.status).toBe('stopped-on-first');
    expect(out.stats.reproduced).toBeGreaterThanOrEqual(1);
    expect(r.stderr).toMatch(/cancelled the rest of array job \d+ \(scancel\)/);
    const jobs = await execa('scontrol', ['show', 'job', '-o', out.arrayJob], { env, reject: false });
    expect(jobs.stdout).toMatch(/ArrayTaskId=2 .*JobState=CANCELLED/);
  });

  it('--no-wait prints the job ids; bad input is one line with the fix and exit 255', async () => {
    const nw = await krepro(['loop', '--on', 'slurm', '--shards', '1', '--count', '1', '--kernel', kernel.bzImage, '--cpus', '1', '--duration', '3', '--results', results, '--no-wait', '--json']);
    expect(nw.exitCode, nw.stderr).toBe(0);
    const ids = lastJson(nw.stdout);
    expect(ids.arrayJob).toMatch(/^\d+$/);
    expect(ids.mergeJob).toMatch(/^\d+$/);
    await execa('scancel', [ids.arrayJob, ids.mergeJob], { env, reject: false });

    const base = ['loop', '--on', 'slurm', '--shards', '2', '--count', '2', '--kernel', kernel.bzImage, '--results', results];
    const part = await krepro([...base, '--partition', 'nope']);
    expect(part.exitCode).toBe(255);
    expect(part.stderr).toMatch(/--partition nope: the cluster has no such partition; it has krepro/);
    const conf = await krepro(base, { SLURM_CONF: '/nonexistent/slurm.conf' });
    expect(conf.exitCode).toBe(255);
    expect(conf.stderr).toMatch(/SLURM_CONF=\/nonexistent\/slurm.conf: no such file/);
    const noShards = await krepro(['loop', '--on', 'slurm', '--count', '2', '--kernel', kernel.bzImage]);
    expect(noShards.exitCode).toBe(255);
    expect(noShards.stderr).toMatch(/--on slurm needs --shards N/);

    // munge stopped, then the controller stopped: each says which daemon to start.
    await execa('sh', ['-c', 'kill $(cat /run/munge/munged.pid)'], { reject: false });
    await new Promise((res) => setTimeout(res, 500));
    const munge = await krepro(base);
    expect(munge.exitCode).toBe(255);
    expect(munge.stderr).toMatch(/munge is not running .*start munged/);
    expect((await local('start')).exitCode).toBe(0);
    await execa('sh', ['-c', `kill $(cat ${slurmDir}/slurmctld.pid)`], { reject: false });
    await new Promise((res) => setTimeout(res, 500));
    const ctl = await krepro(base);
    expect(ctl.exitCode).toBe(255);
    expect(ctl.stderr).toMatch(/no Slurm controller reachable .*start slurmctld/);
    for (const e of [part, conf, munge, ctl]) expect(e.stderr.trim().split('\n')).toHaveLength(1);
    expect((await local('start')).exitCode).toBe(0);
  });
});
