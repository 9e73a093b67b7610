/**
 * The results index: one JSON object per line in <results>/history.jsonl.
 *
 * For the README (why JSON Lines, not SQLite):
 *   krepro records every run and loop in `results/history.jsonl`, one JSON
 *   object per line, appended when a run or loop ends. JSON Lines was chosen
 *   over SQLite because it needs no native module (better-sqlite3 must be
 *   compiled; node:sqlite is not in Node 20), an append of one short line is
 *   the whole write (a crash loses at most the line being written, never the
 *   index), shards on other machines produce files that combine with `cat`,
 *   and users can query it with grep or jq. The index only ever holds
 *   summaries (a few hundred bytes per entry); the data lives in each run's
 *   and loop's own dir, so a scan of the whole file stays fast for years of
 *   nightly loops. If it ever grows too big, rotating it is `mv`.
 *   Concurrent writers on one host are safe: each entry is one write(2) of
 *   less than 4 KiB to a file opened with O_APPEND.
 */
import { appendFile, mkdir, readFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { resultsRoot } from '../util/paths.ts';
import type { RunRecord } from '../run/types.ts';
import type { LoopRecord, ShardSpec } from '../loop/types.ts';
import { rateChange } from '../loop/stats.ts';

export const HISTORY_FILE = 'history.jsonl';

export function historyPath(resultsDir: string = resultsRoot()): string {
  return join(resultsDir, HISTORY_FILE);
}

export interface LoopEntry {
  schema: 'krepro.history/1';
  kind: 'loop';
  id: string;
  dir: string;
  at: string;                 // loop start
  finishedAt: string;
  status: string;
  configKey: string;
  commit: string | null;
  tree: string | null;
  kernel: string | null;
  kernelRelease: string | null;
  shard: ShardSpec | null;
  mergedFrom: string[];
  runs: number;
  valid: number;
  reproduced: number;
  rate: number | null;
  ci: [number, number];
  medianSec: number | null;
}

export interface RunEntry {
  schema: 'krepro.history/1';
  kind: 'run';
  id: string;
  dir: string;
  at: string;
  verdict: string;
  title: string | null;
  commit: string | null;
  loop: string | null;
}

export type HistoryEntry = LoopEntry | RunEntry;

export function loopEntry(rec: LoopRecord, dir: string): LoopEntry {
  return {
    schema: 'krepro.history/1',
    kind: 'loop',
    id: rec.id,
    dir,
    at: rec.createdAt,
    finishedAt: rec.updatedAt,
    status: rec.status,
    configKey: rec.configKey,
    commit: rec.config.commit,
    tree: rec.config.tree,
    kernel: rec.config.kernel,
    kernelRelease: rec.config.kernelRelease,
    shard: rec.shard,
    mergedFrom: (rec.mergedFrom ?? []).map((m) => m.id),
    runs: rec.stats.runs,
    valid: rec.stats.valid,
    reproduced: rec.stats.reproduced,
    rate: rec.stats.rate,
    ci: rec.stats.ci,
    medianSec: rec.stats.ttf.median,
  };
}

export function runEntry(rec: RunRecord, dir: string, loop: string | null = null): RunEntry {
  return {
    schema: 'krepro.history/1',
    kind: 'run',
    id: rec.id,
    dir,
    at: rec.timings.startedAt,
    verdict: rec.verdict,
    title: rec.title,
    commit: rec.kernel?.commit ?? null,
    loop,
  };
}

/** Append entries; each is one line written with one append. */
export async function appendHistory(file: string, entries: HistoryEntry[]): Promise<void> {
  if (!entries.length) return;
  await mkdir(dirname(file), { recursive: true });
  for (const e of entries) await appendFile(file, JSON.stringify(e) + '\n', { flag: 'a' });
}

/** Record a finished standalone run (the run command calls this). */
export async function recordRun(rec: RunRecord, dir: string, file = historyPath()): Promise<void> {
  await appendHistory(file, [runEntry(rec, dir)]);
}

/** Read the index; a torn or foreign line is skipped, not fatal. */
export async function readHistory(file: string): Promise<{ entries: HistoryEntry[]; skipped: number }> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return { entries: [], skipped: 0 };
    throw e;
  }
  const entries: HistoryEntry[] = [];
  let skipped = 0;
  for (const line of text.split('\n')) {
    if (!line.trim()) continue;
    try {
      const e = JSON.parse(line);
      if (e?.schema === 'krepro.history/1' && (e.kind === 'loop' || e.kind === 'run')) entries.push(e);
      else skipped++;
    } catch {
      skipped++;
    }
  }
  return { entries, skipped };
}

export interface LoopRow extends LoopEntry {
  /** Change against the previous comparable loop of the same configuration. */
  change: { vs: string; p: number; significant: boolean; direction: 'up' | 'down' | 'same' } | null;
  partial: boolean;          // an unmerged shard: not compared
}

export interface ConfigGroup {
  configKey: string;
  loops: LoopRow[];          // oldest first
}

/**
 * Loops grouped by configuration, oldest first, with a change flag between
 * each loop and the previous complete loop of the same configuration.
 * The latest entry of a loop id wins; shards that a merged loop includes
 * are hidden (the merge stands for them); other shards are listed as
 * partial and not compared.
 */
export function loopHistory(entries: HistoryEntry[], alpha = 0.05): ConfigGroup[] {
  const latest = new Map<string, LoopEntry>();
  for (const e of entries) if (e.kind === 'loop') latest.set(e.id, e);
  const merged = new Set<string>();
  for (const e of latest.values()) for (const id of e.mergedFrom ?? []) merged.add(id);
  const groups = new Map<string, LoopRow[]>();
  const loops = [...latest.values()].filter((e) => !merged.has(e.id)).sort((a, b) => a.at.localeCompare(b.at) || a.id.localeCompare(b.id));
  for (const e of loops) {
    const rows = groups.get(e.configKey) ?? [];
    const partial = e.shard !== null && e.shard !== undefined && e.shard.count > 1;
    let change: LoopRow['change'] = null;
    const prev = [...rows].reverse().find((r) => !r.partial && r.valid > 0);
    if (!partial && prev && e.valid > 0) {
      const { p } = rateChange(prev.reproduced, prev.valid, e.reproduced, e.valid);
      const r0 = prev.reproduced / prev.valid;
      const r1 = e.reproduced / e.valid;
      change = { vs: prev.id, p, significant: p < alpha, direction: r1 > r0 ? 'up' : r1 < r0 ? 'down' : 'same' };
    }
    rows.push({ ...e, change, partial });
    groups.set(e.configKey, rows);
  }
  return [...groups.entries()]
    .map(([configKey, rows]) => ({ configKey, loops: rows }))
    .sort((a, b) => a.loops[0].at.localeCompare(b.loops[0].at));
}
