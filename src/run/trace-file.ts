import { readFile, writeFile } from 'node:fs/promises';
import { join, dirname } from 'node:path';
import type { RunRecord, VcpuState } from './types.ts';
import { readArtifacts } from './artifacts-channel.ts';
import { extractFtraceDumpInfo } from '../trace/parse.ts';
import { analyzeText, summarizeAnalysis, type AnalyzeOptions, type TraceSummary, type TraceAccel, type TraceAnalysis } from '../trace/analyze.ts';
import { writeJsonAtomic } from '../util/fs.ts';
import { readRunRecord } from './record.ts';
import { RUN_DEFAULTS } from './options.ts';

/**
 * Judge a run's trace.txt: replay it, keep the whole analysis in
 * analysis.json beside run.json, and return what run.json keeps. Null when
 * the trace has no mmcid events. One place for a run and for re-judging a
 * loop's runs later (krepro analyze --loop).
 */
export async function judgeRunTrace(runDir: string, trace: string, opts: AnalyzeOptions): Promise<TraceSummary | null> {
  const a = analyzeText(trace, opts);
  if (!a.mmcidEvents) return null;
  await writeJsonAtomic(join(runDir, 'analysis.json'), a);
  return summarizeAnalysis(a);
}

/** analysis.json of a run dir (what judgeRunTrace wrote), null when there is none. */
export async function readAnalysis(runDir: string): Promise<TraceAnalysis | null> {
  try {
    return JSON.parse(await readFile(join(runDir, 'analysis.json'), 'utf8')) as TraceAnalysis;
  } catch {
    return null;
  }
}

/** A trace.txt without a tracefs header is the kernel's console dump (ftrace_dump_on_oops), whose start may be cut. */
export function isConsoleDump(trace: string): boolean {
  return !/^# entries-in-buffer\/entries-written:/m.test(trace.slice(0, 4096));
}

/** The vCPU samples and hang timeout of the run whose console this is (run.json beside it), if any. */
export async function runBeside(file: string): Promise<[VcpuState[] | null, number]> {
  const rec = await readRunRecord(dirname(file)).catch(() => null);
  return [rec?.vcpus ?? null, RUN_DEFAULTS.hangTimeoutSec];
}

/** The accelerator recorded in the run.json beside a trace file, if there is one (krepro analyze on a run's trace). */
export async function accelBeside(tracePath: string): Promise<TraceAccel> {
  const rec = await readRunRecord(dirname(tracePath)).catch(() => null);
  return rec?.qemu?.accel ?? 'unknown';
}

/** trace.txt: the guest's tracefs dump (artifact channel) or, on a stall, the ftrace dump cut from the console. */
export async function collectTrace(runDir: string, consoleText: string, cpus: number, accel: 'kvm' | 'tcg'): Promise<RunRecord['analysis']> {
  const raw = await readFile(join(runDir, 'artifacts.raw')).catch(() => Buffer.alloc(0));
  const { files, incomplete } = readArtifacts(raw);
  for (const [name, body] of Object.entries(files)) {
    const safe = name.replace(/[^A-Za-z0-9_.-]/g, '_');
    await writeFile(join(runDir, safe === 'trace.txt' ? 'trace.txt' : `guest-${safe}`), body);
  }
  let truncated = incomplete.includes('trace.txt');
  let fromConsole = false;
  if (!files['trace.txt']) {
    let dump: { text: string; complete: boolean } | null = null;
    try {
      dump = extractFtraceDumpInfo(consoleText);
    } catch {
      dump = null;
    }
    if (dump?.text) {
      await writeFile(join(runDir, 'trace.txt'), dump.text);
      truncated = !dump.complete;
      fromConsole = true;
    }
  }
  // Replay mmcid events, if the trace has any: findings go to analysis.json and run.json.
  const trace = await readFile(join(runDir, 'trace.txt'), 'utf8').catch(() => null);
  if (!trace) return null;
  try {
    return await judgeRunTrace(runDir, trace, { cpus, truncated, startMayBeCut: fromConsole, accel });
  } catch {
    return null;
  }
}

