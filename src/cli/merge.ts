import type { CommandModule } from 'yargs';
import { resolve } from 'node:path';
import { mergeLoops } from '../loop/merge.ts';
import { finishLoop } from '../report/finish-loop.ts';
import { historyPath } from '../history/index.ts';
import { resultsRoot } from '../util/paths.ts';
import { pct } from '../loop/summary.ts';

const cmd: CommandModule = {
  command: 'merge <dirs..>',
  describe: 'Combine the shard dirs of one loop (krepro loop --shard K/N) into one loop result',
  builder: (y) =>
    y.positional('dirs', { type: 'string', array: true, describe: 'shard loop dirs, or dirs that hold them' })
      .option('o', { alias: 'out', type: 'string', demandOption: true, describe: 'output loop dir (new)' })
      .option('results', { type: 'string', describe: 'results dir whose history.jsonl records the merge' })
      .option('history', { type: 'boolean', default: true, describe: 'record the merged loop in the history' })
      .option('json', { type: 'boolean', default: false }),
  handler: async (argv) => {
    const a = argv as unknown as { dirs: string[]; o: string; results?: string; history: boolean; json: boolean };
    const { dir, record, warnings } = await mergeLoops(a.dirs, a.o);
    for (const w of warnings) process.stderr.write(`krepro: warning: ${w}\n`);
    await finishLoop(record, dir, a.history ? historyPath(resolve(a.results ?? resultsRoot())) : null);
    const s = record.stats;
    if (a.json) process.stdout.write(JSON.stringify({ dir, id: record.id, mergedFrom: record.mergedFrom, warnings, stats: s }) + '\n');
    else process.stdout.write(`merged ${record.mergedFrom!.length} shards: ${s.reproduced} of ${s.valid} runs reproduced, rate ${pct(s.rate)} (95% CI ${pct(s.ci[0])}-${pct(s.ci[1])})\n  ${dir}/loop.json\n`);
  },
};
export default cmd;
