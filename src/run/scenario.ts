import { parseTree, type ParseError } from 'jsonc-parser';
import { readFile, readdir, stat } from 'node:fs/promises';
import { isAbsolute, join, resolve } from 'node:path';
import { sha256 } from '../util/fs.ts';
import { usageError } from '../util/errors.ts';
import type { ScenarioRef } from './types.ts';

/**
 * Scenarios: `--scenario NAME` takes a command's defaults from
 * scenarios/NAME.json (or a path to a .json file). Its keys are the
 * command's own option names, kebab-case as on the command line, except
 * `patches` and `reverts` (for --patch and --revert), plus `description`
 * and `evidence`. The rules, all here and pure but for loadScenario:
 *
 *  - a key the command does not have is a usage error listing the allowed ones;
 *  - values must have the option's type (and be one of its choices);
 *  - relative paths (patches, file reverts, fragment files, tree, kernel,
 *    results, dir, resume) are relative to the krepro checkout, wherever
 *    the scenario file is; a missing patch is a usage error naming it;
 *  - an option given on the command line beats the scenario, which beats
 *    the option's default; a command-line array replaces the scenario's
 *    (--patch x drops the scenario's patches, it does not add to them);
 *  - an option given on the command line also drops the scenario's options
 *    it excludes: --count/--until, --signature/--title, and --kernel against
 *    --tree/--commit/--profile/--config/--patch/--revert.
 */

/** One option of the command, as the scenario checker needs it. */
export interface OptionSpec {
  name: string;                          // kebab-case, as on the command line
  type: 'string' | 'number' | 'boolean' | 'any';
  array: boolean;
  choices?: readonly (string | number)[];
}

export interface Scenario extends ScenarioRef {
  evidence?: string | string[];
  /** Option values keyed by the command's option names (patch, revert, config, cpus, ...). */
  values: Record<string, unknown>;
}

/** Scenario keys that name a different option. */
export const RENAMED: Readonly<Record<string, string>> = { patches: 'patch', reverts: 'revert' };
const RENAMED_BACK: Readonly<Record<string, string>> = Object.fromEntries(Object.entries(RENAMED).map(([k, v]) => [v, k]));
const META_KEYS = ['description', 'evidence'];
/** Options that make no sense in a scenario. */
const NOT_IN_SCENARIO = new Set(['scenario', 'help', 'version', 'dry-run']);
/** Options holding one path each, resolved against the krepro checkout. */
const PATH_OPTIONS = new Set(['tree', 'kernel', 'results', 'dir', 'resume']);

const BUILD_KEYS = ['tree', 'commit', 'profile', 'config', 'patch', 'revert'];
/** Options that exclude each other: one given on the command line drops the scenario's others. */
export const EXCLUSIVE: Readonly<Record<string, readonly string[]>> = {
  count: ['until'],
  until: ['count'],
  signature: ['title'],
  title: ['signature'],
  kernel: BUILD_KEYS,
  ...Object.fromEntries(BUILD_KEYS.map((k) => [k, ['kernel']])),
};

/** The keys a scenario for a command with these options may hold, in the options' order. */
export function allowedKeys(spec: OptionSpec[]): string[] {
  return [...META_KEYS, ...spec.filter((o) => !NOT_IN_SCENARIO.has(o.name)).map((o) => RENAMED_BACK[o.name] ?? o.name)];
}

/** Line and column (1-based) of a character offset. */
export function lineCol(text: string, offset: number): { line: number; col: number } {
  const before = text.slice(0, Math.max(0, Math.min(offset, text.length)));
  const lines = before.split('\n');
  return { line: lines.length, col: lines[lines.length - 1].length + 1 };
}

/**
 * Where JSON.parse gave up, for texts whose error message has no position
 * (Node 20 says only `Unexpected token '}'` for some): jsonc-parser's first
 * error offset (text.length if it found none).
 */
export function jsonErrorOffset(text: string): number {
  const errors: ParseError[] = [];
  parseTree(text, errors, { allowTrailingComma: false, disallowComments: true });
  return errors.length ? errors[0].offset : text.length;
}

function typeName(o: OptionSpec): string {
  const one = o.choices ? `one of ${o.choices.join(', ')}` : o.type === 'any' ? 'a value' : `a ${o.type}`;
  return o.array ? `an array of ${o.choices ? `values (${one})` : o.type === 'any' ? 'values' : `${o.type}s`}` : one;
}

