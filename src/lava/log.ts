import { parse } from 'yaml';
import { usageError } from '../util/errors.ts';

/**
 * A LAVA job log: one record per line, `{"dt": ..., "lvl": ..., "msg": ...}`
 * (lava-run's stdout), or the same records as a YAML list (`- {dt: ...}`, a
 * job log downloaded from a LAVA server). Flow-style YAML, not JSON: some
 * lines (file-download results, for one) do not parse as JSON.
 */
export interface LavaRecord {
  dt: string;
  lvl: string;
  msg: unknown;
}

export interface LavaLog {
  records: LavaRecord[];
  /** The DUT's console: the `target` records, one line each, in order. */
  console: { atMs: number; line: string }[];
  /** LAVA's own results (validate, execute-qemu, the monitor's test cases, job). */
  results: Record<string, unknown>[];
  /** The QEMU command LAVA ran ("Boot command: ..."). */
  bootCommand: string | null;
  /** The job's end: LAVA's last `job` result and its error, if any. */
  job: { result: string | null; error: string | null };
}

export function parseLavaLog(text: string, what = 'log'): LavaLog {
  const records: LavaRecord[] = [];
  let bad = 0;
  for (const raw of text.split('\n')) {
    const line = raw.replace(/^- /, '').trim();
    if (!line) continue;
    let v: unknown;
    try {
      v = parse(line);
    } catch {
      bad++;
      continue;
    }
    if (v && typeof v === 'object' && !Array.isArray(v) && 'lvl' in v && 'dt' in v) records.push(v as LavaRecord);
    else bad++;
  }
  if (!records.length || bad > records.length) {
    throw usageError(`${what} is not a LAVA job log (${records.length} LAVA records, ${bad} other lines): give the output of lava-run, or a job log downloaded from a LAVA server`);
  }
  const t0 = Date.parse(records[0].dt + 'Z');
  const console: LavaLog['console'] = [];
  const results: Record<string, unknown>[] = [];
  let bootCommand: string | null = null;
  let job: LavaLog['job'] = { result: null, error: null };
  for (const r of records) {
    const atMs = Date.parse(r.dt + 'Z') - t0;
    if (r.lvl === 'target' && typeof r.msg === 'string') {
      for (const l of r.msg.split('\n')) console.push({ atMs, line: l.replace(/\r/g, '') });
    } else if (r.lvl === 'results' && r.msg && typeof r.msg === 'object') {
      const m = r.msg as Record<string, unknown>;
      results.push(m);
      if (m.definition === 'lava' && m.case === 'job') job = { result: String(m.result ?? ''), error: m.error_msg ? String(m.error_msg) : null };
    } else if (r.lvl === 'info' && typeof r.msg === 'string' && r.msg.startsWith('Boot command: ')) {
      bootCommand = r.msg.slice('Boot command: '.length);
    }
  }
  return { records, console, results, bootCommand, job };
}
