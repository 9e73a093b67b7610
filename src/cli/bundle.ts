import type { CommandModule } from 'yargs';
import { createBundle, verifyBundle, extractBundle } from '../artifacts/bundle.ts';
import { buildReport } from '../report/text.ts';
import { usageError, EXIT } from '../util/errors.ts';

const cmd: CommandModule = {
  command: 'bundle [dir]',
  describe: 'Pack a run, loop or bisection dir into a .tar.gz with a sha256 MANIFEST; --verify or --extract one',
  builder: (y) =>
    y.positional('dir', { type: 'string', describe: 'run, loop or bisection dir to pack' })
      .option('o', { alias: 'out', type: 'string', describe: 'bundle file to write (FILE.tar.gz)' })
      .option('verify', { type: 'string', describe: 'check this bundle against its MANIFEST; exit 255 on any mismatch' })
      .option('extract', { type: 'string', describe: 'extract this bundle (after verifying it) into --to' })
      .option('to', { type: 'string', default: '.', describe: 'where --extract writes' })
      .option('json', { type: 'boolean', default: false }),
  handler: async (argv) => {
    const a = argv as unknown as { dir?: string; o?: string; verify?: string; extract?: string; to: string; json: boolean };
    if (a.verify) {
      const v = await verifyBundle(a.verify);
      if (a.json) process.stdout.write(JSON.stringify(v) + '\n');
      else if (v.ok) process.stdout.write(`ok: ${v.files.length} files match MANIFEST\n`);
      else for (const p of v.problems) process.stderr.write(`krepro: ${a.verify}: ${p}\n`);
      // A mismatch is bad input (exit 255), never 1: 1 means "reproduced" everywhere.
      process.exitCode = v.ok ? 0 : EXIT.usage;
      return;
    }
    if (a.extract) {
      const dir = await extractBundle(a.extract, a.to);
      process.stdout.write(a.json ? JSON.stringify({ dir }) + '\n' : `${dir}\n`);
      return;
    }
    if (!a.dir || !a.o) throw usageError('krepro bundle DIR -o FILE.tar.gz (or --verify FILE)');
    let report: string | null = null;
    try {
      report = await buildReport(a.dir);
    } catch (e) {
      process.stderr.write(`krepro: warning: no report.txt in the bundle: ${(e as Error).message}\n`);
    }
    const r = await createBundle(a.dir, a.o, { report });
    for (const w of r.warnings) process.stderr.write(`krepro: warning: ${w}\n`);
    process.stdout.write(a.json ? JSON.stringify(r) + '\n' : `${r.out} (${r.files} files)\n`);
  },
};
export default cmd;
