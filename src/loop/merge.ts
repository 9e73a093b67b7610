import { cp, readdir, readFile, mkdir } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { randomBytes } from 'node:crypto';
import { exists, writeJsonAtomic } from '../util/fs.ts';
import { usageError } from '../util/errors.ts';
import type { RunRecord } from '../run/types.ts';
import type { LoopRecord, RunSummary } from './types.ts';
import { loopStats, summarizeRun } from './summary.ts';
import { readRecord } from '../util/fs.ts';
import { readRunRecord } from '../run/record.ts';
import { runDirName } from './loop.ts';

export async function readLoop(dir: string): Promise<LoopRecord> {
  const f = join(dir, 'loop.json');
  let rec: LoopRecord | null;
  try {
    rec = await readRecord<LoopRecord>(f, 'krepro.loop/1');
  } catch (e) {
    throw usageError(`${(e as Error).message}: give a loop dir made by krepro loop`);
  }
  if (!rec) throw usageError(`cannot read ${f}: give a loop dir made by krepro loop`);
  return rec;
}

/** Loop dirs under `dir` (itself, or up to two levels down: extracted bundles nest one level). */
async function loopDirsUnder(dir: string, depth: number): Promise<string[]> {
  if (await exists(join(dir, 'loop.json'))) return [dir];
  if (depth === 0) return [];
  let entries: import('node:fs').Dirent[] = [];
  try { entries = await readdir(dir, { withFileTypes: true }); } catch { return []; }
  const out: string[] = [];
  for (const e of entries.filter((x) => x.isDirectory()).sort((a, b) => a.name.localeCompare(b.name))) {
    out.push(...(await loopDirsUnder(join(dir, e.name), depth - 1)));
  }
  return out;
}

/** Loop dirs named by the user: loop dirs, or dirs that hold them (e.g. extracted bundles). */
export async function findLoopDirs(dirs: string[]): Promise<string[]> {
  const out: string[] = [];
  for (const d of dirs) {
    const found = await loopDirsUnder(resolve(d), 2);
    if (!found.length) throw usageError(`${d} holds no loop.json (nor do its subdirs): give the shard dirs krepro loop wrote`);
    out.push(...found);
  }
  return out;
}

async function resummarize(loopDir: string, s: RunSummary, index: number, rel: string): Promise<RunSummary> {
  try {
    const rec = await readRunRecord(join(loopDir, s.dir));
    if (!rec) throw new Error('no run.json');
    return summarizeRun(rec, index, rel);
  } catch {
    return { ...s, index, dir: rel };   // runKernel threw: the summary is all there is
  }
}

export interface MergeResult {
  dir: string;
  record: LoopRecord;
  warnings: string[];
}

/**
 * Combine shard loops into one loop dir: every run dir is copied under the
 * output's runs/ (keeping its global index) and statistics are recomputed
 * from the union of runs, so they equal a single-machine loop of the same
 * runs. Shards must share a configuration and commit; a run index present
 * in two shards is an error.
 */
export async function mergeLoops(dirs: string[], out: string): Promise<MergeResult> {
  if (!dirs.length) throw usageError('name the shard dirs to merge: krepro merge DIR... -o OUT');
  const loopDirs = await findLoopDirs(dirs);
  const outDir = resolve(out);
  if (await exists(join(outDir, 'loop.json'))) throw usageError(`${out} already holds a loop.json; merge into a new dir`);
  const loops = await Promise.all(loopDirs.map(async (d) => ({ dir: d, rec: await readLoop(d) })));
  const first = loops[0].rec;
  const warnings: string[] = [];
  for (const { dir, rec } of loops) {
    if (rec.configKey !== first.configKey) {
      throw usageError(`${dir} ran another configuration than ${loops[0].dir} (configKey ${rec.configKey} vs ${first.configKey}); merge only shards of one loop`);
    }
    if ((rec.config.commit ?? null) !== (first.config.commit ?? null)) {
      throw usageError(`${dir} ran commit ${rec.config.commit} but ${loops[0].dir} ran ${first.config.commit}; merge only shards of one commit`);
    }
    if (rec.status === 'running') warnings.push(`${dir}: loop still running or was killed; merging the runs it finished`);
  }
  const seen = new Map<number, string>();
  const runs: RunSummary[] = [];
  await mkdir(outDir, { recursive: true });
  for (const { dir, rec } of loops) {
    for (const s of rec.runs) {
      if (seen.has(s.index)) {
        throw usageError(`run index ${s.index} is in both ${seen.get(s.index)} and ${dir}: were two shards given the same --shard?`);
      }
      seen.set(s.index, dir);
      const rel = runDirName(s.index);
      if (await exists(join(dir, s.dir))) {
        await cp(join(dir, s.dir), join(outDir, rel), { recursive: true, errorOnExist: true, force: false });
      }
      runs.push(await resummarize(dir, s, s.index, rel));
    }
  }
  runs.sort((a, b) => a.index - b.index);
  const count = first.plan.count;
  if (count !== null) {
    const missing = [];
    for (let i = 0; i < count; i++) if (!seen.has(i)) missing.push(i);
    if (missing.length && !runs.some((r) => r.verdict === 'reproduced' && first.plan.stopOnFirst)) {
      warnings.push(`${missing.length} of ${count} planned runs are missing (e.g. index ${missing.slice(0, 5).join(', ')}): a shard was not given or did not finish`);
    }
  }
  const shardCounts = new Set(loops.map((l) => l.rec.shard?.count ?? 1));
  if (shardCounts.size > 1) warnings.push(`shards disagree on the shard count (${[...shardCounts].join(', ')})`);
  const statuses = loops.map((l) => l.rec.status);
  // With --stop-on-first the other shards being stopped (interrupted) is the plan working.
  const status: LoopRecord['status'] =
    statuses.includes('infra-error') ? 'infra-error'
      : first.plan.stopOnFirst && statuses.includes('stopped-on-first') ? 'stopped-on-first'
      : statuses.includes('interrupted') || statuses.includes('running') ? 'interrupted'
        : statuses.includes('stopped-on-first') ? 'stopped-on-first' : 'done';
  const now = new Date();
  const record: LoopRecord = {
    schema: 'krepro.loop/1',
    id: `merge-${now.toISOString().replace(/[-:]/g, '').slice(0, 15)}-${randomBytes(2).toString('hex')}`,
    createdAt: loops.map((l) => l.rec.createdAt).sort()[0],
    updatedAt: now.toISOString(),
    status,
    config: first.config,
    configKey: first.configKey,
    plan: first.plan,
    shard: null,
    mergedFrom: loops.map((l) => ({ id: l.rec.id, shard: l.rec.shard, runs: l.rec.runs.length })),
    runs,
    stats: loopStats(runs),
  };
  await writeJsonAtomic(join(outDir, 'loop.json'), record);
  return { dir: outDir, record, warnings };
}
