import { chmod, mkdir, readFile, readdir, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { randomBytes } from 'node:crypto';
import type { LoopRecord } from './types.ts';
import { envError, usageError } from '../util/errors.ts';
import { arraySbatchArgs, jobEnded, mergeSbatchArgs, mergeScript, shardScript, shouldCancel, type SlurmPlan, type SlurmPoll } from './slurm.ts';
import type { SlurmCli } from './slurm-exec.ts';

export interface SlurmLoopOptions {
  shards: number;
  maxRunning?: number | null;
  partition: string | null;
  args: string[];              // the shard's loop arguments (shardArgs)
  krepro: string[];            // how a node starts krepro: [node, bin/krepro.mjs]
  resultsDir: string;
  cwd: string;
  dir?: string;                // the loop root (default <results>/slurm-<time>-<id>)
  stopOnFirst: boolean;
  wait: boolean;
  pollMs?: number;
  signal?: AbortSignal;
  onProgress?: (line: string) => void;
}

export interface SlurmLoopResult {
  root: string;
  arrayJob: string;
  mergeJob: string;
  cancelled: boolean;
  /** The merged loop (null with --no-wait). */
  merged: LoopRecord | null;
  timings: { submitMs: number; firstStartMs: number | null; shardsEndMs: number | null; mergeEndMs: number | null };
}

async function readShards(root: string, n: number): Promise<SlurmPoll['shards']> {
  const out: SlurmPoll['shards'] = [];
  for (let k = 1; k <= n; k++) {
    try {
      const rec = JSON.parse(await readFile(join(root, `shard-${k}`, 'loop.json'), 'utf8')) as LoopRecord;
      out.push({ runs: rec.runs.length, reproduced: rec.stats.reproduced, status: rec.status });
    } catch {
      out.push({ runs: 0, reproduced: 0, status: null });
    }
  }
  return out;
}

/**
 * Submit the array and the merge job, then (unless --no-wait) follow them to
 * the merged loop.json. Interrupting the submitter cancels both jobs.
 */
export async function runSlurmLoop(o: SlurmLoopOptions, cli: SlurmCli, now: () => number = Date.now): Promise<SlurmLoopResult> {
  if (!Number.isInteger(o.shards) || o.shards < 1 || o.shards > 10_000) throw usageError(`--shards ${o.shards}: give an integer from 1 to 10000`);
  if (o.maxRunning != null && (!Number.isInteger(o.maxRunning) || o.maxRunning < 1)) throw usageError(`--max-running ${o.maxRunning}: give a positive integer`);
  const t0 = now();
  const pre = await cli.preflight(o.partition);
  const stamp = new Date(t0).toISOString().replace(/[-:]/g, '').replace(/\.\d+Z$/, '');
  const root = resolve(o.dir ?? join(o.resultsDir, `slurm-${stamp}-${randomBytes(2).toString('hex')}`));
  await mkdir(root, { recursive: true });
  const present = await readdir(root);
  if (present.some((f) => f.startsWith('shard-') || f === 'merged')) throw usageError(`${root} already holds shards of another loop: give a new --dir`);
  const plan: SlurmPlan = { root, cwd: o.cwd, krepro: o.krepro, shards: o.shards, maxRunning: o.maxRunning ?? null, partition: o.partition, args: o.args, results: o.resultsDir };
  const sScript = join(root, 'shard.sh');
  const mScript = join(root, 'merge.sh');
  await writeFile(sScript, shardScript(plan));
  await writeFile(mScript, mergeScript(plan));
  await chmod(sScript, 0o755);
  await chmod(mScript, 0o755);
  const arrayJob = await cli.sbatch(arraySbatchArgs(plan, sScript));
  let mergeJob: string;
  try {
    mergeJob = await cli.sbatch(mergeSbatchArgs(plan, arrayJob, mScript));
  } catch (e) {
    await cli.cancel(arrayJob).catch(() => {});
    throw e;
  }
  await writeFile(join(root, 'slurm.json'), JSON.stringify({ arrayJob, mergeJob, shards: o.shards, partition: pre.partition, submittedAt: new Date(t0).toISOString(), args: o.args }, null, 2) + '\n');
  const result: SlurmLoopResult = { root, arrayJob, mergeJob, cancelled: false, merged: null, timings: { submitMs: now() - t0, firstStartMs: null, shardsEndMs: null, mergeEndMs: null } };
  if (!o.wait) return result;

  const pollMs = o.pollMs ?? 2000;
  let lastLine = '';
  try {
    for (;;) {
      if (o.signal?.aborted) {
        await cli.cancel(mergeJob).catch(() => {});
        await cli.cancel(arrayJob).catch(() => {});
        result.cancelled = true;
        throw usageError(`interrupted: cancelled Slurm jobs ${arrayJob} and ${mergeJob}; the shards' results so far are in ${root}`);
      }
      const states = await cli.states([arrayJob, mergeJob]);
      const tasks = Object.entries(states).filter(([id]) => id.startsWith(`${arrayJob}_`));
      if (result.timings.firstStartMs === null && tasks.some(([, s]) => s !== 'PENDING')) result.timings.firstStartMs = now() - t0;
      // The merge job leaves PENDING only once every array task has ended (afterany).
      if (result.timings.shardsEndMs === null && states[mergeJob] !== 'PENDING') result.timings.shardsEndMs = now() - t0;
      const poll: SlurmPoll = { shards: await readShards(root, o.shards), mergeEnded: jobEnded(states[mergeJob]), cancelled: result.cancelled };
      if (shouldCancel(poll, o.stopOnFirst)) {
        await cli.cancel(arrayJob);
        result.cancelled = true;
        o.onProgress?.(`slurm: a shard reproduced: cancelled the rest of array job ${arrayJob} (scancel)`);
      }
      const runs = poll.shards.reduce((a, s) => a + s.runs, 0);
      const repro = poll.shards.reduce((a, s) => a + s.reproduced, 0);
      const count = (st: string) => tasks.filter(([, s]) => s === st).length;
      // (a record like 12_[2-4] stands for the tasks still pending)
      const line = `slurm: array ${arrayJob}: ${count('RUNNING')} running, ${tasks.some(([id, s]) => id.includes('[') || s === 'PENDING') ? 'some' : 'none'} pending, ${tasks.filter(([id, s]) => !id.includes('[') && jobEnded(s)).length} ended; ${runs} runs, ${repro} reproduced; merge ${mergeJob} ${states[mergeJob] ?? 'ended'}`;
      if (line !== lastLine) o.onProgress?.(line);
      lastLine = line;
      if (poll.mergeEnded) break;
      await new Promise((r) => setTimeout(r, pollMs));
    }
  } finally {
    // nothing to release: the jobs outlive the submitter only by the user's choice (--no-wait)
  }
  result.timings.mergeEndMs = now() - t0;
  try {
    result.merged = JSON.parse(await readFile(join(root, 'merged', 'loop.json'), 'utf8')) as LoopRecord;
  } catch {
    const log = await readFile(join(root, `slurm-merge-${mergeJob}.out`), 'utf8').catch(() => '');
    throw envError(`the merge job ${mergeJob} left no ${join(root, 'merged', 'loop.json')}: ${log.trim().split('\n').pop() || 'see the shards\' slurm-*.out'} (in ${root})`);
  }
  return result;
}
