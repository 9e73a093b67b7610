import type { CommandModule } from 'yargs';
import { parseCount, parseNumber } from '../util/units.ts';
import { runOptions, toRunOptions, abortOnSignals } from './run-options.ts';
import { progressPrinter } from './common.ts';
import { usageError } from '../util/errors.ts';
import { startBisect, resumeBisect, type BisectReport, type EnvFactory } from '../bisect/engine.ts';
import { realEnv, type RealEnvConfig } from '../bisect/real-env.ts';
import { evidenceTitle, signatureWithEvidence } from '../verdict/evidence.ts';
import { simulate, formatSimTable, SIM_DEFAULTS } from '../bisect/simulate.ts';
import { DEFAULT_CONFIDENCE } from '../bisect/driver.ts';
import { defaultJobs } from '../loop/loop.ts';
import { availableParallelism } from 'node:os';

type Args = Parameters<typeof toRunOptions>[0] & {
  good?: string;
  bad?: string;
  fixed: boolean;
  confidence: number;
  'max-runs': number;
  resume?: string;
  simulate: boolean;
  json: boolean;
  trials: number;
  commits: number;
  seed: number;
  'build-cost': number;
  'run-cost': number;
  'unrelated-rate'?: number;
  'unrelated-rates'?: number[];
  faces?: string[];
  'evidence-rate'?: number;
  threads?: number;
  jobs?: number;
  'make-jobs'?: number;
  rates?: number[];
  verbose: boolean;
};

