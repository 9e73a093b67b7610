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
    let crashed = false;
    for (const file of a.files) {
      let data: Buffer;
      try {
        data = await readFile(file);
      } catch (e) {
        const code = (e as NodeJS.ErrnoException).code;
        const why = code === 'ENOENT' ? 'no such file' : code === 'EISDIR' ? 'a directory' : code === 'EACCES' ? 'permission denied' : code ?? (e as Error).message;
        process.stderr.write(`krepro: cannot read ${file} (${why}): give console log files (serial output, dmesg, a syzbot log)\n`);
        failed = true;
        continue;
      }
      const rec = classifyRecord(file, titleWithVcpus(classify(data), ...(await runBeside(file))));
      if (rec.title) crashed = true;
      process.stdout.write(a.json ? JSON.stringify(rec) + '\n' : formatClassify(rec));
    }
    // Like run: 1 when a log holds a crash, 0 when every log is clean; bad input wins.
    process.exitCode = failed ? EXIT.usage : crashed ? EXIT.reproduced : EXIT.notReproduced;
  },
};
export default cmd;
