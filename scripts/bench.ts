/**
 * npm run bench: speed and memory figures measured in one run, printed as
 * a table with the ratios the issues ask for. Nothing here asserts a time;
 * the numbers are for people and for the closing notes.
 *
 *   BENCH_COLD=1   also measure a cold build (fresh cache dir, ccache off: ~13+ min)
 *   BENCH_SKIP_VM=1  skip the QEMU figures
 *   BENCH_SKIP_STALL=1  skip the 7.2 bug-vs-control figures (BENCH_STALL_RUNS runs each, default 2)
 *   BENCH_BOOTS=N    boots per boot path for the boot-to-init rows (default 10; 0 skips them)
 *   BENCH_ONLY=boot  only the boot-to-init rows (on the cached default kernel)
 *   BENCH_BOOT_KERNEL=7.2  the boot-to-init rows on the 7.2 bug kernel (scenario v6.19-vfork-stall) instead
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
import { median } from '../src/loop/stats.ts';
import { BOOT_PATHS, type BootPath } from '../src/vm/qemu-args.ts';

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

/**
 * Boot to init (QEMU start to the guest init's first line, run.json's
 * timings.bootToInitMs) for each boot path, BENCH_BOOTS real runs each
 * (1 s workload), the paths taken in turn so a change in host load falls
 * on both alike; min and median per path and the ratio of the medians.
 */
async function benchBoot(build: Awaited<ReturnType<typeof buildKernel>>) {
  const n = Number(process.env.BENCH_BOOTS ?? 10);
  if (!(n > 0)) return;
  const results = await mkdtemp(join(tmpdir(), 'bench-boot-'));
  const ms: Record<BootPath, number[]> = { legacy: [], fast: [], pvh: [] };
  let fellBack = '';
  for (let i = 0; i < n; i++) {
    for (const boot of BOOT_PATHS) {
      const rec = await runKernel({ prebuilt: build, durationSec: 1, boot, resultsDir: results });
      if (rec.qemu.boot !== boot) fellBack = rec.qemu.bootReason ?? `asked ${boot}, booted ${rec.qemu.boot}`;
      if (rec.timings.bootToInitMs != null) ms[boot].push(rec.timings.bootToInitMs);
    }
  }
  if (fellBack) add('boot: NOTE', fellBack);
  for (const boot of BOOT_PATHS) {
    add(`boot: ${boot}: boots reaching init`, `${ms[boot].length} of ${n}`);
    if (ms[boot].length) {
      add(`boot: ${boot}: boot to init min`, Math.min(...ms[boot]) / 1000, 's');
      add(`boot: ${boot}: boot to init median`, median(ms[boot])! / 1000, 's');
    }
  }
  const l = median(ms.legacy);
  for (const boot of BOOT_PATHS.filter((b) => b !== 'legacy')) {
    const m = median(ms[boot]);
    if (m != null && l != null) add(`boot: ${boot} / legacy (medians)`, m / l);
  }
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

/**
 * The real bug (scenario v6.19-vfork-stall) against its control, and the
 * cells workload against the wave: QEMU start to the stall, workload seconds
 * before it, and evidence (walks that missed a task) per minute of workload.
 * BENCH_STALL_RUNS (default 2) runs of each.
 */
const P72 = (f: string) => join(PROJECT_ROOT, 'patches', '7.2', f);
/** The scenario v6.19-vfork-stall's kernel: 7.2 with the rc3 fixup walk restored, traced. */
const bugKernel = () => buildKernel({ tree: 'debian:7.2', patches: [P72('0001-restore-rc3-fixup-walk.patch'), P72('mmcid-tracepoints.patch'), P72('mmcid-trace-walk-restored.patch')] });
/** The kernel of the boot-to-init rows: the 7.2 bug kernel with BENCH_BOOT_KERNEL=7.2, else the default build (given, or built). */
const bootKernel = async (defaultBuild?: Awaited<ReturnType<typeof buildKernel>>) => (process.env.BENCH_BOOT_KERNEL === '7.2' ? bugKernel() : defaultBuild ?? buildKernel({}));

async function benchStall() {
  const n = Number(process.env.BENCH_STALL_RUNS ?? 2);
  const bug = await bugKernel();
  const ctl = await buildKernel({ tree: 'debian:7.2', patches: [P72('mmcid-tracepoints.patch'), P72('mmcid-trace-walk-userlist.patch')] });
  const results = await mkdtemp(join(tmpdir(), 'bench-stall-'));
  type Acc = { stallSec: number[]; afterSec: number[]; missed: number; workloadMin: number; runs: number; reproduced: number };
  const per: Record<string, Acc> = {};
  for (const [name, build, workload] of [['bug cells', bug, 'mode=cells'], ['bug wave', bug, 'mode=wave'], ['control cells', ctl, 'mode=cells']] as const) {
    const acc: Acc = { stallSec: [], afterSec: [], missed: 0, workloadMin: 0, runs: 0, reproduced: 0 };
    per[name] = acc;
    for (let i = 0; i < n; i++) {
      const rec = await runKernel({
        prebuilt: build, durationSec: 60, workload, traceEvents: ['mmcid:*', 'sched:sched_switch'], resultsDir: results,
        signature: 'mm_get_cid|soft lockup|rcu.*stall|silent hang|hung task',
      });
      acc.runs++;
      if (rec.verdict === 'reproduced') {
        acc.reproduced++;
        if (rec.timings.detectMs != null) acc.stallSec.push(rec.timings.detectMs / 1000);
        if (rec.workload?.t != null) acc.afterSec.push(rec.workload.t);
      }
      acc.missed += rec.evidence?.kinds['fixup-missed-task'] ?? 0;
      acc.workloadMin += (rec.verdict === 'reproduced' ? (rec.workload?.t ?? 0) + 1 : (rec.timings.workloadMs ?? 60_000) / 1000) / 60;
    }
    add(`stall: ${name}: reproduced`, `${acc.reproduced} of ${acc.runs}`);
    if (acc.reproduced) {
      add(`stall: ${name}: QEMU start to detection (median)`, median(acc.stallSec) ?? NaN, 's');
      add(`stall: ${name}: workload seconds before the stall (median)`, median(acc.afterSec) ?? NaN, 's');
    }
    add(`stall: ${name}: missed tasks per workload minute`, acc.workloadMin ? acc.missed / acc.workloadMin : 0);
  }
  const c = per['bug cells'];
  const w = per['bug wave'];
  if (c.workloadMin && w.workloadMin) {
    const rc = c.missed / c.workloadMin;
    const rw = w.missed / w.workloadMin;
    add('stall: evidence per minute, cells / wave', rw ? rc / rw : rc ? 'inf (wave showed none)' : 'n/a');
  }
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

if (process.env.BENCH_ONLY === 'boot') {
  await benchBoot(await bootKernel());
} else {
  await benchHelpers();
  const b = await benchBuild();
  if (process.env.BENCH_SKIP_VM !== '1') {
    await benchBoot(await bootKernel(b));
    await benchRun(b);
    await benchTrace();
    if (process.env.BENCH_SKIP_STALL !== '1') await benchStall();
  }
}
const w = Math.max(...rows.map((r) => r[0].length));
console.log('\nkrepro bench');
for (const [k, v] of rows) console.log(`${k.padEnd(w)}  ${v}`);
