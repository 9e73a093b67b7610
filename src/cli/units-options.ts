/**
 * Options whose values go through one parser (util/units.ts) instead of
 * yargs' number type: sizes and times with units, counts that must echo the
 * user's text. yargs sees them as strings; a scenario or a config file may
 * give them as numbers (see optionSpec in scenario.ts).
 */
export const UNIT_OPTIONS: ReadonlySet<string> = new Set(['cpus', 'memory', 'duration', 'threads', 'hang-timeout', 'boot-timeout', 'grace', 'trace-buffer', 'oops-buffer', 'jobs', 'count', 'until', 'max-runs', 'build-cost', 'run-cost']);

