import { parseDuration as parseUnits } from '../util/units.ts';

/** "90", "90s", "15m", "8h", "1h30m", "2d" -> seconds (the one parser: util/units.ts). */
export function parseDuration(s: string): number {
  return parseUnits(null, s);
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
