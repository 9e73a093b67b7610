import { readFile } from 'node:fs/promises';

/**
 * Host CPU time of one thread (a QEMU vCPU thread, whose id QMP's
 * query-cpus-fast gives), in ms: utime + stime of /proc/<tid>/stat, which
 * count in USER_HZ ticks (100 per second on Linux, fixed by its ABI).
 * Null when the thread is gone or /proc cannot be read.
 */
export async function threadCpuMs(tid: number): Promise<number | null> {
  const text = await readFile(`/proc/${tid}/stat`, 'utf8').catch(() => null);
  return text === null ? null : parseStatCpuMs(text);
}

/** utime + stime (fields 14 and 15) of a /proc/<pid>/stat line, in ms; the name in parentheses may hold spaces. */
export function parseStatCpuMs(stat: string): number | null {
  const close = stat.lastIndexOf(')');
  if (close < 0) return null;
  const f = stat.slice(close + 2).trim().split(/\s+/); // f[0] is field 3 (state)
  const utime = Number(f[11]);
  const stime = Number(f[12]);
  return Number.isFinite(utime) && Number.isFinite(stime) ? (utime + stime) * 10 : null;
}

/** QMP query-cpus-fast's answer -> vCPU index -> host thread id. */
export function vcpuThreadIds(answer: unknown): Map<number, number> | null {
  if (!Array.isArray(answer)) return null;
  const m = new Map<number, number>();
  for (const c of answer) {
    const cpu = (c as Record<string, unknown>)?.['cpu-index'];
    const tid = (c as Record<string, unknown>)?.['thread-id'];
    if (typeof cpu === 'number' && typeof tid === 'number') m.set(cpu, tid);
  }
  return m.size ? m : null;
}
