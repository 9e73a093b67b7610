import type { CommandModule } from 'yargs';
import { join, resolve } from 'node:path';
import { progressPrinter } from './common.ts';
import { runOptions, toRunOptions } from './run-options.ts';
import { usageError, EXIT } from '../util/errors.ts';
import { parseCount, parseDuration } from '../util/units.ts';
import { resolveRunOptions } from '../run/run.ts';
import { existsSync } from 'node:fs';
import { PROJECT_ROOT, resultsRoot } from '../util/paths.ts';
import { shardArgs } from '../loop/slurm.ts';
import { runSlurmLoop } from '../loop/slurm-run.ts';
import { slurmCli } from '../loop/slurm-exec.ts';
import { runLoop, defaultJobs, type LoopProgress } from '../loop/loop.ts';
import { availableParallelism } from 'node:os';
import { resolveShard } from '../loop/shard.ts';
import { formatDuration } from '../loop/duration.ts';
import { finishLoop } from '../report/finish-loop.ts';
import { historyPath } from '../history/index.ts';
import { pct } from '../loop/summary.ts';
import type { RunOptions, SelfTest } from '../run/options.ts';

interface Args {
  tree?: string; commit?: string; profile?: string; config?: string[]; patch?: string[]; revert?: string[]; jobs?: number;
  kernel?: string; append?: string; cpus?: number; memory?: number; duration?: number; accel?: 'auto' | 'kvm' | 'tcg';
  signature?: string; title?: string; 'self-test'?: SelfTest; results?: string; dir?: string;
  'make-jobs'?: number;
  count?: string | number; until?: string | number; 'stop-on-first': boolean; shard?: string; json: boolean; history: boolean;
  on: 'local' | 'slurm'; shards?: number; 'max-running'?: number; partition?: string; wait: boolean;
}

/** The live progress line: rewritten in place on a TTY, plain lines otherwise. */
export function progressLine(p: LoopProgress): string {
  const total = p.planned !== null ? `/${p.planned}` : '';
  const rate = p.valid ? `rate ${pct(p.rate)} [${pct(p.ci[0])}-${pct(p.ci[1])}]` : 'rate n/a';
  const eta = p.etaSec !== null ? `, ETA ${formatDuration(p.etaSec)}` : '';
  const last = p.last ? `, last ${p.last.verdict}` : '';
  return `loop: ${p.done}${total} runs, ${p.reproduced} reproduced, ${rate}${eta}${last}`;
}

/** `krepro loop --on slurm`: submit, follow, print the merged loop like a local one. */
async function slurmLoop(a: Args): Promise<void> {
  if (a.shards === undefined) throw usageError('--on slurm needs --shards N (the number of array tasks)');
  if (a.shard !== undefined) throw usageError('--shard K/N is for one shard run here; with --on slurm each array task takes its shard from Slurm');
  const results = resolve(a.results ?? resultsRoot());
  const raw = process.argv.slice(2);
  const at = raw.indexOf('loop');
  const ac = new AbortController();
  const onSig = () => ac.abort();
  process.once('SIGINT', onSig);
  process.once('SIGTERM', onSig);
  try {
    const r = await runSlurmLoop({
      shards: a.shards,
      maxRunning: a['max-running'] ?? null,
      partition: a.partition ?? null,
      args: shardArgs(at >= 0 ? raw.slice(at + 1) : raw),
      krepro: [process.execPath, join(PROJECT_ROOT, 'bin', 'krepro.mjs')],
      resultsDir: results,
      cwd: process.cwd(),
      dir: a.dir,
      stopOnFirst: a['stop-on-first'],
      wait: a.wait,
      signal: ac.signal,
      onProgress: (l) => process.stderr.write(`krepro: ${l}\n`),
    }, slurmCli);
    if (!r.merged) {
      if (a.json) process.stdout.write(JSON.stringify({ dir: r.root, arrayJob: r.arrayJob, mergeJob: r.mergeJob }) + '\n');
      else process.stdout.write(`submitted: array job ${r.arrayJob} (${a.shards} shards), merge job ${r.mergeJob} (afterany)\n  ${r.root}/merged/loop.json when the merge job ends\n`);
      return;
    }
    const s = r.merged.stats;
    if (a.json) process.stdout.write(JSON.stringify({ dir: join(r.root, 'merged'), id: r.merged.id, status: r.merged.status, arrayJob: r.arrayJob, mergeJob: r.mergeJob, cancelled: r.cancelled, timings: r.timings, stats: s }) + '\n');
    else process.stdout.write(`${r.merged.status}: ${s.reproduced} of ${s.valid} runs reproduced, rate ${pct(s.rate)} (95% CI ${pct(s.ci[0])}-${pct(s.ci[1])}), ${r.merged.mergedFrom?.length ?? 0} of ${a.shards} shards merged${r.cancelled ? ', the rest cancelled' : ''}\n  ${join(r.root, 'merged')}/loop.json\n`);
    if (r.merged.status === 'infra-error') process.exitCode = 255;
    else process.exitCode = s.reproduced > 0 ? 1 : 0;
  } finally {
    process.off('SIGINT', onSig);
    process.off('SIGTERM', onSig);
  }
}

