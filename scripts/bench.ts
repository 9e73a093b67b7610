/**
 * npm run bench: speed and memory figures measured in one run, printed as
 * a table with the ratios the issues ask for. Nothing here asserts a time;
 * the numbers are for people and for the closing notes.
 *
 *   BENCH_COLD=1   also measure a cold build (fresh cache dir, ccache off: ~13+ min)
 *   BENCH_SKIP_VM=1  skip the QEMU figures
 */
import { mkdtemp, readdir, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { buildKernel } from '../src/build/build.ts';
import { listBuilds } from '../src/build/cache.ts';
import { runKernel } from '../src/run/run.ts';
import { cacheRoot, PROJECT_ROOT } from '../src/util/paths.ts';
import { touchSchedPatch } from '../test/helpers/real.ts';

type Row = [string, string];
const rows: Row[] = [];
const add = (k: string, v: number | string, unit = '') => {
  rows.push([k, typeof v === 'number' ? `${Number.isInteger(v) ? v : v.toFixed(3)}${unit ? ' ' + unit : ''}` : v]);
  console.error(`bench: ${k} = ${rows.at(-1)![1]}`);
};

async function benchBuild() {
  const base = await buildKernel({});
  add('build: first call this run (cached=' + base.cached + ')', base.seconds, 's');
  const t = Date.now();
  const cached = await buildKernel({});
  add('build: cached', (Date.now() - t) / 1000, 's');
  // Incremental: one kernel/sched file changed (a patch with a fresh nonce, so the key is new).
  const d = await mkdtemp(join(tmpdir(), 'bench-'));
  const p = await touchSchedPatch(d, `bench ${Date.now()}`);
  const inc = await buildKernel({ patches: [p] });
  add('build: incremental (one kernel/sched file)', inc.seconds, 's');
  let cold: number | null = null;
  if (process.env.BENCH_COLD === '1') {
    const c = await mkdtemp(join(tmpdir(), 'bench-cold-'));
    process.env.CCACHE_DISABLE = '1';
    const r = await buildKernel({ cacheDir: c });
    delete process.env.CCACHE_DISABLE;
    cold = r.seconds;
    add('build: cold (measured now, no ccache)', cold, 's');
  } else {
    const firsts = (await listBuilds(cacheRoot())).filter((b) => !b.meta.seededFrom).map((b) => b.meta.seconds);
    if (firsts.length) {
      cold = Math.max(...firsts);
      add('build: cold (recorded: slowest unseeded build in the cache)', cold, 's');
    }
  }
  if (cold) add('build: incremental / cold', inc.seconds / cold);
  void cached;
  return base;
}

async function benchRun(build: Awaited<ReturnType<typeof buildKernel>>) {
  const results = await mkdtemp(join(tmpdir(), 'bench-run-'));
  const cpu0 = process.cpuUsage();
  const t0 = Date.now();
  const rec = await runKernel({ prebuilt: build, durationSec: 20, resultsDir: results });
  const wall = (Date.now() - t0) / 1000;
  const cpu = process.cpuUsage(cpu0);
  add('run: verdict', rec.verdict);
  add('run: boot to init', (rec.timings.bootToInitMs ?? NaN) / 1000, 's');
  add('run: controller CPU while streaming / wall', (cpu.user + cpu.system) / 1e6 / wall);
  add('run: controller peak RSS', process.resourceUsage().maxRSS / 1024, 'MiB');
  const st = await runKernel({ prebuilt: build, selfTest: 'soft-lockup', resultsDir: results });
  add('run: self-test soft lockup verdict', `${st.verdict} ${st.title ?? ''}`);
  add('run: detection to QEMU exit', (st.timings.detectToExitMs ?? NaN) / 1000, 's');
}

/** The trace dump over the second serial port: gzip on the wire vs. the text it carries. */
async function benchTrace() {
  const build = await buildKernel({ profile: 'mmcid' });
  const results = await mkdtemp(join(tmpdir(), 'bench-trace-'));
  const rec = await runKernel({ prebuilt: build, durationSec: 15, traceEvents: ['mmcid:*', 'sched:sched_process_fork'], traceBufferKb: 4096, resultsDir: results });
  const text = (await stat(join(rec.dir, 'trace.txt')).catch(() => null))?.size ?? 0;
  const wire = (await stat(join(rec.dir, 'artifacts.raw')).catch(() => null))?.size ?? 0;
  add('trace: verdict, events, whole', `${rec.verdict}, ${rec.analysis?.mmcidEvents ?? 0} mmcid events, ${rec.analysis?.truncated === false ? 'whole' : 'CUT'}`);
  add('trace: text', text / 2 ** 20, 'MiB');
  add('trace: on the wire (ttyS1)', wire / 2 ** 20, 'MiB');
  add('trace: wire / text', text ? wire / text : NaN);
  const t = rec.timings;
  add('trace: workload end to QEMU exit (dump + power-off)', (t.totalMs - (t.buildMs ?? 0) - (t.bootToInitMs ?? 0) - (t.workloadMs ?? 0)) / 1000, 's');
}

async function benchHelpers() {
  let files: string[] = [];
  try {
    files = (await readdir(join(PROJECT_ROOT, 'scripts', 'bench'))).filter((f) => f.endsWith('.ts')).sort();
  } catch {
    return;
  }
  for (const f of files) {
    const mod = await import(pathToFileURL(join(PROJECT_ROOT, 'scripts', 'bench', f)).href);
    if (typeof mod.bench !== 'function') continue;
    const out: Record<string, number | string> = await mod.bench();
    for (const [k, v] of Object.entries(out)) add(`${f.replace(/\.ts$/, '')}: ${k}`, v);
  }
}

await benchHelpers();
const b = await benchBuild();
if (process.env.BENCH_SKIP_VM !== '1') {
  await benchRun(b);
  await benchTrace();
}
const w = Math.max(...rows.map((r) => r[0].length));
console.log('\nkrepro bench');
for (const [k, v] of rows) console.log(`${k.padEnd(w)}  ${v}`);
