import yargs, { type Argv, type CommandModule } from 'yargs';
import { commands, commandOf } from './commands.ts';
import { isKreproError, EXIT, exitCodesHelp } from '../util/errors.ts';
import { versionLine } from '../util/version.ts';

/**
 * Parse argv, run the command, return the process exit code. Only the
 * command being run is loaded; the others appear in --help from the table
 * in commands.ts.
 */
export async function main(argv: string[]): Promise<number> {
  const entry = commandOf(argv);
  const mod = entry ? (await entry.load()).default : null;
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
    .option('defaults', { type: 'string', global: true, describe: 'option defaults from this JSON file (default ~/.config/krepro/config.json); precedence: command line > --scenario > KREPRO_* environment > this file > built-in' })
    .help()
    .alias('h', 'help')
    .version('version', 'print krepro\'s version and exit', versionLine())
    .alias('V', 'version')
    .completion('completion', 'print a bash/zsh completion script (krepro completion >> ~/.bashrc)')
    .epilogue(exitCodesHelp());
  for (const c of commands) {
    if (c === entry && mod) {
      y.command({ ...mod, command: c.command, describe: c.describe, builder: await withUserDefaults(mod, c.name, argv) } as CommandModule);
    } else {
      // Listed for --help, completion and "did you mean"; never run (argv names another command).
      y.command({ command: c.command, describe: c.describe, builder: (yy: Argv) => yy, handler: () => {} });
    }
  }
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

/**
 * The command's builder, then its exit-code table, then the user's
 * defaults (KREPRO_* and the config file) as yargs' config layer: below
 * the command line, above the built-in defaults (cli/defaults.ts).
 */
async function withUserDefaults(mod: CommandModule, name: string, argv: string[]): Promise<(y: Argv) => Argv> {
  const d = await import('./defaults.ts');
  const { optionSpec } = await import('./scenario.ts');
  const builder = mod.builder;
  return (y: Argv) => {
    let yy = (typeof builder === 'function' ? (builder(y) as Argv) : builder ? y.options(builder) : y).epilogue(exitCodesHelp());
    const opts = (yy as unknown as { getOptions(): Parameters<typeof optionSpec>[0] & { alias: Record<string, string[]> } }).getOptions();
    const spec = optionSpec(opts);
    const i = argv.findIndex((a) => a === '--defaults' || a.startsWith('--defaults='));
    const defaultsArg = i < 0 ? undefined : argv[i].startsWith('--defaults=') ? argv[i].slice('--defaults='.length) : (argv[i + 1] ?? '');
    const { path, explicit } = d.configPath(defaultsArg);
    const file = d.fileDefaults(d.readConfigFile(path, explicit), name, spec, path, commands.map((c) => c.name));
    const merged = d.mergeDefaults(d.envDefaults(process.env, spec), file);
    const given = d.givenOnCommandLine(argv, opts.alias);
    d.setFromUserDefaults(Object.keys(merged.values).filter((k) => !given.has(k)));
    if (Object.keys(merged.values).length) yy = yy.config(merged.values);
    return yy;
  };
}
