import type { CommandModule } from 'yargs';
import { resolve } from 'node:path';
import type { RunRecord } from '../run/types.ts';
import { importLavaLog } from '../lava/import.ts';
import { EXIT_FOR_VERDICT } from '../verdict/verdict.ts';
import { resultsRoot } from '../util/paths.ts';
import { signatureOptions } from './run-options.ts';

export function printLavaVerdict(rec: RunRecord, json: boolean, extra: Record<string, unknown> = {}): void {
  if (json) {
    process.stdout.write(JSON.stringify({ dir: rec.dir, verdict: rec.verdict, title: rec.title, detection: rec.detection, timings: rec.timings, error: rec.error ?? null, ...extra }) + '\n');
    return;
  }
  const s = (v: number | null | undefined) => (v == null ? '-' : `${(v / 1000).toFixed(1)} s`);
  process.stdout.write(`verdict: ${rec.verdict}${rec.title ? `: ${rec.title}` : ''}\n${rec.error ? `reason:  ${rec.error}\n` : ''}timings: boot-to-init ${s(rec.timings.bootToInitMs)}, detection ${s(rec.timings.detectMs)}, log ${s(rec.timings.totalMs)}\nresults: ${rec.dir}\n`);
}

const cmd: CommandModule = {
  command: 'import-lava <log>',
  describe: 'Judge a LAVA job log (lava-run output, or a job log from a LAVA server) like a krepro run: console.log and run.json with our verdict',
  builder: (y) =>
    y.positional('log', { type: 'string', describe: 'the LAVA job log' })
      .option('signature', { type: 'string', describe: 'regex: only a matching report counts as reproduced' })
      .option('title', { type: 'string', describe: 'exact title: only it counts as reproduced' })
      .option('results', { type: 'string', describe: 'results dir (default: results/ or $KREPRO_RESULTS)' })
      .option('json', { type: 'boolean', default: false }),
  handler: async (argv) => {
    const a = argv as unknown as { log: string; signature?: string; title?: string; results?: string; json: boolean };
    const { signature, title } = signatureOptions(a);
    const rec = await importLavaLog(a.log, { resultsDir: resolve(a.results ?? resultsRoot()), signature, title });
    printLavaVerdict(rec, a.json);
    process.exitCode = EXIT_FOR_VERDICT[rec.verdict];
  },
};
export default cmd;
