import { usageError } from '../util/errors.ts';
import type { ShardSpec } from './types.ts';

/**
 * Sharding splits a loop's run indexes round-robin: shard k of n (0-based k)
 * runs indexes k, k+n, k+2n, ... So with --count C every index in [0, C) is
 * run by exactly one shard, and `krepro merge` can check that no index is
 * missing or run twice.
 *
 * Where the shard comes from, first match wins:
 *   1. --shard K/N                     (K is 1-based: 1/4 .. 4/4)
 *   2. KREPRO_SHARD_INDEX, KREPRO_SHARD_COUNT   (0-based index; set these
 *      from a CI matrix, e.g. GitHub Actions `${{ matrix.shard }}`)
 *   3. JOB_COMPLETION_INDEX + KREPRO_SHARD_COUNT (Kubernetes Indexed Job:
 *      the index is set by Kubernetes, the count by our manifest)
 *   4. CI_NODE_INDEX, CI_NODE_TOTAL    (GitLab CI `parallel:`, 1-based)
 *   5. SLURM_ARRAY_TASK_ID, SLURM_ARRAY_TASK_COUNT (a Slurm job array, as
 *      `krepro loop --on slurm` submits; the index counts from
 *      SLURM_ARRAY_TASK_MIN, default 0)
 */
export function parseShard(spec: string): ShardSpec {
  const m = /^\s*(\d+)\s*\/\s*(\d+)\s*$/.exec(spec);
  if (!m) throw usageError(`--shard wants K/N with 1 <= K <= N, e.g. --shard 2/4 (got '${spec}')`);
  const k = Number(m[1]);
  const n = Number(m[2]);
  if (n < 1 || k < 1 || k > n) throw usageError(`--shard ${spec}: K must be between 1 and N, e.g. --shard 1/${Math.max(1, n)}`);
  return { index: k - 1, count: n };
}

function envInt(env: NodeJS.ProcessEnv, name: string): number | null {
  const v = env[name];
  if (v === undefined || v === '') return null;
  if (!/^\d+$/.test(v.trim())) throw usageError(`${name}='${v}' is not a non-negative integer; fix the variable or pass --shard K/N`);
  return Number(v);
}

function checked(index: number, count: number, from: string): ShardSpec {
  if (count < 1 || index < 0 || index >= count) {
    throw usageError(`${from}: shard index ${index} is outside 0..${count - 1}; check the job's shard count`);
  }
  return { index, count };
}

/** The shard for this process, or null when the loop is not sharded. */
export function resolveShard(flag: string | undefined, env: NodeJS.ProcessEnv = process.env): ShardSpec | null {
  if (flag) return parseShard(flag);
  const count = envInt(env, 'KREPRO_SHARD_COUNT');
  const kIdx = envInt(env, 'KREPRO_SHARD_INDEX');
  if (kIdx !== null) {
    if (count === null) throw usageError('KREPRO_SHARD_INDEX is set but KREPRO_SHARD_COUNT is not; set both');
    return checked(kIdx, count, 'KREPRO_SHARD_INDEX');
  }
  const job = envInt(env, 'JOB_COMPLETION_INDEX');
  if (job !== null) {
    if (count === null) throw usageError('JOB_COMPLETION_INDEX is set but KREPRO_SHARD_COUNT is not; set it to the Job\'s completions');
    return checked(job, count, 'JOB_COMPLETION_INDEX');
  }
  const gl = envInt(env, 'CI_NODE_INDEX');
  const glTotal = envInt(env, 'CI_NODE_TOTAL');
  if (gl !== null && glTotal !== null && glTotal > 1) return checked(gl - 1, glTotal, 'CI_NODE_INDEX');
  const task = envInt(env, 'SLURM_ARRAY_TASK_ID');
  const tasks = envInt(env, 'SLURM_ARRAY_TASK_COUNT');
  if (task !== null && tasks !== null) return checked(task - (envInt(env, 'SLURM_ARRAY_TASK_MIN') ?? 0), tasks, 'SLURM_ARRAY_TASK_ID');
  return null;
}

/** The run indexes a shard owns out of `count` (all of them when unsharded). */
export function shardIndexes(count: number, shard: ShardSpec | null): number[] {
  const out: number[] = [];
  const k = shard?.index ?? 0;
  const n = shard?.count ?? 1;
  for (let i = k; i < count; i += n) out.push(i);
  return out;
}

/** The i-th (0-based) index a shard runs in an open-ended (--until) loop. */
export function nthShardIndex(i: number, shard: ShardSpec | null): number {
  return (shard?.index ?? 0) + i * (shard?.count ?? 1);
}

export function shardLabel(s: ShardSpec | null): string {
  return s ? `${s.index + 1}/${s.count}` : '';
}
