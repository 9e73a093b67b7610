import type { CommandModule } from 'yargs';
import { resolve } from 'node:path';
import { historyPath, loopHistory, readHistory } from '../history/index.ts';
import { formatHistory } from '../history/format.ts';
import { resultsRoot } from '../util/paths.ts';

const cmd: CommandModule = {
  command: 'history',
  describe: 'List loops by configuration, commit and date; flag significant rate changes (Fisher p<0.05)',
  builder: (y) =>
    y.option('results', { type: 'string', describe: 'results dir holding history.jsonl' })
      .option('json', { type: 'boolean', default: false }),
  handler: async (argv) => {
    const a = argv as unknown as { results?: string; json: boolean };
    const file = historyPath(resolve(a.results ?? resultsRoot()));
    const { entries, skipped } = await readHistory(file);
    if (skipped) process.stderr.write(`krepro: skipped ${skipped} unreadable line(s) in ${file}\n`);
    const groups = loopHistory(entries);
    if (a.json) process.stdout.write(JSON.stringify({ file, groups }) + '\n');
    else process.stdout.write(formatHistory(groups));
  },
};
export default cmd;
