import { describe, it, expect } from 'vitest';
import { mkdtemp, mkdir, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { arraySbatchArgs, mergeSbatchArgs, mergeScript, parseJobId, parseJobStates, parsePartitions, shardArgs, shardScript, shouldCancel, slurmFailure, jobEnded, type SlurmPlan } from '../../src/loop/slurm.ts';
import { runSlurmLoop } from '../../src/loop/slurm-run.ts';
import type { SlurmCli } from '../../src/loop/slurm-exec.ts';
import { resolveShard } from '../../src/loop/shard.ts';
import { loopStats } from '../../src/loop/summary.ts';

const plan: SlurmPlan = { root: '/r/slurm-1', cwd: '/w', krepro: ['/usr/bin/node', '/k/bin/krepro.mjs'], shards: 3, partition: null, args: ['--count', '6', '--signature', 'soft lockup|rcu'], results: '/r' };

describe('what krepro loop --on slurm submits', () => {
  it('forwards the loop options to the shards, less the submitter\'s own', () => {
    expect(shardArgs(['--on', 'slurm', '--shards', '2', '--count', '4', '--no-wait', '--partition=debug', '--stop-on-first', '--json', '--max-running', '1', '--kernel', '/k/bzImage'])).toEqual(['--count', '4', '--stop-on-first', '--kernel', '/k/bzImage']);
    expect(shardArgs(['--on=slurm', '--shards=2', '--dir', '/x', '--scenario', 'v6.19-vfork-stall'])).toEqual(['--scenario', 'v6.19-vfork-stall']);
  });
  it('an array of N tasks and a merge job that runs after any end of it', () => {
    expect(arraySbatchArgs(plan, '/r/slurm-1/shard.sh')).toEqual(['--parsable', '--job-name', 'krepro-loop', '--array=1-3', '--chdir', '/w', '--output', '/r/slurm-1/slurm-%A_%a.out', '/r/slurm-1/shard.sh']);
    expect(arraySbatchArgs({ ...plan, maxRunning: 1, partition: 'kvm' }, 's')).toEqual(expect.arrayContaining(['--array=1-3%1', '--partition', 'kvm']));
    const m = mergeSbatchArgs(plan, '41', '/r/slurm-1/merge.sh');
    expect(m).toContain('--dependency=afterany:41');
    expect(m.at(-1)).toBe('/r/slurm-1/merge.sh');
  });
  it('the scripts: each task a krepro loop in its own shard dir, quoted for sh; the merge into <root>/merged', async () => {
    const s = shardScript(plan);
    expect(s).toContain("exec /usr/bin/node /k/bin/krepro.mjs loop --dir /r/slurm-1/shard-\"$SLURM_ARRAY_TASK_ID\" --no-history --count 6 --signature 'soft lockup|rcu'");
    expect(mergeScript(plan)).toContain('merge /r/slurm-1 -o /r/slurm-1/merged --results /r --json >/r/slurm-1/merged.json');
    for (const t of [s, mergeScript(plan)]) expect((await execa('sh', ['-n', '-c', t], { reject: false })).exitCode).toBe(0);
  });
  it('a task finds its shard from Slurm\'s array variables', () => {
    expect(resolveShard(undefined, { SLURM_ARRAY_TASK_ID: '1', SLURM_ARRAY_TASK_COUNT: '2', SLURM_ARRAY_TASK_MIN: '1' })).toEqual({ index: 0, count: 2 });
    expect(resolveShard(undefined, { SLURM_ARRAY_TASK_ID: '2', SLURM_ARRAY_TASK_COUNT: '2', SLURM_ARRAY_TASK_MIN: '1' })).toEqual({ index: 1, count: 2 });
    expect(() => resolveShard(undefined, { SLURM_ARRAY_TASK_ID: '5', SLURM_ARRAY_TASK_COUNT: '2', SLURM_ARRAY_TASK_MIN: '1' })).toThrow(/outside 0\.\.1/);
    expect(resolveShard('2/3', { SLURM_ARRAY_TASK_ID: '1', SLURM_ARRAY_TASK_COUNT: '2' })).toEqual({ index: 1, count: 3 });
  });
});

describe('reading Slurm', () => {
  it('job ids, array task states, partitions', () => {
    expect(parseJobId('123\n')).toBe('123');
    expect(parseJobId('77;cluster2')).toBe('77');
    expect(() => parseJobId('sbatch: error')).toThrow(/no job id/);
    // scontrol show job -o, as Slurm 22.05 prints it (trimmed)
    const text = 'JobId=9 ArrayJobId=7 ArrayTaskId=1 JobName=krepro-loop UserId=root(0) JobState=FAILED Reason=NonZeroExitCode\nJobId=7 ArrayJobId=7 ArrayTaskId=2 JobName=krepro-loop JobState=CANCELLED Reason=None\nJobId=8 JobName=krepro-merge JobState=PENDING Reason=Dependency\n';
    expect(parseJobStates(text)).toEqual({ '7_1': 'FAILED', '7_2': 'CANCELLED', 8: 'PENDING' });
    expect(jobEnded('COMPLETED')).toBe(true);
    expect(jobEnded('CANCELLED+')).toBe(true);
    expect(jobEnded('RUNNING')).toBe(false);
    expect(jobEnded(undefined)).toBe(true);   // gone from the controller: ended long ago
    expect(parsePartitions('debug\nkvm*\n')).toEqual({ names: ['debug', 'kvm'], default: 'kvm' });
  });
  it('failures become one line with the fix (Slurm 22.05\'s own messages)', () => {
    const munge = slurmFailure('sinfo', 'sinfo: error: If munged is up, restart with --num-threads=10\nsinfo: error: Munge encode failed: Failed to access "/run/munge/munge.socket.2": No such file or directory (Did you start munged?)\nslurm_load_partitions: Protocol authentication error');
    expect(munge.message).toMatch(/^sinfo: munge is not running \(Failed to access.*start munged/);
    const ctl = slurmFailure('sinfo', 'slurm_load_partitions: Unable to contact slurm controller (connect failure)');
    expect(ctl.message).toMatch(/no Slurm controller reachable.*start slurmctld.*SLURM_CONF/);
    const part = slurmFailure('sbatch', 'sbatch: error: invalid partition specified: nope\nsbatch: error: Batch job submission failed: Invalid partition name specified');
    expect(part.message).toMatch(/Invalid partition name specified: pick a partition that sinfo lists/);
    expect((part as { exitCode?: number }).exitCode).toBe(255);
    expect(slurmFailure('sinfo', 'sinfo: error: ClusterName needs to be specified\nsinfo: fatal: Unable to process configuration file').message).toMatch(/no configuration.*SLURM_CONF/);
  });
  it('cancels once, only with --stop-on-first, after a reproduction', () => {
    const p = { shards: [{ runs: 1, reproduced: 1, status: 'stopped-on-first' }, { runs: 0, reproduced: 0, status: null }], mergeEnded: false, cancelled: false };
    expect(shouldCancel(p, true)).toBe(true);
    expect(shouldCancel(p, false)).toBe(false);
    expect(shouldCancel({ ...p, cancelled: true }, true)).toBe(false);
    expect(shouldCancel({ ...p, shards: [{ runs: 3, reproduced: 0, status: 'running' }] }, true)).toBe(false);
  });
});

/** A scheduler stand-in that plays the array and merge job through states over polls. */
function fakeSlurm(root: string, script: { reproduceAt?: number } = {}) {
  const calls: string[][] = [];
  let poll = 0;
  let cancelled = false;
  const cli: SlurmCli = {
    async preflight(p) {
      if (p && p !== 'debug') throw Object.assign(new Error(`--partition ${p}: the cluster has no such partition; it has debug`), { exitCode: 255 });
      return { partitions: ['debug'], partition: p ?? 'debug' };
    },
    async sbatch(args) {
      calls.push(['sbatch', ...args]);
      return calls.length === 1 ? '41' : '42';
    },
    async states(): Promise<Record<string, string>> {
      poll++;
      if (script.reproduceAt !== undefined && poll === script.reproduceAt) {
        await mkdir(join(root, 'shard-1'), { recursive: true });
        await writeFile(join(root, 'shard-1', 'loop.json'), JSON.stringify({ runs: [{}], stats: { ...loopStats([]), reproduced: 1 }, status: 'stopped-on-first' }));
      }
      if (poll < 3) return { '41_[1-2]': 'PENDING', 42: 'PENDING' };
      if (poll < 5 && !cancelled) return { '41_1': 'RUNNING', '41_2': 'RUNNING', 42: 'PENDING' };
      if (poll < 6) return { '41_1': 'COMPLETED', '41_2': cancelled ? 'CANCELLED' : 'COMPLETED', 42: 'RUNNING' };
      await mkdir(join(root, 'merged'), { recursive: true });
      await writeFile(join(root, 'merged', 'loop.json'), JSON.stringify({ id: 'merge-x', status: cancelled ? 'stopped-on-first' : 'done', stats: loopStats([]), runs: [] }));
      return { '41_1': 'COMPLETED', '41_2': 'COMPLETED', 42: 'COMPLETED' };
    },
    async cancel(id) {
      calls.push(['scancel', id]);
      cancelled = true;
    },
  };
  return { cli, calls };
}

describe('runSlurmLoop with a scheduler stand-in', () => {
  const base = { shards: 2, partition: null, args: ['--count', '4'], krepro: ['node', 'k.mjs'], cwd: '/w', stopOnFirst: false, wait: true, pollMs: 1 };
  it('submits the array, then the merge job on it, waits and returns the merged loop', async () => {
    const root = join(await mkdtemp(join(tmpdir(), 'krepro-slurm-')), 'loop');
    const { cli, calls } = fakeSlurm(root);
    const lines: string[] = [];
    const r = await runSlurmLoop({ ...base, resultsDir: '/r', dir: root, onProgress: (l) => lines.push(l) }, cli);
    expect(calls.map((c) => c[0])).toEqual(['sbatch', 'sbatch']);
    expect(calls[1]).toContain('--dependency=afterany:41');
    expect(r.merged!.status).toBe('done');
    expect(r.cancelled).toBe(false);
    expect(lines.some((l) => /2 running/.test(l))).toBe(true);
    expect(JSON.parse(await readFile(join(root, 'slurm.json'), 'utf8'))).toMatchObject({ arrayJob: '41', mergeJob: '42', shards: 2 });
  });
  it('--stop-on-first: scancel of the array once a shard reproduced, then the merge', async () => {
    const root = join(await mkdtemp(join(tmpdir(), 'krepro-slurm-')), 'loop');
    const { cli, calls } = fakeSlurm(root, { reproduceAt: 3 });
    const r = await runSlurmLoop({ ...base, stopOnFirst: true, resultsDir: '/r', dir: root }, cli);
    expect(calls.filter((c) => c[0] === 'scancel')).toEqual([['scancel', '41']]);
    expect(r.cancelled).toBe(true);
    expect(r.merged!.status).toBe('stopped-on-first');
  });
  it('--no-wait returns the job ids at once', async () => {
    const root = join(await mkdtemp(join(tmpdir(), 'krepro-slurm-')), 'loop');
    const { cli } = fakeSlurm(root);
    const r = await runSlurmLoop({ ...base, wait: false, resultsDir: '/r', dir: root }, cli);
    expect([r.arrayJob, r.mergeJob, r.merged]).toEqual(['41', '42', null]);
  });
  it('bad input before anything is submitted', async () => {
    const root = join(await mkdtemp(join(tmpdir(), 'krepro-slurm-')), 'loop');
    const { cli, calls } = fakeSlurm(root);
    await expect(runSlurmLoop({ ...base, shards: 0, resultsDir: '/r', dir: root }, cli)).rejects.toThrow(/--shards 0: give an integer/);
    await expect(runSlurmLoop({ ...base, partition: 'nope', resultsDir: '/r', dir: root }, cli)).rejects.toThrow(/no such partition; it has debug/);
    await expect(runSlurmLoop({ ...base, maxRunning: 0, resultsDir: '/r', dir: root }, cli)).rejects.toThrow(/--max-running 0/);
    expect(calls).toEqual([]);
  });
});
