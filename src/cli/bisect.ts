import type { CommandModule } from 'yargs';
import { runOptions, toRunOptions, abortOnSignals } from './run-options.ts';
import { progressPrinter } from './common.ts';
import { usageError } from '../util/errors.ts';
import { startBisect, resumeBisect, type BisectReport, type EnvFactory } from '../bisect/engine.ts';
import { realEnv, type RealEnvConfig } from '../bisect/real-env.ts';
import { signatureWithEvidence } from '../verdict/evidence.ts';
import { simulate, formatSimTable, SIM_DEFAULTS } from '../bisect/simulate.ts';

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
  'unrelated-rate': number;
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
      .option('confidence', { type: 'number', default: 0.95, describe: 'target probability that the named commit is the one' })
      .option('max-runs', { type: 'number', default: 60, describe: 'cap on runs per commit' })
      .option('resume', { type: 'string', describe: 'continue the bisection kept in this bisect-<id> dir' })
      .option('simulate', { type: 'boolean', default: false, describe: 'run the policy and syzkaller\'s on simulated histories; no kernel' })
      .option('trials', { type: 'number', default: SIM_DEFAULTS.trials, describe: '--simulate: trials per reproduction rate' })
      .option('commits', { type: 'number', default: SIM_DEFAULTS.commits, describe: '--simulate: commits in the range' })
      .option('seed', { type: 'number', default: SIM_DEFAULTS.seed, describe: '--simulate: random seed' })
      .option('rates', { type: 'number', array: true, describe: '--simulate: reproduction rates (default 1 0.5 0.3 0.1)' })
      .option('unrelated-rate', { type: 'number', default: SIM_DEFAULTS.unrelatedRate, describe: '--simulate: chance of an unrelated crash per run' })
      .option('build-cost', { type: 'number', default: SIM_DEFAULTS.buildCost, describe: '--simulate: seconds per build' })
      .option('run-cost', { type: 'number', default: SIM_DEFAULTS.runCost, describe: '--simulate: seconds per run' })
      .option('json', { type: 'boolean', default: false, describe: 'print one JSON object' })
      .epilogue(
        'Each commit is run until a crash matching the signature (bad) or until enough clean runs make the bug unlikely (good); ' +
          'the answer is verified on already-built commits until its posterior reaches --confidence. ' +
          'State: <results>/bisect-<id>/bisect.json after every run; bisect.log replays with `git bisect replay`. ' +
          'Exit codes: 0 culprit named, 125 inconclusive (skipped commits), 255 usage or infrastructure error.',
      ),
  handler: async (a) => {
    const args = a as unknown as Args;
    if (args.simulate) return simulateCmd(args);
    const { signal, dispose } = abortOnSignals();
    const printer = progressPrinter();
    const log = (l: string) => process.stderr.write(`krepro: ${l}\n`);
    const factory: EnvFactory = ({ tree, outDir, envConfig }) =>
      realEnv({ tree, outDir, config: envConfig as unknown as RealEnvConfig, signal, progress: args.json ? undefined : printer, log });
    try {
      let report: BisectReport;
      if (args.resume) {
        report = await resumeBisect(args.resume, factory, log);
      } else {
        if (!args.tree) throw usageError('--tree DIR is required: the git tree to bisect');
        if (!args.good || !args.bad) throw usageError('--good REV and --bad REV are required (or --resume DIR)');
        if (args.kernel || args.commit) throw usageError('bisect picks the commits itself: drop --kernel/--commit');
        const ro = toRunOptions({ ...args, signature: undefined, title: undefined });
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
  const rates = args.rates ?? SIM_DEFAULTS.rates;
  for (const p of rates) if (!(p > 0 && p <= 1)) throw usageError(`--rates ${p}: give rates in (0, 1]`);
  if (!(args['unrelated-rate'] >= 0 && args['unrelated-rate'] < 1)) throw usageError('--unrelated-rate: give a value in [0, 1)');
  if (!(args.confidence > 0 && args.confidence < 1)) throw usageError('--confidence must be between 0 and 1, e.g. 0.95');
  const res = await simulate({
    rates,
    trials: args.trials,
    commits: args.commits,
    seed: args.seed,
    unrelatedRate: args['unrelated-rate'],
    buildCost: args['build-cost'],
    runCost: args['run-cost'],
    confidence: args.confidence,
    maxRuns: args['max-runs'],
  });
  if (args.json) {
    const pick = (s: (typeof res.rows)[number]['krepro']) => ({
      accuracy: s.accuracy,
      meanRuns: s.meanRuns,
      meanBuilds: s.meanBuilds,
      meanCost: s.meanCost,
      meanConfidence: s.meanConfidence,
      noAnswer: s.failed,
    });
    process.stdout.write(JSON.stringify({ options: res.options, rows: res.rows.map((r) => ({ rate: r.rate, krepro: pick(r.krepro), syzkaller: pick(r.syzkaller) })) }) + '\n');
  } else {
    process.stdout.write(formatSimTable(res) + '\n');
  }
}

export default cmd;
