import type { CommandModule } from 'yargs';
import { readFile } from 'node:fs/promises';
import { analyzeText, type TraceAccel } from '../trace/analyze.ts';
import { accelBeside } from '../run/trace-file.ts';
import { formatAnalysis } from '../trace/format.ts';
import { usageError } from '../util/errors.ts';
import { parseCount } from '../util/units.ts';
import { reanalyzeLoop } from '../loop/reanalyze.ts';

const cmd: CommandModule = {
  command: 'analyze <trace>',
  describe: 'Replay mmcid trace events per mm and report missed fixup walks, duplicate, leaked or exhausted CIDs',
  builder: (y) =>
    y.positional('trace', { type: 'string', describe: 'trace.txt, a tracefs trace, a console log or a mail quoting one' })
      .option('json', { type: 'boolean', default: false, describe: 'print one JSON object: { anomalies, mms, totals, ... }' })
      .option('loop', { type: 'boolean', default: false, describe: 'the argument is a loop dir: replay every run\'s trace with this analyzer and rewrite run.json evidence and loop.json statistics' })
      .option('cpus', { type: 'string', describe: 'CPU count for the users threshold (default: trace header #P:N, else highest CPU seen + 1)' })
      .option('accel', { choices: ['tcg', 'kvm', 'unknown'] as const, describe: 'accelerator the traced kernel ran on: bounds the late-stamp allowance (default: the run.json beside the trace, else unknown: none)' })
      .epilogue('Exit codes: 0 no anomaly, 1 anomalies found, 125 no mmcid events (the trace cannot be judged), 255 bad input.'),
  handler: async (argv) => {
    const a = argv as unknown as { trace: string; json: boolean; cpus?: number; loop: boolean; accel?: TraceAccel };
    if (a.loop) {
      const rec = await reanalyzeLoop(a.trace);
      const s = rec.stats;
      process.stdout.write(a.json ? JSON.stringify({ dir: a.trace, stats: s }) + '\n'
        : `${s.reproduced} of ${s.valid} runs reproduced; evidence (${s.evidence.kinds.join(', ')}) in ${s.evidence.withEvidence} of ${s.evidence.traced} traced runs\n`);
      return;
    }
    const cpus = a.cpus === undefined ? undefined : parseCount('cpus', a.cpus);
    if (cpus !== undefined && cpus < 1) throw usageError(`--cpus ${a.cpus}: give a positive integer`);
    let text: string;
    try {
      text = await readFile(a.trace, 'utf8');
    } catch (e) {
      throw usageError(`cannot read ${a.trace}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}; give a trace file`);
    }
    const r = analyzeText(text, { cpus: a.cpus, accel: a.accel ?? await accelBeside(a.trace) });
    process.stdout.write(a.json ? JSON.stringify(r) + '\n' : formatAnalysis(r));
    // Like a test verdict: 1 when the trace shows an anomaly, 0 when clean,
    // 125 when it cannot be judged (no mmcid events: not a clean trace).
    process.exitCode = r.mmcidEvents === 0 ? 125 : r.anomalies.length ? 1 : 0;
  },
};
export default cmd;
