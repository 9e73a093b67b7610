import { usageError } from './errors.ts';

/**
 * The one parser for sizes, durations and counts given on the command line,
 * in the environment, in a config file or in a scenario. Errors name the
 * option and echo the user's own text (never NaN), one line, what to give.
 *
 *   sizes:     "2G", "512M", "1.5G", "64K", "2GiB", "2gb"; binary units
 *              (K = 1024 B) as in QEMU and vng; a plain number is in the
 *              option's own unit (MB for --memory, KB for --trace-buffer)
 *   durations: "90", "90s", "2m", "1h", "1h30m", "2d"; a plain number is
 *              in the option's unit (seconds)
 *   counts:    whole numbers, "4"
 */

const SIZE_UNITS: Record<string, number> = { '': 0, b: -1, k: 1, m: 2, g: 3, t: 4 };
const DURATION_UNITS: Record<string, number> = { d: 86400, h: 3600, m: 60, s: 1, ms: 0.001 };

export type SizeUnit = 'B' | 'KB' | 'MB';
const UNIT_POWER: Record<SizeUnit, number> = { B: 0, KB: 1, MB: 2 };

/** How the user wrote it, for the message: 'abc', '' or (for a bare flag) nothing. */
function shown(v: unknown): string {
  if (v === true) return '';
  if (typeof v === 'string') return v === '' ? '' : ` ${/\s/.test(v) ? `'${v}'` : v}`;
  return ` ${String(v)}`;
}

/** A bare flag (`--cpus` with no value), an empty string or an array where one value is wanted. */
function checkPresent(flag: string, v: unknown, example: string): string | number {
  if (Array.isArray(v)) throw usageError(`--${flag} was given ${v.length} times: give it once, e.g. --${flag} ${example}`);
  if (v === true || v === false || v === null || v === '' || (typeof v === 'string' && !v.trim())) {
    throw usageError(`--${flag}${shown(v)} needs a value, e.g. --${flag} ${example}`);
  }
  if (typeof v !== 'string' && typeof v !== 'number') throw usageError(`--${flag}${shown(v)}: give a value such as ${example}`);
  return v;
}

/**
 * A size in `unit` (the option's plain-number unit). Fractions of that unit
 * are refused rather than rounded: --memory 0.1 is a mistake, not 0 MB.
 */
export function parseSize(flag: string, v: unknown, unit: SizeUnit = 'MB'): number {
  const x = checkPresent(flag, v, unit === 'MB' ? '2G' : '4M');
  const hint = unit === 'MB' ? 'such as 2G, 512M or 1024 (MB)' : unit === 'KB' ? 'such as 4M, 512K or 4096 (KB)' : 'such as 4M or 512K';
  let bytesPower: number;
  let n: number;
  if (typeof x === 'number') {
    n = x;
    bytesPower = UNIT_POWER[unit];
  } else {
    const m = /^\s*(\d+(?:\.\d+)?|\.\d+)\s*(?:([kmgt])(?:i?b)?|(b))?\s*$/i.exec(x);
    if (!m) throw usageError(`--${flag}${shown(v)}: give a size ${hint}`);
    n = Number(m[1]);
    bytesPower = m[3] ? 0 : m[2] ? SIZE_UNITS[m[2].toLowerCase()] : UNIT_POWER[unit];
  }
  if (!Number.isFinite(n) || n < 0) throw usageError(`--${flag}${shown(v)}: give a size ${hint}`);
  const value = n * 1024 ** (bytesPower - UNIT_POWER[unit]);
  if (!Number.isInteger(value)) throw usageError(`--${flag}${shown(v)}: not a whole number of ${unit}; give a size ${hint}`);
  return value;
}

/** A duration in seconds: "90", "90s", "2m", "1h30m", "2d" (a plain number is seconds). */
export function parseDuration(flag: string | null, v: unknown): number {
  const name = flag ?? 'duration';
  const x = checkPresent(name, v, '90s');
  const bad = () => (flag ? usageError(`--${flag}${shown(v)}: give a duration such as 90, 90s, 2m, 1h or 1h30m`) : usageError(`cannot read duration '${v}': use e.g. 90s, 15m, 8h or 1h30m`));
  if (typeof x === 'number') {
    if (!Number.isFinite(x) || x < 0) throw bad();
    return x;
  }
  const str = x.trim();
  if (/^\d+(\.\d+)?$/.test(str)) return Number(str);
  const re = /(\d+(?:\.\d+)?)(ms|d|h|m|s)/gy;
  let total = 0;
  let end = 0;
  let m: RegExpExecArray | null;
  while ((m = re.exec(str))) {
    total += Number(m[1]) * DURATION_UNITS[m[2]];
    end = re.lastIndex;
  }
  if (end === 0 || end !== str.length) throw bad();
  return total;
}

/** A whole number ("4", 4); the range is the caller's (resolveRunOptions names it). */
export function parseCount(flag: string, v: unknown): number {
  const x = checkPresent(flag, v, '4');
  const n = typeof x === 'number' ? x : /^\s*-?\d+\s*$/.test(x) ? Number(x) : NaN;
  if (!Number.isInteger(n)) throw usageError(`--${flag}${shown(v)}: give a whole number, e.g. --${flag} 4`);
  return n;
}

/** A plain number (probabilities, rates, costs): "0.95". */
export function parseNumber(flag: string, v: unknown, example = '0.5'): number {
  const x = checkPresent(flag, v, example);
  const n = typeof x === 'number' ? x : /^\s*-?(\d+(\.\d*)?|\.\d+)(e-?\d+)?\s*$/i.test(x) ? Number(x) : NaN;
  if (!Number.isFinite(n)) throw usageError(`--${flag}${shown(v)}: give a number, e.g. --${flag} ${example}`);
  return n;
}

/** Optional variants: undefined stays undefined (the option was not given). */
export const optional = <T>(f: (v: unknown) => T) => (v: unknown): T | undefined => (v === undefined ? undefined : f(v));
