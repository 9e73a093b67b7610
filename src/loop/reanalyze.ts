import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { judgeRunTrace, isConsoleDump } from '../run/trace-file.ts';
import { DEFAULT_EVIDENCE_KINDS, evidenceOf } from '../verdict/evidence.ts';
import { writeJsonAtomic } from '../util/fs.ts';
import { usageError } from '../util/errors.ts';
import type { RunRecord } from '../run/types.ts';
import type { LoopRecord } from './types.ts';
import { readLoop } from './merge.ts';
import { readRunRecord } from '../run/record.ts';
import { loopStats, summarizeRun } from './summary.ts';

/**
 * Replay every run's trace of a loop with this krepro's analyzer, rewrite
 * each run.json's analysis and evidence and the loop's statistics. For a
 * loop taken before the analyzer learned something (or before run.json had
 * evidence): the traces are the data, the findings follow from them.
 */
export async function reanalyzeLoop(dir: string, evidenceKinds: readonly string[] = DEFAULT_EVIDENCE_KINDS): Promise<LoopRecord> {
  const loop = await readLoop(dir);
  const runs = [];
  for (const s of loop.runs) {
    const runDir = join(dir, s.dir);
    const rec = await readRunRecord(runDir).catch(() => null);
    if (!rec) { runs.push(s); continue; }
    const trace = await readFile(join(runDir, 'trace.txt'), 'utf8').catch(() => null);
    if (trace) {
      // The cut is what the run saw (a dump cut by the stall, a section that did not arrive whole).
      rec.analysis = await judgeRunTrace(runDir, trace, { cpus: rec.qemu?.cpus, truncated: rec.analysis?.truncated ?? false, startMayBeCut: isConsoleDump(trace), accel: rec.qemu?.accel });
    }
    rec.evidence = evidenceOf(rec.analysis);
    await writeJsonAtomic(join(runDir, 'run.json'), rec);
    runs.push(summarizeRun(rec, s.index, s.dir));
  }
  loop.runs = runs;
  loop.stats = loopStats(runs, evidenceKinds);
  loop.updatedAt = new Date().toISOString();
  await writeJsonAtomic(join(dir, 'loop.json'), loop);
  return loop;
}
