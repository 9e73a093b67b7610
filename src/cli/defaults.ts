import { readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join, resolve } from 'node:path';
import { usageError } from '../util/errors.ts';
import { lineCol, jsonErrorOffset, type OptionSpec } from '../run/scenario.ts';

/**
 * The user's own defaults, for every command, from two places:
 *
 *   environment  KREPRO_<OPTION>, the option's name upper-cased with - as _
 *                (KREPRO_CPUS=2, KREPRO_HANG_TIMEOUT=30s, KREPRO_TRACE="a b")
 *   config file  --defaults FILE, else $XDG_CONFIG_HOME/krepro/config.json,
 *                else ~/.config/krepro/config.json: a JSON object whose keys
 *                are option names ({"cpus": 2, "memory": "2G"}), plus one
 *                object per command for values only that command takes
 *                ({"loop": {"until": "8h"}}); a key the command does not
 *                have is ignored at the top level (it may be another
 *                command's) and refused inside the command's own object
 *
 * Precedence: command line > --scenario > environment > config file >
 * built-in default. (A scenario is named on the command line, and says what
 * reproduces a bug; the environment and the file are the user's general
 * preferences, so the scenario wins over them and an explicit option wins
 * over everything.)
 *
 * Pure but for readConfigFile: values come back typed by the option's type
 * (numbers for number options, booleans, arrays), and the keys they set are
 * listed so the scenario step can tell them from command-line values.
 */

/** Environment variables krepro reads itself that are not option defaults. */
export const ENV_NOT_OPTIONS = new Set(['KREPRO_CACHE', 'KREPRO_SHARD_INDEX', 'KREPRO_SHARD_COUNT', 'KREPRO_SKIP_FETCH', 'KREPRO_DEFAULTS']);
/** Options that are never taken from the environment or a config file. */
const NOT_DEFAULTABLE = new Set(['help', 'version', 'defaults', 'scenario', 'dry-run', 'json', 'resume', 'simulate', 'verify', 'extract']);

export const envName = (option: string) => `KREPRO_${option.toUpperCase().replace(/-/g, '_')}`;

export interface UserDefaults {
  values: Record<string, unknown>;
  /** option -> where it came from, for messages: "KREPRO_CPUS" or "~/.config/krepro/config.json" */
  source: Record<string, string>;
}

function typed(o: OptionSpec, raw: unknown, where: string): unknown {
  const bad = (what: string) => usageError(`${where}=${typeof raw === 'string' ? raw : JSON.stringify(raw)}: ${what}`);
  const one = (v: unknown): unknown => {
    if (o.type === 'boolean') {
      if (typeof v === 'boolean') return v;
      const s = String(v).trim().toLowerCase();
      if (['1', 'true', 'yes', 'on'].includes(s)) return true;
      if (['0', 'false', 'no', 'off', ''].includes(s)) return false;
      throw bad('give true or false (1/0, yes/no)');
    }
    if (o.choices && !o.choices.includes(v as string)) throw bad(`choose one of ${o.choices.join(', ')}`);
    if (o.type === 'number') {
      const n = typeof v === 'number' ? v : String(v).trim() === '' ? NaN : Number(v);
      if (!Number.isFinite(n)) throw bad('give a number');
      return n;
    }
    if (typeof v !== 'string' && typeof v !== 'number') throw bad('give a string or a number');
    return v;
  };
  if (o.array) {
    const list = Array.isArray(raw) ? raw : String(raw).split(/\s+/).filter(Boolean);
    return list.map(one);
  }
  if (Array.isArray(raw)) throw bad('give one value, not a list');
  return one(raw);
}

/** KREPRO_<OPTION> values for the options in `spec`. */
export function envDefaults(env: NodeJS.ProcessEnv, spec: OptionSpec[]): UserDefaults {
  const out: UserDefaults = { values: {}, source: {} };
  for (const o of spec) {
    if (NOT_DEFAULTABLE.has(o.name)) continue;
    const name = envName(o.name);
    if (ENV_NOT_OPTIONS.has(name)) continue;
    const v = env[name];
    if (v === undefined) continue;
    out.values[o.name] = typed(o, v, name);
    out.source[o.name] = name;
  }
  return out;
}

