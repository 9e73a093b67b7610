import type { Argv } from 'yargs';
import { PROJECT_ROOT } from '../util/paths.ts';
import { loadScenario, explicitOptions, mergeScenario, scenarioRef, type OptionSpec } from '../run/scenario.ts';
import type { ScenarioRef } from '../run/types.ts';
import { UNIT_OPTIONS } from './units-options.ts';
import { isFromUserDefaults } from './defaults.ts';

/** Where the scenario that was applied travels in argv, to toRunOptions. */
export const SCENARIO_ARG = '$scenario';

export function scenarioOf(a: Record<string, unknown>): ScenarioRef | undefined {
  return a[SCENARIO_ARG] as ScenarioRef | undefined;
}

/** yargs' view of the options a command has (its option tables; public on the instance, untyped). */
interface YargsOptions {
  key: Record<string, unknown>;
  array: string[];
  boolean: string[];
  number: string[];
  string: string[];
  choices: Record<string, (string | number)[]>;
  default: Record<string, unknown>;
}

export function optionSpec(o: YargsOptions): OptionSpec[] {
  return Object.keys(o.key).map((name) => ({
    name,
    // Sizes, times and counts are read by util/units.ts: "2G" or 2048, "2m" or 120.
    type: UNIT_OPTIONS.has(name) ? 'any' : o.number.includes(name) ? 'number' : o.boolean.includes(name) ? 'boolean' : o.string.includes(name) ? 'string' : 'any',
    array: o.array.includes(name),
    ...(o.choices[name] ? { choices: o.choices[name] } : {}),
  }));
}

const camel = (k: string) => k.replace(/-([a-z])/g, (_, c: string) => c.toUpperCase());

/**
 * `--scenario NAME`: after yargs has parsed and checked the command line,
 * the scenario's values are set over the defaults of every option the
 * command line did not give (rules: src/run/scenario.ts).
 */
export function scenarioOption<T>(y: Argv<T>) {
  return y
    .option('scenario', {
      type: 'string',
      describe: 'defaults from scenarios/NAME.json (or a path to a .json file); options given here override it, and an array option given here replaces the scenario\'s',
    })
    .middleware((async (argv: Record<string, unknown>, yy: { getOptions(): YargsOptions; parsed?: { defaulted?: Record<string, unknown> } | false }) => {
      if (argv.scenario === undefined) return;
      const opts = yy.getOptions();
      const spec = optionSpec(opts);
      const s = await loadScenario(String(argv.scenario), spec, PROJECT_ROOT);
      const defaulted = (yy.parsed && yy.parsed.defaulted) || null;
      // Values from KREPRO_* or the config file are defaults too: the scenario beats them (cli/defaults.ts).
      const explicit = new Set([...explicitOptions(argv, spec.map((o) => o.name), defaulted, opts.default)].filter((k) => !isFromUserDefaults(k)));
      const { set, overridden } = mergeScenario(s.values, explicit);
      for (const [k, v] of Object.entries(set)) {
        argv[k] = v;
        argv[camel(k)] = v;
      }
      argv[SCENARIO_ARG] = scenarioRef(s);
      process.stderr.write(`krepro: scenario ${s.name}${s.description ? `: ${s.description}` : ''}${overridden.length ? ` (the command line overrides: ${overridden.join(', ')})` : ''}\n`);
    }) as unknown as Parameters<Argv<T>['middleware']>[0], false);
}