const cmd: CommandModule = {
  command: 'bisect',
  describe: 'Find the commit that introduced (or, with --fixed, fixed) a flaky bug, with a stated confidence',
  builder: (y) =>
    runOptions(y)
      .option('good', { type: 'string', describe: 'revision without the bug (with --fixed: the fixed one)' })
      .option('bad', { type: 'string', describe: 'revision that reproduces the bug' })
      .option('fixed', { type: 'boolean', default: false, describe: 'look for the fix: --bad is old and broken, --good is new and fixed' })
      .option('confidence', { type: 'string', default: DEFAULT_CONFIDENCE, describe: 'target probability that the named commit is the one' })
      .option('jobs', { type: 'string', describe: 'VMs at once on this host, each with its own run dir, QMP socket and vsock CID; --simulate: for both policies (default: 1 on hosts with fewer than 4 cores, else cores / --cpus; --simulate: 1)' })
      .option('make-jobs', { type: 'string', describe: 'make -j for the builds (default: number of cores)' })
      .option('max-runs', { type: 'string', default: 60, describe: 'cap on runs per commit' })
      // bisect picks the commits itself: run's --kernel and --commit are refused, so not listed.
      .hide('kernel')
      .hide('commit')
      .option('resume', { type: 'string', describe: 'continue the bisection kept in this bisect-<id> dir' })
      .option('simulate', { type: 'boolean', default: false, describe: 'run the policy and syzkaller\'s on simulated histories; no kernel' })
      .option('trials', { type: 'string', default: SIM_DEFAULTS.trials, describe: '--simulate: trials per reproduction rate' })
      .option('commits', { type: 'string', default: SIM_DEFAULTS.commits, describe: '--simulate: commits in the range' })
      .option('seed', { type: 'string', default: SIM_DEFAULTS.seed, describe: '--simulate: random seed' })
      .option('rates', { type: 'number', array: true, describe: '--simulate: reproduction rates (default 1 0.5 0.3 0.1)' })
      .option('unrelated-rate', { type: 'string', describe: '--simulate: chance of an unrelated crash per run (one value)' })
      .option('unrelated-rates', { type: 'number', array: true, describe: `--simulate: unrelated-crash rates to sweep (default ${SIM_DEFAULTS.unrelatedRates.join(' ')})` })
      .option('faces', { type: 'string', array: true, describe: '--simulate: shares of the bug\'s titles (one report type), e.g. 0.6,0.3,0.1; repeat to sweep (default: 1 and 0.6,0.3,0.1)' })
      .option('evidence-rate', { type: 'string', describe: '--simulate: chance a run of a buggy commit shows the bug\'s trace evidence (evidence on, as --evidence)' })
      .option('threads', { type: 'string', describe: '--simulate: worker threads (default: cores, at most 4)' })
      .option('build-cost', { type: 'string', default: SIM_DEFAULTS.buildCost, describe: '--simulate: seconds per build' })
      .option('run-cost', { type: 'string', default: SIM_DEFAULTS.runCost, describe: '--simulate: seconds per run' })
      .option('json', { type: 'boolean', default: false, describe: 'print one JSON object' })
      .epilogue(
        'Each commit is run until a crash matching the signature (bad) or until enough clean runs make the bug unlikely (good); ' +
          'the answer is verified on already-built commits until its posterior reaches --confidence. ' +
          'State: <results>/bisect-<id>/bisect.json after every run; bisect.log replays with `git bisect replay`.',
      ),
  handler: async (a) => {
    const args = a as unknown as Args;
    // Counts and numbers through the one parser: the user's text is echoed, never NaN.
    const raw = args as unknown as Record<string, unknown>;
    for (const f of ['jobs', 'make-jobs', 'max-runs', 'trials', 'commits', 'seed', 'threads']) if (raw[f] !== undefined) raw[f] = parseCount(f, raw[f]);
    for (const f of ['confidence', 'build-cost', 'run-cost', 'unrelated-rate', 'evidence-rate']) if (raw[f] !== undefined) raw[f] = parseNumber(f, raw[f]);
    if (args.simulate) return simulateCmd(args);
    const { signal, dispose } = abortOnSignals();
    const printer = progressPrinter();
    const log = (l: string) => process.stderr.write(`krepro: ${l}\n`);
    const factory: EnvFactory = ({ tree, outDir, envConfig }) =>
      realEnv({ tree, outDir, config: envConfig as unknown as RealEnvConfig, signal, progress: args.json ? undefined : printer, log });
    try {
      let report: BisectReport;
      if (args.resume) {
        report = await resumeBisect(args.resume, factory, log, { jobs: args.jobs });
      } else {
        if (!args.tree) throw usageError('--tree DIR is required: the git tree to bisect');
        if (!args.good || !args.bad) throw usageError('--good REV and --bad REV are required (or --resume DIR)');
        if (args.kernel || args.commit) throw usageError('bisect picks the commits itself: drop --kernel/--commit');
        const ro = toRunOptions({ ...args, jobs: args['make-jobs'], signature: undefined, title: undefined });
        const config: RealEnvConfig = {
          build: { profile: ro.build?.profile, configs: ro.build?.configs, patches: ro.build?.patches, reverts: ro.build?.reverts, jobs: ro.build?.jobs },
          run: {
            cpus: ro.cpus,
            memoryMb: ro.memoryMb,
            durationSec: ro.durationSec,
            threads: ro.threads,
            workload: ro.workload,
            evidence: ro.evidence,
            accel: ro.accel,
            append: ro.append,
            selfTest: ro.selfTest,
            hangTimeoutSec: ro.hangTimeoutSec,
            bootTimeoutSec: ro.bootTimeoutSec,
            graceSec: ro.graceSec,
            traceEvents: ro.traceEvents,
            traceBufferKb: ro.traceBufferKb,
            oopsBufferKb: ro.oopsBufferKb,
            backend: ro.backend,
            scenario: ro.scenario,
          },
        };
        report = await startBisect(
          {
            tree: String(args.tree),
            good: args.good,
            bad: args.bad,
            fixed: args.fixed,
            signature: signatureWithEvidence(args.signature ?? null, ro.evidence ?? []),
            title: args.title ?? null,
            confidence: args.confidence,
            maxRuns: args['max-runs'],
            evidence: (ro.evidence ?? []).map(evidenceTitle),
            jobs: args.jobs ?? defaultJobs(availableParallelism(), ro.cpus ?? 4),
            resultsDir: args.results,
            envConfig: config as unknown as Record<string, unknown>,
            log,
          },
          factory,
        );
      }
      if (args.json) {
        process.stdout.write(
          JSON.stringify({
            dir: report.dir,
            kind: report.state.answer?.kind ?? null,
            culprit: report.culprit,
            confidence: report.confidence,
            rate: report.state.answer?.rate ?? null,
            candidates: report.state.answer?.candidates ?? [],
            steps: report.table,
            runs: report.totalRuns,
            commitsTested: report.commitsTested,
            log: report.logFile,
          }) + '\n',
        );
      } else {
        process.stdout.write(report.text + '\n');
        process.stdout.write(`state: ${report.dir}/bisect.json\n`);
      }
      process.exitCode = report.state.answer?.kind === 'found' ? 0 : 125;
    } finally {
      dispose();
    }
  },
};