const cmd: CommandModule = {
  command: 'loop',
  describe: 'Build once and boot the kernel many times: reproduction rate, time to failure, history',
  builder: (y) =>
    runOptions(y)
      .option('count', { type: 'string', describe: 'number of runs (over all shards)' })
      .option('until', { type: 'string', describe: 'loop for this long: 90s, 2m, 8h, 1h30m (a number is seconds)' })
      .option('stop-on-first', { type: 'boolean', default: false, describe: 'stop at the first reproduction' })
      .option('shard', { type: 'string', describe: 'run shard K of N (K/N, 1-based); else from KREPRO_SHARD_INDEX/KREPRO_SHARD_COUNT, JOB_COMPLETION_INDEX or CI_NODE_INDEX/CI_NODE_TOTAL' })
      .option('dir', { type: 'string', describe: 'exact loop dir (default <results>/loop-<time>-<id>)' })
      .option('history', { type: 'boolean', default: true, describe: 'record the loop in <results>/history.jsonl (--no-history to skip)' })
      .option('json', { type: 'boolean', default: false, describe: 'print one JSON object' })
      .option('on', { choices: ['local', 'slurm'] as const, default: 'local' as const, describe: 'run here, or as a Slurm job array of --shards tasks plus a merge job' })
      .option('shards', { type: 'string', describe: 'with --on slurm: number of array tasks (each a krepro loop --shard K/N)' })
      .option('max-running', { type: 'string', describe: 'with --on slurm: at most this many array tasks at once' })
      .option('partition', { type: 'string', describe: 'with --on slurm: the partition to submit to (default: the cluster\'s default)' })
      .option('wait', { type: 'boolean', default: true, describe: 'with --on slurm: wait for the merged result (--no-wait prints the job ids)' })
      .option('jobs', { type: 'string', describe: 'VMs at once, each with its own run dir, QMP socket and vsock CID (default: 1 on hosts with fewer than 4 cores, else cores / --cpus)' })
      .option('make-jobs', { type: 'string', describe: 'make -j for the build (default: number of cores)' })
      .conflicts('count', 'until'),
  handler: async (argv) => {
    const a = argv as unknown as Args;
    // Counts and numbers through the one parser: the user's text is echoed, never NaN.
    const raw = a as unknown as Record<string, unknown>;
    for (const f of ['shards', 'max-running', 'jobs', 'make-jobs']) if (raw[f] !== undefined) raw[f] = parseCount(f, raw[f]);
    if (a.count === undefined && a.until === undefined) throw usageError('say how long to loop: --count N or --until DURATION (e.g. --until 8h)');
    if (a.kernel && (a.patch?.length || a.revert?.length || a.config?.length)) throw usageError('--patch, --revert and --config need a build; drop them or drop --kernel');
    if (a.on === 'slurm') return slurmLoop(a);
    if (a.shards !== undefined || a.partition !== undefined || a['max-running'] !== undefined) throw usageError('--shards, --max-running and --partition go with --on slurm; for one shard of a loop run here, use --shard K/N');
    const count = a.count === undefined ? null : parseCount('count', a.count);
    if (count !== null && count < 1) throw usageError(`--count ${a.count}: give a positive number of runs`);
    const untilSec = a.until === undefined ? null : parseDuration('until', a.until);
    if (untilSec !== null && untilSec <= 0) throw usageError(`--until ${a.until}: give a positive duration such as 8h`);
    const results = resolve(a.results ?? resultsRoot());
    const jobs = a.jobs ?? defaultJobs(availableParallelism(), a.cpus ?? 4);
    if (!Number.isInteger(jobs) || jobs < 1) throw usageError(`--jobs ${a.jobs}: give a positive integer (VMs at once)`);
    const { build: b, ...rest } = toRunOptions({ ...a, jobs: a['make-jobs'] } as unknown as Parameters<typeof toRunOptions>[0]);
    const run: Partial<RunOptions> = { ...rest, resultsDir: results };
    if (a.kernel) run.kernel = resolve(a.kernel);
    // Bad input is refused before the loop dir exists, so no loop.json is left saying "running".
    resolveRunOptions(run);
    if (run.kernel && !existsSync(run.kernel)) throw usageError(`--kernel ${a.kernel}: no such file; give a bzImage (e.g. from krepro build --json)`);
    const ac = new AbortController();
    const onSig = () => ac.abort();
    process.once('SIGINT', onSig);
    process.once('SIGTERM', onSig);
    const err = process.stderr;
    const tty = !!err.isTTY;
    let lastPlain = 0;
    try {
      const { dir, record } = await runLoop({
        run,
        build: b ? { ...b, progress: progressPrinter() } : undefined,
        count,
        untilSec,
        stopOnFirst: a['stop-on-first'],
        jobs,
        shard: resolveShard(a.shard),
        dir: a.dir,
        resultsDir: results,
        signal: ac.signal,
        onProgress: (p) => {
          const line = progressLine(p);
          if (tty) err.write(`\r\x1b[K${line.slice(0, (err.columns || 80) - 1)}`);
          else if (Date.now() - lastPlain > 10_000 || p.planned === p.done || p.last?.verdict === 'reproduced') {
            lastPlain = Date.now();
            err.write(`krepro: ${line}\n`);
          }
        },
        onDone: async (rec, d) => finishLoop(rec, d, a.history ? historyPath(results) : null),
      });
      if (tty) err.write('\n');
      const s = record.stats;
      if (a.json) {
        process.stdout.write(JSON.stringify({ dir, id: record.id, status: record.status, shard: record.shard, stats: s }) + '\n');
      } else {
        process.stdout.write(
          `${record.status}: ${s.reproduced} of ${s.valid} runs reproduced, rate ${pct(s.rate)} (95% CI ${pct(s.ci[0])}-${pct(s.ci[1])})` +
          `${s.ttf.median !== null ? `, median time to failure ${formatDuration(s.ttf.median)}` : ''}\n` +
          (s.evidence.traced ? `evidence (${s.evidence.kinds.join(', ')}): ${s.evidence.withEvidence} of ${s.evidence.traced} traced runs, rate ${pct(s.evidence.rate)} (95% CI ${pct(s.evidence.ci[0])}-${pct(s.evidence.ci[1])})\n` : '') +
          (s.triggers.runs ? `triggers per run: ${s.triggers.mean.crossUp.toFixed(1)} crossings (${s.triggers.mean.crossUpWithVfork.toFixed(1)} with vfork), ${s.triggers.mean.fixupWalks.toFixed(1)} walks (${s.triggers.mean.walksWithVfork.toFixed(1)} with vfork, ${s.triggers.mean.walksMissed.toFixed(1)} missed)\n` +
            (s.triggers.perMinute?.traceSeconds ? `triggers per minute of trace: ${s.triggers.perMinute.crossUp.toFixed(1)} crossings, ${s.triggers.perMinute.fixupWalks.toFixed(1)} walks (${s.triggers.perMinute.walksWithVfork.toFixed(1)} with vfork, ${s.triggers.perMinute.walksMissed.toFixed(1)} missed)\n` : '') : '') +
          (s.stallAfter.median !== null ? `stall after a median ${s.stallAfter.median} s of workload (${s.stallAfter.values.join(', ')})\n` : '') +
          (s.infraErrors.count ? `${s.infraErrors.count} infra errors (see loop.json)\n` : '') +
          `  ${dir}/loop.json\n  ${dir}/report.html\n`);
      }
      if (record.status === 'interrupted') process.exitCode = EXIT.interrupted;
      else if (record.status === 'infra-error') process.exitCode = EXIT.infra;
      else process.exitCode = s.reproduced > 0 ? EXIT.reproduced : EXIT.notReproduced;
    } finally {
      process.off('SIGINT', onSig);
      process.off('SIGTERM', onSig);
    }
  },
};
export default cmd;
