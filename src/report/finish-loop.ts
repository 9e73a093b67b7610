import { join } from 'node:path';
import { writeFileAtomic } from '../util/fs.ts';
import type { LoopRecord } from '../loop/types.ts';
import { appendHistory, loopEntry, loopHistory, readHistory, type HistoryEntry } from '../history/index.ts';
import { loopHtml, type RatePoint } from './html.ts';

/**
 * What a loop leaves once it ends (also after a merge): its entries in the
 * results index and report.html beside loop.json, whose rate plot shows the
 * earlier loops of the same configuration too.
 */
export async function finishLoop(rec: LoopRecord, dir: string, historyFile: string | null): Promise<void> {
  let earlier: RatePoint[] = [];
  if (historyFile) {
    const { entries } = await readHistory(historyFile);
    const group = loopHistory(entries).find((g) => g.configKey === rec.configKey);
    earlier = (group?.loops ?? [])
      .filter((l) => l.id !== rec.id && !l.partial && !(rec.mergedFrom ?? []).some((m) => m.id === l.id))
      .map((l) => ({
        label: l.commit?.slice(0, 12) ?? l.at.slice(0, 10),
        labelKind: l.commit ? ('commit' as const) : ('date' as const),
        reproduced: l.reproduced, valid: l.valid, rate: l.rate, ci: l.ci,
      }));
    const runs: HistoryEntry[] = rec.runs.map((r) => ({
      schema: 'krepro.history/1', kind: 'run', id: `${rec.id}/${r.index}`, dir: join(dir, r.dir),
      at: r.startedAt, verdict: r.verdict, title: r.title, commit: r.commit, loop: rec.id,
    }));
    // A merge's runs were recorded by its shards already.
    await appendHistory(historyFile, [...(rec.mergedFrom ? [] : runs), loopEntry(rec, dir)]);
  }
  const current: RatePoint = {
    label: rec.config.commit?.slice(0, 12) ?? 'this loop',
    labelKind: rec.config.commit ? ('commit' as const) : ('date' as const),
    reproduced: rec.stats.reproduced, valid: rec.stats.valid, rate: rec.stats.rate, ci: rec.stats.ci, current: true,
  };
  await writeFileAtomic(join(dir, 'report.html'), loopHtml(rec, [...earlier.slice(-19), current]));
}