async function simulateCmd(args: Args): Promise<void> {
  const posInt = (name: string, v: number) => {
    if (!Number.isInteger(v) || v < 1) throw usageError(`--${name} ${v}: give a positive integer`);
  };
  posInt('trials', args.trials);
  posInt('commits', args.commits);
  if (args.commits < 2) throw usageError('--commits: give at least 2');
  const jobs = args.jobs ?? 1;
  posInt('jobs', jobs);
  if (args.threads !== undefined) posInt('threads', args.threads);
  const rates = args.rates ?? SIM_DEFAULTS.rates;
  for (const p of rates) if (!(p > 0 && p <= 1)) throw usageError(`--rates ${p}: give rates in (0, 1]`);
  if (args['unrelated-rate'] !== undefined && args['unrelated-rates'] !== undefined) throw usageError('give --unrelated-rate or --unrelated-rates, not both');
  const qs = args['unrelated-rates'] ?? (args['unrelated-rate'] !== undefined ? [args['unrelated-rate']] : SIM_DEFAULTS.unrelatedRates);
  for (const q of qs) if (!(q >= 0 && q < 1)) throw usageError(`--unrelated-rate ${q}: give a value in [0, 1)`);
  const faces = args.faces ? args.faces.map(parseFaces) : SIM_DEFAULTS.faces;
  const e = args['evidence-rate'];
  if (e !== undefined && !(e >= 0 && e <= 1)) throw usageError(`--evidence-rate ${e}: give a value in [0, 1]`);
  if (!(args.confidence > 0 && args.confidence < 1)) throw usageError('--confidence must be between 0 and 1, e.g. 0.97');
  const cells = rates.length * qs.length * faces.length;
  process.stderr.write(`krepro: simulating ${cells} cells (rates x unrelated rates x faces) x ${args.trials} trials for both policies\n`);
  const res = await simulate(
    {
      rates,
      unrelatedRates: qs,
      faces,
      jobs,
      evidenceRate: e ?? null,
      trials: args.trials,
      commits: args.commits,
      seed: args.seed,
      buildCost: args['build-cost'],
      runCost: args['run-cost'],
      confidence: args.confidence,
      maxRuns: args['max-runs'],
    },
    args.threads,
  );
  if (args.json) process.stdout.write(JSON.stringify(res) + '\n');
  else process.stdout.write(formatSimTable(res) + '\n');
}

/** "0.6,0.3,0.1": shares of the bug's faces, summing to 1. */
function parseFaces(v: string): number[] {
  const xs = String(v).split(',').map((x) => Number(x.trim()));
  const sum = xs.reduce((a, b) => a + b, 0);
  if (!xs.length || xs.some((x) => !(x > 0)) || Math.abs(sum - 1) > 1e-6) throw usageError(`--faces ${v}: give positive shares that add up to 1, e.g. 0.6,0.3,0.1`);
  if (xs.length > 4) throw usageError(`--faces ${v}: at most 4 faces`);
  return xs;
}

export default cmd;
