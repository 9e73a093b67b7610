/**
 * Throughput of `krepro analyze`: parse + replay of a synthetic 6.12-style
 * trace (4 CPUs, 8 interleaved mms, forks, context switches, exits) in both
 * shapes, and the time on the upstream seed message.
 */
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { analyzeText } from '../../src/trace/analyze.ts';
import { PROJECT_ROOT } from '../../src/util/paths.ts';

function synthetic(lines: number, shape: 'console' | 'tracefs'): string {
  const out: string[] = [];
  let us = 1_000_000;
  const mmOf = (i: number) => `00000000${(0xa000 + (i % 8)).toString(16)}0000`;
  const emit = (pid: number, cpu: number, ev: string, body: string) => {
    us += 3;
    out.push(shape === 'console'
      ? `[${(us / 1e6 + 2).toFixed(6).padStart(12)}] stress-${pid}    ${cpu}d..1. ${us}us : ${ev}: ${body}`
      : `          stress-${pid}     [00${cpu}] d..1. ${(us / 1e6).toFixed(6)}: ${ev}: ${body}`);
  };
  const hex = (v: number) => (v >>> 0).toString(16).padStart(8, '0');
  let i = 0;
  while (out.length < lines) {
    const mm = mmOf(i);
    const cpu = i % 4;
    const pid = 100 + (i % 997);
    emit(pid, cpu, 'sched_switch', `prev_comm=a prev_pid=0 prev_prio=120 prev_state=R ==> next_comm=stress next_pid=${pid} next_prio=120`);
    emit(pid, cpu, 'mmcid_getcid', `mm=${mm} cid=${hex(cpu)}`);
    emit(pid, cpu, 'mmcid_cpu_update', `cpu=${cpu} cid=${hex(cpu)} mm=${mm}`);
    emit(pid, cpu, 'mmcid_task_update', `pid=${pid} cid=${hex(cpu)} mm=${mm}`);
    emit(pid, cpu, 'mmcid_task_update', `pid=${pid} cid=ffffffff mm=${mm}`);
    emit(pid, cpu, 'mmcid_cpu_update', `cpu=${cpu} cid=ffffffff mm=${mm}`);
    emit(pid, cpu, 'mmcid_putcid', `mm=${mm} cid=${hex(cpu)}`);
    i++;
  }
  return out.join('\n') + '\n';
}

export async function bench(): Promise<Record<string, number | string>> {
  const res: Record<string, number | string> = {};
  for (const shape of ['console', 'tracefs'] as const) {
    const text = synthetic(200_000, shape);
    const t0 = performance.now();
    const r = analyzeText(text);
    const ms = performance.now() - t0;
    res[`analyze_${shape}_200k_lines_ms`] = Math.round(ms);
    res[`analyze_${shape}_lines_per_s`] = Math.round(200_000 / (ms / 1000));
    res[`analyze_${shape}_anomalies`] = r.anomalies.length;
  }
  const seed = readFileSync(join(PROJECT_ROOT, '../shared/seeds/000_470b5232869457b7.txt'), 'utf8');
  const t0 = performance.now();
  const r = analyzeText(seed);
  res.analyze_seed_ms = Math.round((performance.now() - t0) * 10) / 10;
  res.analyze_seed_findings = r.anomalies.map((a) => `${a.kind} pid ${a.pid}`).join(', ');
  return res;
}

if (process.argv[1] && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) console.log(await bench());
