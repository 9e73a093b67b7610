import type { CommandModule } from 'yargs';
import { buildReport } from '../report/text.ts';

const cmd: CommandModule = {
  command: 'report <dir>',
  describe: 'Print a plain-text report (<= 80 columns) for a run, loop or bisection dir, ready for the list',
  builder: (y) =>
    y.positional('dir', { type: 'string', describe: 'run, loop or bisection dir' })
      .option('vmlinux', { type: 'string', describe: 'vmlinux to decode the stack with (default: the build dir of the run)' })
      .option('modules', { type: 'string', describe: 'dir holding the .ko files (default: the build dir)' })
      .option('artifacts-url', { type: 'string', describe: 'where the bundle will be published, for the Artifacts line' }),
  handler: async (argv) => {
    const a = argv as unknown as { dir: string; vmlinux?: string; modules?: string; 'artifacts-url'?: string };
    process.stdout.write(await buildReport(a.dir, { vmlinux: a.vmlinux, modulesDir: a.modules, artifactsUrl: a['artifacts-url'] }));
  },
};
export default cmd;