function fits(o: OptionSpec, v: unknown): boolean {
  const one = (x: unknown) => {
    if (o.choices) return o.choices.includes(x as string | number);
    if (o.type === 'any') return typeof x === 'string' || typeof x === 'number' || typeof x === 'boolean';
    if (o.type === 'number') return typeof x === 'number' && Number.isFinite(x);
    return typeof x === o.type;
  };
  return o.array ? Array.isArray(v) && v.every(one) : one(v);
}

/**
 * Parse a scenario's text: JSON, an object, known keys only, values of the
 * options' types. `where` names the scenario in errors. Returns the option
 * values keyed by option name (patches -> patch, reverts -> revert), paths
 * not yet resolved.
 */
export function parseScenario(text: string, where: string, spec: OptionSpec[]): Pick<Scenario, 'values' | 'description' | 'evidence'> {
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch (e) {
    const msg = (e as Error).message;
    const pos = /at position (\d+)/.exec(msg);
    const { line, col } = lineCol(text, pos ? Number(pos[1]) : jsonErrorOffset(text));
    const why = msg.replace(/\s*in JSON at position \d+.*$/s, '').replace(/, ".*" is not valid JSON$/s, '').replace(/\n/g, '\\n').replace(/\r/g, '\\r').replace(/\t/g, '\\t');
    throw usageError(`${where}: not valid JSON at line ${line}, column ${col} (${why}): fix the file`);
  }
  if (!data || typeof data !== 'object' || Array.isArray(data)) throw usageError(`${where}: must be a JSON object of option names and values, like {"tree": "debian:7.2", "cpus": 4}`);
  const allowed = allowedKeys(spec);
  const entries = Object.entries(data as Record<string, unknown>);
  const unknown = entries.map(([k]) => k).filter((k) => !allowed.includes(k));
  if (unknown.length) {
    throw usageError(`${where}: unknown key${unknown.length > 1 ? 's' : ''} ${unknown.map((k) => `"${k}"`).join(', ')}; allowed keys: ${allowed.join(', ')}`);
  }
  const byName = new Map(spec.map((o) => [o.name, o]));
  const out: Pick<Scenario, 'values' | 'description' | 'evidence'> = { values: {} };
  for (const [k, v] of entries) {
    if (k === 'description') {
      if (typeof v !== 'string') throw usageError(`${where}: "description" must be a string`);
      out.description = v;
      continue;
    }
    if (k === 'evidence') {
      if (!(typeof v === 'string' || (Array.isArray(v) && v.every((x) => typeof x === 'string')))) throw usageError(`${where}: "evidence" must be a string or an array of strings`);
      out.evidence = v as string | string[];
      continue;
    }
    const name = RENAMED[k] ?? k;
    const o = byName.get(name)!;
    if (!fits(o, v)) throw usageError(`${where}: "${k}" must be ${typeName(o)} (got ${JSON.stringify(v)})`);
    out.values[name] = v;
  }
  return out;
}

const CONFIG_ITEM = /^(CONFIG_)?[A-Za-z0-9_]+=/;
const LOOKS_LIKE_FILE = /\/|\.(patch|diff|mbox|eml)$/;

/**
 * Resolve a scenario's relative paths against `root` (the krepro checkout).
 * `isFile` is the only look at the disk. Patches must exist; a revert is a
 * file if it exists there (or looks like a path: then it must), else a
 * commit; a config entry is a file if it exists there, else left for the
 * build (a kconfigs/ fragment name or CONFIG_X=y).
 */
export function resolveScenarioPaths(values: Record<string, unknown>, root: string, where: string, isFile: (p: string) => boolean): Record<string, unknown> {
  const out: Record<string, unknown> = { ...values };
  const abs = (p: string) => (isAbsolute(p) ? p : resolve(root, p));
  if (Array.isArray(values.patch)) {
    out.patch = (values.patch as string[]).map((p) => {
      const a = abs(p);
      if (!isFile(a)) throw usageError(`${where}: patch ${p} does not exist (looked for ${a}): fix "patches" (paths are relative to ${root})`);
      return a;
    });
  }
  if (Array.isArray(values.revert)) {
    out.revert = (values.revert as string[]).map((r) => {
      const a = abs(r);
      if (isFile(a)) return a;
      if (LOOKS_LIKE_FILE.test(r)) throw usageError(`${where}: revert ${r} does not exist (looked for ${a}): fix "reverts" (files are relative to ${root}; anything else is a commit)`);
      return r;
    });
  }
  if (Array.isArray(values.config)) {
    out.config = (values.config as string[]).map((c) => (CONFIG_ITEM.test(c) || !isFile(abs(c)) ? c : abs(c)));
  }
  for (const k of PATH_OPTIONS) {
    const v = values[k];
    if (typeof v !== 'string' || !v) continue;
    if (k === 'tree' && /^[a-z]+:/.test(v)) continue; // debian:7.2
    out[k] = abs(v);
  }
  return out;
}

