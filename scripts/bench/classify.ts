/**
 * Throughput of the crash classifier over the whole shared corpus (the 560
 * syzkaller logs plus our qemu-6.12 consoles), and its exact-title rate.
 * First pass (cold JIT and regex compilation) and steady state are reported
 * separately (steady: median and fastest of 7 warm passes); the goal is
 * >= 50 MB/s steady.
 */
import { readFileSync, readdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { classify } from '../../src/console/classify.ts';
import { PROJECT_ROOT } from '../../src/util/paths.ts';

function corpus(): { logs: Buffer[]; titles: (string | null)[] } {
  const root = resolve(PROJECT_ROOT, '../shared/corpus');
  const logs: Buffer[] = [];
  const titles: (string | null)[] = [];
  const syz = join(root, 'syzkaller-reports');
  for (const f of readdirSync(syz)) {
    const data = readFileSync(join(syz, f));
    // header lines, an empty line, then the log (and maybe "REPORT:")
    const sep = data.indexOf('\n\n');
    const head = data.subarray(0, sep).toString('latin1');
    let log = data.subarray(sep + 2);
    const rep = log.indexOf('\n\nREPORT:\n');
    if (rep !== -1) log = log.subarray(0, rep + 2);
    logs.push(log);
    titles.push(/^TITLE: (.*)$/m.exec(head)?.[1] ?? '');
  }
  const qemu = join(root, 'qemu-6.12');
  for (const f of readdirSync(qemu)) {
    logs.push(readFileSync(join(qemu, f)));
    titles.push(null);
  }
  return { logs, titles };
}

export async function bench(): Promise<Record<string, number | string>> {
  const { logs, titles } = corpus();
  const bytes = logs.reduce((n, l) => n + l.length, 0);
  const pass = () => {
    const t0 = performance.now();
    let reports = 0;
    for (const l of logs) reports += classify(l).length;
    return { ms: performance.now() - t0, reports };
  };
  const cold = pass();
  // JIT and regex tier-up settle after a few passes; then time 7 passes.
  for (let i = 0; i < 3; i++) pass();
  const runs: number[] = [];
  for (let i = 0; i < 7; i++) runs.push(pass().ms);
  runs.sort((a, b) => a - b);
  const median = runs[3]!;
  const fastest = runs[0]!;
  let exact = 0;
  let scored = 0;
  logs.forEach((l, i) => {
    const t = titles[i];
    if (t === null) return;
    scored++;
    if ((classify(l)[0]?.title ?? '') === t) exact++;
  });
  const mbs = (ms: number) => Math.round((bytes / 1e6 / (ms / 1000)) * 10) / 10;
  return {
    classify_corpus_mb: Math.round(bytes / 1e4) / 100,
    classify_logs: logs.length,
    classify_reports: cold.reports,
    classify_cold_ms: Math.round(cold.ms),
    classify_cold_mb_per_s: mbs(cold.ms),
    classify_ms: Math.round(median),
    classify_mb_per_s: mbs(median),
    classify_best_mb_per_s: mbs(fastest),
    classify_exact_titles_pct: Math.round((1000 * exact) / scored) / 10,
  };
}

if (process.argv[1] && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) console.log(await bench());
