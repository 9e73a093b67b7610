import { usageError } from '../util/errors.ts';

/** "90", "90s", "15m", "8h", "1h30m", "2d" -> seconds. */
export function parseDuration(s: string): number {
  const str = String(s).trim();
  if (/^\d+(\.\d+)?$/.test(str)) return Number(str);
  const re = /(\d+(?:\.\d+)?)\s*(d|h|m|s)/gy;
  const unit: Record<string, number> = { d: 86400, h: 3600, m: 60, s: 1 };
  let total = 0;
  let m: RegExpExecArray | null;
  let end = 0;
  while ((m = re.exec(str))) {
    total += Number(m[1]) * unit[m[2]];
    end = re.lastIndex;
  }
  if (end !== str.length || end === 0) {
    throw usageError(`cannot read duration '${s}': use e.g. 90s, 15m, 8h or 1h30m`);
  }
  return total;
}

/** Seconds -> "1h02m", "4m10s", "12s". */
export function formatDuration(sec: number): string {
  const s = Math.max(0, Math.round(sec));
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const r = s % 60;
  if (h) return `${h}h${String(m).padStart(2, '0')}m`;
  if (m) return `${m}m${String(r).padStart(2, '0')}s`;
  return `${r}s`;
}
