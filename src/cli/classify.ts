import type { CommandModule } from 'yargs';
import { readFile } from 'node:fs/promises';
import { classify } from '../console/classify.ts';
import { classifyRecord, formatClassify } from '../console/format.ts';
import { EXIT } from '../util/errors.ts';
import { titleWithVcpus } from '../run/silent.ts';
import { runBeside } from '../run/trace-file.ts';

const cmd: CommandModule = {
  command: 'classify <files..>',
  describe: 'Name the crashes in console logs with syzbot-style titles (BUG: soft lockup in f, INFO: task hung in f, ...)',
  builder: (y) =>
    y.positional('files', { type: 'string', array: true, describe: 'console logs (serial output, dmesg, syzbot logs)' })
      .option('json', { type: 'boolean', default: false, describe: 'one JSON object per file per line: file, title (null: no crash), altTitles, type, frame, corrupted, startLine, endLine, stack, more' }),
  handler: async (argv) => {
    const a = argv as unknown as { files: string[]; json: boolean };
    let failed = false;
    for (const file of a.files) {
      let data: Buffer;
      try {
        data = await readFile(file);
      } catch (e) {
        process.stderr.write(`krepro: cannot read ${file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}\n`);
        failed = true;
        continue;
      }
      const rec = classifyRecord(file, titleWithVcpus(classify(data), ...(await runBeside(file))));
      process.stdout.write(a.json ? JSON.stringify(rec) + '\n' : formatClassify(rec));
    }
    process.exitCode = failed ? EXIT.usage : 0;
  },
};
export default cmd;
