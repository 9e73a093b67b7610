import type { Argv } from 'yargs';
import { RUN_DEFAULTS, type RunOptions } from '../run/options.ts';
import { buildOptions, toBuildOptions } from './common.ts';
import { usageError } from '../util/errors.ts';
import { parseEvidenceKinds } from '../verdict/evidence.ts';

function evidenceOption(v: unknown): string[] | undefined {
  if (v === undefined) return undefined;
  try {
    return parseEvidenceKinds(v as string | string[]);
  } catch (e) {
    throw usageError(`--evidence: ${(e as Error).message}`);
  }
}
import { scenarioOption, scenarioOf } from './scenario.ts';

/** Options of `krepro run`, shared by loop and bisect. */
export function runOptions<T>(y: Argv<T>) {
  return scenarioOption(buildOptions(y))
    .option('kernel', { type: 'string', describe: 'boot this bzImage instead of building' })
    .option('cpus', { type: 'number', default: RUN_DEFAULTS.cpus, describe: 'vCPUs (-smp)' })
    .option('memory', { type: 'number', default: RUN_DEFAULTS.memoryMb, describe: 'guest memory in MB' })
    .option('duration', { type: 'number', default: RUN_DEFAULTS.durationSec, describe: 'workload duration in seconds' })
    .option('threads', { type: 'number', describe: 'workload threads (default 2 x vCPUs)' })
    .option('evidence', { type: 'string', array: true, describe: 'mmcid trace findings that count as bug evidence without a stall (fixup-missed-task, cid-leak, ...): recorded per run, rated by loop, a bad run for bisect' })
    .option('workload', { type: 'string', describe: 'workload mode and knobs: mode=wave (default) or mode=cells[,cells=N][,cell-threads=N][,linger-us=US][,pressure=N]' })
    .option('accel', { choices: ['auto', 'kvm', 'tcg'] as const, default: RUN_DEFAULTS.accel, describe: 'KVM when usable, else multi-threaded TCG' })
    .option('boot', { choices: ['legacy', 'fast'] as const, default: RUN_DEFAULTS.boot, describe: 'fast: qboot firmware and a shorter kernel boot; legacy: SeaBIOS as before (QEMU backend)' })
    .option('append', { type: 'string', describe: 'added to the kernel command line' })
    .option('signature', { type: 'string', describe: 'regex: only a matching report counts as reproduced' })
    .option('title', { type: 'string', describe: 'exact title: only it counts as reproduced' })
    .option('self-test', { choices: ['soft-lockup', 'rcu-stall', 'hung-task', 'silent-hang'] as const, describe: 'load test_lockup to cause that real condition (silent-hang: every CPU spins with interrupts off)' })
    .option('hang-timeout', { type: 'number', default: RUN_DEFAULTS.hangTimeoutSec, describe: 'seconds of silence that make a silent hang' })
    .option('fast-hang', { type: 'boolean', default: RUN_DEFAULTS.fastHang, describe: 'when the heartbeat is late, sample the vCPUs over QMP: a hang is seen in seconds (--no-fast-hang: only the hang timeout)' })
    .option('boot-timeout', { type: 'number', default: RUN_DEFAULTS.bootTimeoutSec, describe: 'seconds to reach init' })
    .option('grace', { type: 'number', default: RUN_DEFAULTS.graceSec, describe: 'seconds to keep reading after the first report' })
    .option('trace', { type: 'string', array: true, describe: 'trace events to enable in the guest (e.g. mmcid:* sched:sched_switch)' })
    .option('trace-buffer', { type: 'number', describe: 'trace buffer per CPU in KB' })
    .option('results', { type: 'string', describe: 'results dir (default: results/ in the krepro checkout, or $KREPRO_RESULTS)' })
    .option('backend', { choices: ['qemu', 'vng'] as const, default: RUN_DEFAULTS.backend, describe: 'boot with QEMU directly, or through virtme-ng' })
    .option('verbose', { type: 'boolean', default: false, describe: 'echo the console' });
}

type RunArgs = Record<string, unknown> & { kernel?: string; cpus: number; memory: number; duration: number; threads?: number; accel: 'auto' | 'kvm' | 'tcg'; boot?: 'legacy' | 'fast'; append?: string; signature?: string; title?: string; 'self-test'?: RunOptions['selfTest']; 'hang-timeout': number; 'boot-timeout': number; grace: number; trace?: string[]; 'trace-buffer'?: number; results?: string; backend: 'qemu' | 'vng' };

export function toRunOptions(a: RunArgs): Partial<RunOptions> {
  if (a.signature && a.title) throw usageError('give --signature or --title, not both');
  const b = toBuildOptions(a as Parameters<typeof toBuildOptions>[0]);
  const wantsBuild = a.tree || a.commit || (a.patch as string[] | undefined)?.length || (a.revert as string[] | undefined)?.length || (a.config as string[] | undefined)?.length || (a.profile && a.profile !== 'default');
  if (a.kernel && wantsBuild) throw usageError('--kernel boots a given bzImage: drop --tree/--commit/--patch/--revert/--config/--profile, or drop --kernel');
  const traceEvents = a.trace?.flatMap((t) => t.split(',')).filter(Boolean);
  return {
    build: a.kernel ? undefined : b,
    kernel: a.kernel,
    cpus: a.cpus,
    memoryMb: a.memory,
    durationSec: a.duration,
    threads: a.threads,
    workload: a.workload as string | undefined,
    evidence: evidenceOption(a.evidence),
    accel: a.accel,
    boot: a.boot,
    append: a.append,
    signature: a.signature ?? null,
    title: a.title ?? null,
    selfTest: a['self-test'] ?? null,
    hangTimeoutSec: a['hang-timeout'],
    fastHang: a['fast-hang'] as boolean | undefined,
    bootTimeoutSec: a['boot-timeout'],
    graceSec: a.grace,
    traceEvents: traceEvents?.length ? traceEvents : null,
    traceBufferKb: a['trace-buffer'],
    resultsDir: a.results,
    backend: a.backend,
    scenario: scenarioOf(a),
  };
}

/** SIGINT/SIGTERM abort the run (QEMU is stopped, run.json says interrupted). */
export function abortOnSignals(): { signal: AbortSignal; dispose: () => void } {
  const ac = new AbortController();
  let count = 0;
  const h = (sig: NodeJS.Signals) => {
    count++;
    if (count === 1) {
      process.stderr.write(`\nkrepro: ${sig}: stopping the guest and saving what was collected\n`);
      ac.abort();
    } else {
      process.exit(255);
    }
  };
  process.on('SIGINT', h);
  process.on('SIGTERM', h);
  return {
    signal: ac.signal,
    dispose: () => {
      process.off('SIGINT', h);
      process.off('SIGTERM', h);
    },
  };
}
