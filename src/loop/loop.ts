import { join, resolve } from 'node:path';
import { randomBytes } from 'node:crypto';
import { mkdir } from 'node:fs/promises';
import type { RunOptions } from '../run/options.ts';
import type { RunRecord } from '../run/types.ts';
import type { BuildOptions, BuildResult } from '../build/types.ts';
import { writeJsonAtomic } from '../util/fs.ts';
import { isKreproError, usageError } from '../util/errors.ts';
import type { LoopConfig, LoopRecord, RunSummary, ShardSpec } from './types.ts';
import { configKey, failedRunSummary, loopStats, summarizeRun } from './summary.ts';
import { nthShardIndex, shardIndexes } from './shard.ts';
import { DEFAULT_EVIDENCE_KINDS } from '../verdict/evidence.ts';

/** How the loop reaches a kernel and a run: the real build and run by default. */
export interface LoopDeps {
  build(opts: BuildOptions): Promise<BuildResult>;
  run(opts: Partial<RunOptions>): Promise<RunRecord>;
  now(): number;
}

export async function defaultDeps(): Promise<LoopDeps> {
  const [{ buildKernel }, { runKernel }] = await Promise.all([
    import('../build/build.ts'),
    import('../run/run.ts'),
  ]);
  return { build: buildKernel, run: runKernel, now: Date.now };
}

export interface LoopOptions {
  /** Options for every run; runDir and prebuilt are set by the loop. */
  run: Partial<RunOptions>;
  /** What to build once (ignored when run.kernel names a bzImage). */
  build?: BuildOptions;
  count?: number | null;
  untilSec?: number | null;
  stopOnFirst?: boolean;
  shard?: ShardSpec | null;
  /** Exact loop dir; default <resultsDir>/loop-<time>-<rand>[-s<K>of<N>]. */
  dir?: string;
  resultsDir: string;
  signal?: AbortSignal;
  onProgress?: (p: LoopProgress) => void;
  /** Called with the final record (history, HTML); errors are reported, not fatal. */
  onDone?: (rec: LoopRecord, dir: string) => Promise<void>;
  /** Stop after this many infra errors in a row (host is broken). Default 3. */
  maxConsecutiveInfra?: number;
}

export interface LoopProgress {
  dir: string;
  done: number;
  planned: number | null;     // null for --until
  reproduced: number;
  valid: number;
  rate: number | null;
  ci: [number, number];
  etaSec: number | null;
  last: RunSummary | null;
}

function stamp(d: Date): string {
  const p = (n: number) => String(n).padStart(2, '0');
  return `${d.getUTCFullYear()}${p(d.getUTCMonth() + 1)}${p(d.getUTCDate())}-${p(d.getUTCHours())}${p(d.getUTCMinutes())}${p(d.getUTCSeconds())}`;
}

export function runDirName(index: number): string {
  return join('runs', String(index).padStart(4, '0'));
}

function loopConfigOf(o: LoopOptions, b: BuildResult | null): LoopConfig {
  const r = o.run;
  return {
    tree: b?.tree ?? o.build?.tree ?? null,
    commit: b?.commit ?? o.build?.commit ?? null,
    kernel: r.kernel ? resolve(r.kernel) : null,
    buildKey: b?.key ?? null,
    kernelRelease: b?.kernelRelease ?? null,
    profile: r.kernel ? null : (o.build?.profile ?? 'default'),
    configs: r.kernel ? [] : (o.build?.configs ?? []),
    patches: b?.patches ?? [],
    cpus: r.cpus ?? null,
    memoryMb: r.memoryMb ?? null,
    durationSec: r.durationSec ?? null,
    accel: r.accel ?? null,
    append: r.append ?? null,
    signature: r.signature ?? null,
    title: r.title ?? null,
    selfTest: r.selfTest ?? null,
  };
}

/**
 * One build, many boots. Every run gets its own dir under the loop dir, and
 * loop.json is rewritten atomically after each run so a reader (or a killed
 * loop) always sees a consistent record.
 */
