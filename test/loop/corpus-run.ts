/**
 * Test helper: turn a REAL console log from ../shared/corpus/qemu-6.12 into
 * a run dir (console.log + run.json), as runKernel leaves one. The verdict
 * and time come from the log itself (first stall line and its timestamp), so
 * nothing here is a hard-coded answer. It stands in for QEMU in the fast
 * tier; the real loop test (loop.real.test.ts) uses runKernel.
 */
import { copyFile, mkdir, readFile, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { PROJECT_ROOT } from '../../src/util/paths.ts';
import { writeJsonAtomic } from '../../src/util/fs.ts';
import type { RunRecord } from '../../src/run/types.ts';
import type { RunOptions } from '../../src/run/options.ts';
import { primaryReport } from '../../src/console/classify.ts';

export const CORPUS = resolve(PROJECT_ROOT, '../shared/corpus/qemu-6.12');
export const CORPUS_LOGS = [
  'softlockup.log', 'stress-trace.log', 'rcustall.log',
  'injected-cid-leak-stall.log', 'hungtask.log', 'injected-cid-leak-silent.log',
];

const STALL: [RegExp, (m: RegExpExecArray) => string][] = [
  [/watchdog: BUG: soft lockup - CPU#\d+ stuck/, () => 'BUG: soft lockup'],
  [/rcu: INFO: (\w+) (self-)?detected stall/, () => 'INFO: rcu detected stall'],
  [/INFO: task (\S+):\d+ blocked for more than/, () => 'INFO: task hung'],
];
const TS = /^\[\s*(\d+\.\d+)\]/;

export interface Replayed {
  verdict: 'reproduced' | 'not-reproduced';
  title: string | null;
  atSec: number;           // detection time, or the last timestamp
  line: string | null;
  lineNo: number | null;
  cmdline: string | null;
  version: string | null;
}

export async function replayLog(name: string, signature?: RegExp): Promise<Replayed> {
  const lines = (await readFile(join(CORPUS, name), 'utf8')).split(/\r*\n/);
  let last = 0;
  let cmdline: string | null = null;
  let version: string | null = null;
  for (let i = 0; i < lines.length; i++) {
    const l = lines[i];
    const ts = TS.exec(l.replace(/^.*?(?=\[\s*\d+\.\d+\])/, ''));
    if (ts) last = Number(ts[1]);
    const cm = /Command line: (.*)$/.exec(l);
    if (cm && !cmdline) cmdline = cm[1];
    const vm = /Linux version (\S+)/.exec(l);
    if (vm && !version) version = vm[1];
    for (const [re, title] of STALL) {
      const m = re.exec(l);
      if (m && (!signature || signature.test(title(m)))) {
        return { verdict: 'reproduced', title: title(m), atSec: last, line: l, lineNo: i, cmdline, version };
      }
    }
  }
  return { verdict: 'not-reproduced', title: null, atSec: last, line: null, lineNo: null, cmdline, version };
}

/** Write a run dir for corpus log `name`; returns its run.json. */
export async function makeCorpusRun(runDir: string, name: string, extra: Partial<RunRecord> = {}): Promise<RunRecord> {
  await mkdir(runDir, { recursive: true });
  const r = await replayLog(name);
  // The report itself comes from the project's console classifier.
  const report = r.verdict === 'reproduced' ? primaryReport(await readFile(join(CORPUS, name))) : null;
  if (report) r.title = report.title;
  await copyFile(join(CORPUS, name), join(runDir, 'console.log'));
  await writeFile(join(runDir, 'config'), '# synthetic test config\nCONFIG_SMP=y\n');
  const argv = [
    'qemu-system-x86_64', '-accel', 'tcg,thread=multi', '-cpu', 'max', '-smp', '4', '-m', '1024',
    '-kernel', join(runDir, '..', 'bzImage'), '-append', r.cmdline ?? 'console=ttyS0',
    '-nographic', '-no-reboot',
  ];
  const rec: RunRecord = {
    schema: 'krepro.run/1',
    id: `corpus-${name.replace(/\.log$/, '')}`,
    dir: runDir,
    verdict: r.verdict,
    title: r.title,
    type: report?.type ?? null,
    report,
    unrelated: [],
    signature: null,
    detection: r.line ? { kind: 'stall', line: r.line, atMs: Math.round(r.atSec * 1000) } : null,
    kernel: {
      tree: null, commit: 'd750f1510000000000000000000000000000beef', buildKey: 'corpus',
      patches: [], bzImage: join(runDir, '..', 'bzImage'), version: r.version ?? undefined,
    },
    qemu: { argv, append: r.cmdline ?? '', accel: 'tcg', cpus: 4, memoryMb: 1024 },
    host: { cores: 2, kvm: false, vhostVsock: false },
    timings: {
      startedAt: new Date(Date.UTC(2026, 10, 27, 12, 0, 0)).toISOString(),
      bootToInitMs: 2000,
      workloadMs: Math.round(r.atSec * 1000) - 2000,
      detectMs: r.verdict === 'reproduced' ? Math.round(r.atSec * 1000) : null,
      totalMs: Math.round(r.atSec * 1000) + 500,
    },
    workload: null,
    vcpus: null,
    selfTest: null,
    durationSec: 60,
    files: ['console.log', 'config'],
    ...extra,
  };
  await writeJsonAtomic(join(runDir, 'run.json'), rec);
  return rec;
}

/** A run function for runLoop that replays corpus log (index mod 6) into the run dir. */
export function corpusRunner(logs = CORPUS_LOGS) {
  return async (opts: Partial<RunOptions>): Promise<RunRecord> => {
    const idx = Number(opts.runDir!.split('/').pop());
    return makeCorpusRun(opts.runDir!, logs[idx % logs.length], { id: `corpus-${idx}` });
  };
}