const camel = (k: string) => k.replace(/-([a-z])/g, (_, c: string) => c.toUpperCase());

/**
 * Which options the command line set. `defaulted` is the parser's list of
 * options it filled from their defaults (yargs-parser's); without it, an
 * option counts as given when its value differs from its default.
 */
export function explicitOptions(argv: Record<string, unknown>, names: string[], defaulted: Record<string, unknown> | null, defaults: Record<string, unknown> = {}): Set<string> {
  const out = new Set<string>();
  for (const n of names) {
    const v = argv[n];
    if (v === undefined) continue;
    if (defaulted) {
      if (!defaulted[n] && !defaulted[camel(n)]) out.add(n);
    } else if (JSON.stringify(v) !== JSON.stringify(defaults[n])) {
      out.add(n);
    }
  }
  return out;
}

/**
 * The option values the scenario contributes: every scenario value whose
 * option the command line did not give, nor excluded (EXCLUSIVE). The
 * caller sets them over the parsed arguments (defaults lose to them).
 */
export function mergeScenario(values: Record<string, unknown>, explicit: ReadonlySet<string>): { set: Record<string, unknown>; overridden: string[] } {
  const set: Record<string, unknown> = {};
  const overridden: string[] = [];
  for (const [k, v] of Object.entries(values)) {
    if (explicit.has(k) || (EXCLUSIVE[k] ?? []).some((x) => explicit.has(x))) {
      overridden.push(k);
      continue;
    }
    set[k] = v;
  }
  return { set, overridden };
}

/** Where `--scenario NAME` is: a path when it ends in .json or has a slash, else <root>/scenarios/NAME.json. */
export function scenarioPath(nameOrPath: string, root: string, cwd = process.cwd()): string {
  if (nameOrPath.endsWith('.json') || nameOrPath.includes('/')) return resolve(cwd, nameOrPath);
  return join(root, 'scenarios', `${nameOrPath}.json`);
}

/** Read, check and resolve a scenario for a command with options `spec`. */
export async function loadScenario(nameOrPath: string, spec: OptionSpec[], root: string): Promise<Scenario> {
  if (!nameOrPath.trim()) throw usageError('--scenario needs a name (a file in scenarios/) or a path to a .json file');
  const file = scenarioPath(nameOrPath, root);
  let bytes: Buffer;
  try {
    bytes = await readFile(file);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'EISDIR') {
      const names = (await readdir(join(root, 'scenarios')).catch(() => [] as string[])).filter((n) => n.endsWith('.json')).map((n) => n.slice(0, -5)).sort();
      throw usageError(`--scenario ${nameOrPath}: no such scenario (${file}); give one of ${names.length ? names.join(', ') : '(none in scenarios/)'} or the path of a .json file`);
    }
    throw usageError(`--scenario ${nameOrPath}: cannot read ${file} (${code ?? (e as Error).message})`);
  }
  const where = file === resolve(nameOrPath) ? `scenario ${file}` : `scenario ${nameOrPath} (${file})`;
  const parsed = parseScenario(bytes.toString('utf8'), where, spec);
  const isFile = (p: string) => fileCache.get(p) ?? false;
  const fileCache = new Map<string, boolean>();
  for (const p of candidatePaths(parsed.values, root)) fileCache.set(p, await stat(p).then((s) => s.isFile(), () => false));
  const values = resolveScenarioPaths(parsed.values, root, where, isFile);
  return {
    name: nameOrPath,
    file,
    sha256: sha256(bytes),
    ...(parsed.description !== undefined ? { description: parsed.description } : {}),
    ...(parsed.evidence !== undefined ? { evidence: parsed.evidence } : {}),
    values,
  };
}

function candidatePaths(values: Record<string, unknown>, root: string): string[] {
  const abs = (p: string) => (isAbsolute(p) ? p : resolve(root, p));
  return ['patch', 'revert', 'config'].flatMap((k) => (Array.isArray(values[k]) ? (values[k] as unknown[]).filter((x): x is string => typeof x === 'string').map(abs) : []));
}

/** What run.json, loop.json and bisect.json keep of a scenario. */
export function scenarioRef(s: Scenario): ScenarioRef {
  return { name: s.name, file: s.file, sha256: s.sha256, ...(s.description !== undefined ? { description: s.description } : {}) };
}