/** Where the config file is: --defaults FILE, else the XDG place. `explicit` when the user named it. */
export function configPath(defaultsArg: string | undefined, env: NodeJS.ProcessEnv = process.env): { path: string; explicit: boolean } {
  if (defaultsArg !== undefined) {
    if (!defaultsArg.trim()) throw usageError('--defaults needs a file: --defaults ~/krepro.json');
    return { path: resolve(defaultsArg), explicit: true };
  }
  if (env.KREPRO_DEFAULTS) return { path: resolve(env.KREPRO_DEFAULTS), explicit: true };
  const base = env.XDG_CONFIG_HOME ? env.XDG_CONFIG_HOME : join(homedir(), '.config');
  return { path: join(base, 'krepro', 'config.json'), explicit: false };
}

/** Read the config file: {} when the default one does not exist; a usage error for a bad one. */
export function readConfigFile(path: string, explicit: boolean): Record<string, unknown> {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (!explicit && code === 'ENOENT') return {};
    throw usageError(`cannot read the defaults file ${path} (${code ?? (e as Error).message}): fix the path given to --defaults`);
  }
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch {
    const { line, col } = lineCol(text, jsonErrorOffset(text));
    throw usageError(`${path}: not valid JSON at line ${line}, column ${col}: fix the file (a JSON object of option names and values)`);
  }
  if (!data || typeof data !== 'object' || Array.isArray(data)) throw usageError(`${path}: must be a JSON object of option names and values, like {"cpus": 2, "memory": "2G"}`);
  return data as Record<string, unknown>;
}

/** The config file's values for `command` with options `spec`. */
export function fileDefaults(file: Record<string, unknown>, command: string, spec: OptionSpec[], where: string, commandNames: readonly string[]): UserDefaults {
  const out: UserDefaults = { values: {}, source: {} };
  const byName = new Map(spec.map((o) => [o.name, o]));
  const take = (k: string, v: unknown, strict: boolean, label: string) => {
    const o = byName.get(k);
    if (!o || NOT_DEFAULTABLE.has(k)) {
      if (strict) throw usageError(`${where}: "${command}" has no option "${k}": remove it (krepro ${command} --help lists the options)`);
      return;
    }
    out.values[k] = typed(o, v, `${where}: ${label}`);
    out.source[k] = where;
  };
  for (const [k, v] of Object.entries(file)) {
    if (commandNames.includes(k)) continue;
    take(k, v, false, k);
  }
  const own = file[command];
  if (own !== undefined) {
    if (!own || typeof own !== 'object' || Array.isArray(own)) throw usageError(`${where}: "${command}" must be an object of option values`);
    for (const [k, v] of Object.entries(own as Record<string, unknown>)) take(k, v, true, `${command}.${k}`);
  }
  return out;
}

/** Environment over file: the values yargs gets as its config layer (below the command line). */
export function mergeDefaults(env: UserDefaults, file: UserDefaults): UserDefaults {
  return { values: { ...file.values, ...env.values }, source: { ...file.source, ...env.source } };
}

/**
 * The options given on the command line itself (long names, --no-x,
 * --x=v, aliases, bundled short flags), so values that came from the
 * environment or the file can be told from them.
 */
export function givenOnCommandLine(args: readonly string[], aliases: Record<string, string[]>): Set<string> {
  const toName = new Map<string, string>();
  for (const [name, al] of Object.entries(aliases)) for (const a of [name, ...al]) toName.set(a, toName.get(a) ?? name);
  const out = new Set<string>();
  for (const a of args) {
    if (a === '--') break;
    let m = /^--(?:no-)?([^=]+)/.exec(a);
    if (m) {
      const raw = a.startsWith('--no-') && !toName.has(m[1]) && toName.has(a.slice(2).split('=')[0]) ? a.slice(2).split('=')[0] : m[1];
      out.add(toName.get(raw) ?? raw);
      continue;
    }
    m = /^-([A-Za-z]+)/.exec(a);
    if (m) for (const c of m[1]) out.add(toName.get(c) ?? c);
  }
  return out;
}

/** The keys set from the environment or the file, by command line-given ones removed: what a scenario may override. */
let fromUserDefaults = new Set<string>();
export function setFromUserDefaults(keys: Iterable<string>): void {
  fromUserDefaults = new Set(keys);
}
export function isFromUserDefaults(key: string): boolean {
  return fromUserDefaults.has(key);
}
