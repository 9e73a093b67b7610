import type { CommandModule } from 'yargs';
import { join } from 'node:path';
import { runOptions, toRunOptions, abortOnSignals } from './run-options.ts';
import { progressPrinter } from './common.ts';
import { liveProgress } from './live.ts';
import type { resolveRunOptions } from '../run/run.ts';
import type { RunRecord } from '../run/types.ts';
import { cacheRoot, resultsRoot } from '../util/paths.ts';
import { writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { usageError } from '../util/errors.ts';

const cmd: CommandModule = {
  command: 'run',
  describe: 'Build (or take) a kernel, boot it in QEMU with the stress workload, detect stalls, give a verdict',
  builder: (y) =>
    runOptions(y)
      .option('dry-run', { type: 'boolean', default: false, describe: 'print the QEMU and kernel command lines; build and boot nothing' })
      .option('json', { type: 'boolean', default: false, describe: 'print one JSON object' })
      .epilogue('The exit codes follow `git bisect run`, so `git bisect run krepro run ...` works.'),
  handler: async (a) => {
    const args = a as unknown as Parameters<typeof toRunOptions>[0] & { json: boolean; 'dry-run': boolean; verbose: boolean };
    const partial = toRunOptions(args);
    // The run's own code loads only now, after the options were read (CLI start: issue 14).
    const [{ runKernel }, { EXIT_FOR_VERDICT }, { recordRun, historyPath }, { buildReport }] = await Promise.all([
      import('../run/run.ts'), import('../verdict/verdict.ts'), import('../history/index.ts'), import('../report/text.ts')]);
    if (args['dry-run']) {
      await dryRun(partial, args.json);
      return;
    }
    const { signal, dispose } = abortOnSignals();
    const printer = progressPrinter();
    const live = args.json || args.verbose ? null : liveProgress();
    try {
      const rec = await runKernel({
        ...partial,
        build: partial.build ? { ...partial.build, progress: args.json ? undefined : printer } : undefined,
        signal,
        onLine: args.verbose ? (l) => process.stderr.write(l + '\n') : undefined,
        onProgress: live?.onProgress,
      });
      live?.end();
      await recordRun(rec, rec.dir, historyPath(partial.resultsDir ?? resultsRoot())).catch((e) => process.stderr.write(`krepro: could not record the run in the history index: ${(e as Error).message}\n`));
      // The plain-text report for the list, beside run.json (a run that reproduced or showed evidence).
      if (rec.verdict === 'reproduced' || Object.keys(rec.evidence?.kinds ?? {}).length) {
        try {
          await writeFile(join(rec.dir, 'report.txt'), await buildReport(rec.dir));
        } catch (e) {
          process.stderr.write(`krepro: could not write report.txt: ${(e as Error).message}\n`);
        }
      }
      await print(rec, args.json);
      process.exitCode = EXIT_FOR_VERDICT[rec.verdict];
    } finally {
      live?.end();
      dispose();
    }
  },
};

async function print(rec: RunRecord, json: boolean): Promise<void> {
  const { runTimeSec } = await import('../loop/summary.ts');
  if (json) {
    process.stdout.write(JSON.stringify({ verdict: rec.verdict, title: rec.title, type: rec.type, dir: runDirOf(rec), timings: rec.timings, unrelated: rec.unrelated, workload: rec.workload, error: rec.error ?? null, detection: rec.detection, vcpus: rec.vcpus }) + '\n');
    return;
  }
  const t = rec.timings;
  const ms = (v: number | null | undefined) => (v === null || v === undefined ? '-' : `${(v / 1000).toFixed(1)} s`);
  process.stdout.write(`verdict: ${rec.verdict}${rec.title ? `: ${rec.title}` : ''}\n`);
  if (rec.error) process.stdout.write(`reason:  ${rec.error}\n`);
  for (const u of rec.unrelated) process.stdout.write(`unrelated: ${u.title}\n`);
  if (rec.workload) {
    const w = rec.workload;
    process.stdout.write(`workload: spawns=${w.spawns} forks=${w.forks} vforks=${w.vforks} threads=${w.threads} accepts=${w.accepts}${w.cells !== undefined ? ` cells=${w.cells}` : ''} heartbeats=${w.heartbeats}\n`);
  }
  if (rec.evidence?.traced) {
    const e = rec.evidence;
    const found = Object.entries(e.kinds).map(([k, n]) => `${k} x${n}`).join(', ') || 'none';
    const x = e.triggers;
    process.stdout.write(`evidence: ${found}${e.truncated ? ' (trace cut at the stall: its end is not judged)' : ''}\n` +
      `triggers: ${x.crossUp} crossings of the CPU count (${x.crossUpWithVfork} with a vfork child alive), ${x.fixupWalks} fixup walks (${x.walksWithVfork} with a vfork child alive, ${x.walksMissed} missed a task)\n`);
    process.stdout.write(`trace:   ${join(rec.dir, 'trace.txt')} (findings: ${join(rec.dir, 'analysis.json')})\n`);
  }
  if (rec.verdict === 'reproduced' && rec.timings.bootToInitMs != null) {
    const t = rec.workload?.t;
    const at = runTimeSec(rec);
    const reported = `reported ${at === null ? '-' : `${at.toFixed(1)} s`} after QEMU start`;
    process.stdout.write(t !== undefined
      ? `stall:   after ${t}-${t + 1} s of workload (last heartbeat t=${t}); ${reported}\n`
      : `stall:   within the workload's first second (no heartbeat); ${reported}\n`);
  }
  process.stdout.write(`timings: boot-to-init ${ms(t.bootToInitMs)}, detection ${ms(t.detectMs)}, detection-to-exit ${ms(t.detectToExitMs)}, total ${ms(t.totalMs)}\n`);
  if (rec.vcpus) for (const v of rec.vcpus) process.stdout.write(`  CPU#${v.cpu} RIP ${v.rip} ${v.symbol ?? '?'}${v.source ? ` (${v.source})` : ''}${v.stackScan?.length ? `  stack: ${v.stackScan.slice(0, 4).map((x) => `? ${x.split('/')[0]}`).join(' ')}` : ''}\n`);
  process.stdout.write(`results: ${runDirOf(rec)}\n`);
  if (existsSync(join(rec.dir, 'report.txt'))) process.stdout.write(`report:  ${join(rec.dir, 'report.txt')}\n`);
}

function runDirOf(rec: RunRecord): string {
  return rec.dir;
}

async function dryRun(partial: Parameters<typeof resolveRunOptions>[0], json: boolean): Promise<void> {
  const [{ resolveRunOptions, planRun, withBackendConfig }, { peekBuild }] = await Promise.all([import('../run/run.ts'), import('../build/build.ts')]);
  const r = resolveRunOptions(partial);
  // The build the run would make: under vng, with the vng fragment added.
  const o = r.build ? { ...r, build: await withBackendConfig(r.build, r.backend) } : r;
  if (o.kernel && !existsSync(o.kernel)) throw usageError(`--kernel ${o.kernel}: no such file; give a bzImage (e.g. from krepro build --json)`);
  const build = o.build ? await peekBuild(o.build) : null;
  const bzImage = o.kernel ?? build?.bzImage ?? '<bzImage: krepro build prints it>';
  const { readFile } = await import('node:fs/promises');
  const configText = build ? await readFile(build.config, 'utf8').catch(() => null) : null;
  const runDir = join(o.resultsDir, '<run-id>');
  const plan = await planRun(o, { bzImage, configText }, join(cacheRoot(), 'initramfs', '<initramfs>.cpio'), runDir, '<tmp>', null);
  if (!json) process.stdout.write(planHeader(o, build?.key ?? null));
  if (json) {
    process.stdout.write(JSON.stringify({ commands: [plan.argv], append: plan.append, accel: plan.accel, accelReason: plan.accelReason ?? null }) + '\n');
  } else {
    process.stdout.write(`# accelerator: ${plan.accel}${plan.accelReason ? ` (${plan.accelReason})` : ''}\n# kernel command line\n${plan.append}\n# ${o.backend === 'vng' ? 'vng' : 'QEMU'}\n${plan.argv.map(shellQuote).join(' ')}\n`);
  }
}

/** What --dry-run says before the command lines: the scenario, and what would be built. */
function planHeader(o: ReturnType<typeof resolveRunOptions>, cachedKey: string | null): string {
  const head: string[] = [];
  if (o.scenario) head.push(`# scenario ${o.scenario.name}${o.scenario.description ? `: ${o.scenario.description}` : ''}`, `#   ${o.scenario.file} (sha256 ${o.scenario.sha256.slice(0, 16)})`);
  const b = o.build;
  if (b) {
    head.push(`# build: tree ${b.tree ?? '(default 6.12)'}, commit ${b.commit ?? 'HEAD'}, profile ${b.profile ?? 'default'}${b.configs?.length ? `, config ${b.configs.join(' ')}` : ''}, ${cachedKey ? `cached as ${cachedKey}` : 'not in the build cache yet'}`);
    for (const r of b.reverts ?? []) head.push(`#   revert ${r}`);
    for (const p of b.patches ?? []) head.push(`#   patch  ${p}`);
  }
  return head.map((l) => l + '\n').join('');
}

export function shellQuote(s: string): string {
  return /^[A-Za-z0-9_@%+=:,./-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`;
}

export default cmd;