export async function runLoop(o: LoopOptions, deps?: LoopDeps): Promise<{ dir: string; record: LoopRecord }> {
  const d = deps ?? (await defaultDeps());
  const count = o.count ?? null;
  const untilSec = o.untilSec ?? null;
  if (count === null && untilSec === null) throw usageError('say how long to loop: --count N or --until DURATION (e.g. --until 8h)');
  if (count !== null && (!Number.isInteger(count) || count < 1)) throw usageError(`--count must be a positive integer (got ${count})`);
  const shard = o.shard ?? null;
  const created = new Date(d.now());
  const id = `loop-${stamp(created)}-${randomBytes(2).toString('hex')}${shard ? `-s${shard.index + 1}of${shard.count}` : ''}`;
  const dir = resolve(o.dir ?? join(o.resultsDir, id));
  await mkdir(dir, { recursive: true });

  const prebuilt = o.run.kernel ? null : await d.build({ ...(o.build ?? {}), signal: o.signal });
  const config = loopConfigOf(o, prebuilt);
  const evidenceKinds = o.run.evidence?.length ? o.run.evidence : DEFAULT_EVIDENCE_KINDS;
  const record: LoopRecord = {
    schema: 'krepro.loop/1',
    id,
    createdAt: created.toISOString(),
    updatedAt: created.toISOString(),
    status: 'running',
    config,
    configKey: configKey(config),
    plan: { count, untilSec, stopOnFirst: !!o.stopOnFirst },
    shard,
    ...(o.run.scenario ? { scenario: o.run.scenario } : {}),
    runs: [],
    stats: loopStats([]),
  };
  const save = async () => {
    record.updatedAt = new Date(d.now()).toISOString();
    record.stats = loopStats(record.runs, evidenceKinds);
    await writeJsonAtomic(join(dir, 'loop.json'), record);
  };
  await save();

  const planned = count !== null ? shardIndexes(count, shard) : null;
  const deadline = untilSec !== null ? created.getTime() + untilSec * 1000 : null;
  const startMs = d.now();
  const maxInfra = o.maxConsecutiveInfra ?? 3;
  let infraRow = 0;

  for (let i = 0; ; i++) {
    if (planned && i >= planned.length) { record.status = 'done'; break; }
    if (deadline !== null && d.now() >= deadline) { record.status = 'done'; break; }
    if (o.signal?.aborted) { record.status = 'interrupted'; break; }
    const index = planned ? planned[i] : nthShardIndex(i, shard);
    const rel = runDirName(index);
    const runDir = join(dir, rel);
    const startedAt = new Date(d.now()).toISOString();
    let summary: RunSummary;
    try {
      const rec = await d.run({
        ...o.run,
        prebuilt: prebuilt ?? undefined,
        resultsDir: dir,
        runDir,
        signal: o.signal,
      });
      summary = summarizeRun(rec, index, rel);
    } catch (e) {
      if (isKreproError(e) && e.kind === 'usage') throw e;
      const msg = (e as Error).message?.split('\n')[0] ?? String(e);
      summary = failedRunSummary(index, rel, msg, startedAt);
    }
    record.runs.push(summary);
    infraRow = summary.verdict === 'infra-error' ? infraRow + 1 : 0;
    await save();

    const done = record.runs.length;
    const elapsed = (d.now() - startMs) / 1000;
    let etaSec: number | null = null;
    if (planned) etaSec = (elapsed / done) * (planned.length - done);
    else if (deadline !== null) etaSec = Math.max(0, (deadline - d.now()) / 1000);
    o.onProgress?.({
      dir, done, planned: planned?.length ?? null,
      reproduced: record.stats.reproduced, valid: record.stats.valid,
      rate: record.stats.rate, ci: record.stats.ci, etaSec, last: summary,
    });

    if (summary.verdict === 'interrupted' || o.signal?.aborted) { record.status = 'interrupted'; break; }
    if (o.stopOnFirst && summary.verdict === 'reproduced') { record.status = 'stopped-on-first'; break; }
    if (infraRow >= maxInfra) {
      record.status = 'infra-error';
      record.error = `${infraRow} infra errors in a row, last: ${summary.error ?? 'see run.json'}`;
      break;
    }
  }
  await save();
  if (o.onDone) await o.onDone(record, dir);
  return { dir, record };
}
