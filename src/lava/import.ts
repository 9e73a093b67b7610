import { mkdir, writeFile, copyFile, readFile, readdir } from 'node:fs/promises';
import { join, resolve, basename } from 'node:path';
import { cpus } from 'node:os';
import type { RunRecord } from '../run/types.ts';
import { ConsoleMonitor } from '../run/monitor.ts';
import { classify } from '../console/classify.ts';
import { decide } from '../verdict/verdict.ts';
import { writeJsonAtomic } from '../util/fs.ts';
import { usageError } from '../util/errors.ts';
import { newRunId } from '../run/run.ts';
import { parseLavaLog, type LavaLog } from './log.ts';

export interface ImportOptions {
  signature?: string | null;
  title?: string | null;
  resultsDir: string;
  runDir?: string;
}

/**
 * `krepro import-lava LOG`: a LAVA job's log -> a run dir with console.log
 * (the target records) and run.json, judged by the same monitor, classifier
 * and verdict rules as `krepro run`. LAVA's own job result is kept as
 * information (`lava` in run.json's error when the job failed) but does not
 * decide: a job that LAVA calls incomplete because the kernel panicked is,
 * for us, a reproduction.
 */
export async function importLavaLog(logPath: string, o: ImportOptions): Promise<RunRecord> {
  let text: string;
  try {
    text = await readFile(logPath, 'utf8');
  } catch (e) {
    throw usageError(`cannot read ${logPath} (${(e as NodeJS.ErrnoException).code ?? (e as Error).message}): give the log lava-run printed, or one downloaded from a LAVA server`);
  }
  const log = parseLavaLog(text, logPath);
  const runDir = resolve(o.runDir ?? join(o.resultsDir, newRunId()));
  await mkdir(runDir, { recursive: true });
  if (resolve(logPath) !== join(runDir, 'lava.log')) await copyFile(logPath, join(runDir, 'lava.log'));
  const rec = judgeLavaLog(log, { ...o, runDir });
  await writeFile(join(runDir, 'console.log'), log.console.map((c) => c.line).join('\n') + '\n');
  rec.files = (await readdir(runDir)).filter((f) => f !== 'run.json').sort();
  await writeJsonAtomic(join(runDir, 'run.json'), rec);
  return rec;
}

/** The verdict of a parsed LAVA log (pure). */
export function judgeLavaLog(log: LavaLog, o: ImportOptions & { runDir: string }): RunRecord {
  const mon = new ConsoleMonitor(0);
  for (const c of log.console) mon.push(c.line, c.atMs);
  const s = mon.state;
  const consoleText = log.console.map((c) => c.line).join('\n') + '\n';
  let reports: ReturnType<typeof classify> = [];
  try {
    reports = classify(consoleText);
  } catch {
    reports = [];
  }
  const started = !!log.bootCommand || log.console.length > 0;
  const d = decide({
    interrupted: false,
    qemuStarted: started,
    qemuExit: null,
    initSeen: s.initAtMs !== null,
    workloadDone: s.doneAtMs !== null,
    reports,
    silentHang: null,
    signature: o.signature ?? null,
    title: o.title ?? null,
  });
  const argv = log.bootCommand ? log.bootCommand.split(/\s+/) : [];
  const append = /-append "([^"]*)"/.exec(log.bootCommand ?? '')?.[1] ?? '';
  const smp = Number(/-smp (\d+)/.exec(log.bootCommand ?? '')?.[1] ?? 0);
  const mem = Number(/-m (\d+)/.exec(log.bootCommand ?? '')?.[1] ?? 0);
  const lavaNote = log.job.result && log.job.result !== 'pass' ? `LAVA job result ${log.job.result}${log.job.error ? ` (${log.job.error})` : ''}` : null;
  const last = log.console.at(-1)?.atMs ?? 0;
  const det = s.firstDetection;
  return {
    schema: 'krepro.run/1',
    id: basename(o.runDir),
    dir: o.runDir,
    verdict: d.verdict,
    title: d.report?.title ?? null,
    type: d.report?.type ?? null,
    report: d.report,
    unrelated: d.unrelated,
    signature: o.signature ?? (o.title ? `title:${o.title}` : null),
    detection: det ? { kind: det.kind, line: det.line, atMs: det.atMs } : null,
    kernel: { tree: null, commit: null, buildKey: null, patches: [], bzImage: argv[argv.indexOf('-kernel') + 1] ?? '' },
    qemu: { argv, append, accel: argv.some((a) => a === 'kvm' || a.startsWith('kvm,') || a === '-enable-kvm') ? 'kvm' : 'tcg', cpus: smp, memoryMb: mem },
    host: { cores: cpus().length, kvm: false, vhostVsock: false },
    timings: {
      startedAt: new Date(Date.parse(log.records[0].dt + 'Z')).toISOString(),
      bootToInitMs: s.initAtMs,
      workloadMs: s.initAtMs !== null ? (s.doneAtMs ?? last) - s.initAtMs : null,
      detectMs: det ? det.atMs : null,
      detectToExitMs: det ? last - det.atMs : null,
      totalMs: Date.parse(log.records.at(-1)!.dt + 'Z') - Date.parse(log.records[0].dt + 'Z'),
    },
    workload: s.counters,
    vcpus: null,
    selfTest: /krepro\.selftest=(\S+)/.exec(append)?.[1] ?? null,
    durationSec: Number(/krepro\.duration=(\d+)/.exec(append)?.[1] ?? 60),
    files: [],
    ...(d.verdict === 'infra-error' || d.verdict === 'boot-failed' ? { error: [d.reason, lavaNote].filter(Boolean).join('; ') } : lavaNote ? { error: lavaNote } : {}),
  };
}
