import yargs from 'yargs';
import { commands } from './commands.ts';
import { isKreproError, EXIT } from '../util/errors.ts';

/** Parse argv, run the command, return the process exit code. */
export async function main(argv: string[]): Promise<number> {
  const mods = await Promise.all(commands.map((load) => load()));
  let code = 0;
  const y = yargs(argv)
    .scriptName('krepro')
    .usage('krepro <command> [options]\n\nReproduce Linux kernel stalls in QEMU.')
    .strict()
    .demandCommand(1, 'name a command: krepro --help lists them')
    .recommendCommands()
    .wrap(Math.min(100, process.stdout.columns || 100))
    .fail((msg, err) => {
      if (err) throw err;
      throw Object.assign(new Error(msg), { usage: true });
    })
    .help()
    .alias('h', 'help')
    .version(false);
  for (const m of mods) y.command(m.default);
  try {
    await y.parseAsync();
    code = process.exitCode !== undefined && process.exitCode !== null ? Number(process.exitCode) : code;
  } catch (e) {
    if (isKreproError(e)) {
      process.stderr.write(`krepro: ${e.message}\n`);
      return e.exitCode;
    }
    if ((e as { usage?: boolean }).usage) {
      process.stderr.write(`krepro: ${(e as Error).message} (see krepro --help)\n`);
      return EXIT.usage;
    }
    process.stderr.write(`krepro: internal error: ${(e as Error).stack ?? e}\n`);
    return EXIT.usage;
  }
  return code;
}
