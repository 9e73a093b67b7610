import type { Argv } from 'yargs';
import type { RunOptions } from '../run/options.ts';
import { buildOptions, toBuildOptions } from './common.ts';
import { usageError, EXIT } from '../util/errors.ts';
import { parseCount, parseDuration, parseSize } from '../util/units.ts';
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
    .option('kernel', { alias: 'r', type: 'string', describe: 'boot this bzImage instead of building (vng: -r)' })
    .option('cpus', { alias: 'p', type: 'string', defaultDescription: '4', describe: 'vCPUs (-smp)' })
    .option('memory', { alias: 'm', type: 'string', defaultDescription: '1024', describe: 'guest memory: 2G, 512M, or a number of MB' })
    .option('duration', { type: 'string', defaultDescription: '60', describe: 'workload duration: 90, 90s, 2m, 1h (a number is seconds)' })
    .option('threads', { type: 'string', describe: 'workload threads (default 2 x vCPUs)' })
    .option('evidence', { type: 'string', array: true, describe: 'mmcid trace findings that count as bug evidence without a stall (fixup-missed-task, cid-leak, ...): recorded per run, rated by loop, a bad run for bisect' })
    .option('workload', { type: 'string', describe: 'workload mode and knobs: mode=wave (default) or mode=cells[,cells=N][,cell-threads=N][,linger-us=US][,pressure=N]' })
    .option('accel', { choices: ['auto', 'kvm', 'tcg'] as const, default: 'auto' as const, describe: 'KVM when usable, else multi-threaded TCG' })
    .option('boot', { choices: ['legacy', 'fast', 'pvh'] as const, default: 'pvh' as const, describe: 'pvh: qboot starts the uncompressed vmlinux at its PVH entry; fast: qboot loads the bzImage; both with a shorter kernel boot; legacy: SeaBIOS as before (QEMU backend)' })
    .option('append', { alias: 'a', type: 'string', describe: 'added to the kernel command line (repeatable, joined with spaces)' })
    .option('signature', { type: 'string', describe: 'regex: only a matching report counts as reproduced' })
    .option('title', { type: 'string', describe: 'exact title: only it counts as reproduced' })
    .option('self-test', { choices: ['soft-lockup', 'rcu-stall', 'hung-task', 'silent-hang'] as const, describe: 'load test_lockup to cause that real condition (silent-hang: every CPU spins with interrupts off)' })
    .option('hang-timeout', { type: 'string', defaultDescription: '45', describe: 'silence that makes a silent hang: 45, 45s, 2m' })
    .option('fast-hang', { type: 'boolean', defaultDescription: 'true', describe: 'when the heartbeat is late, sample the vCPUs over QMP: a hang is seen in seconds (--no-fast-hang: only the hang timeout)' })
    .option('boot-timeout', { type: 'string', defaultDescription: '120', describe: 'time to reach init: 120, 2m' })
    .option('grace', { type: 'string', defaultDescription: '10', describe: 'time to keep reading after the first report: 10, 10s' })
    .option('trace', { type: 'string', array: true, describe: 'trace events to enable in the guest (e.g. mmcid:* sched:sched_switch)' })
    .option('trace-buffer', { type: 'string', describe: 'trace buffer per CPU: 4M, 512K, or a number of KB' })
    .option('oops-buffer', { type: 'string', defaultDescription: '16K', describe: 'per CPU, the trace a panic dumps to the console (a small instance with the same events); 0: dump the whole trace buffer' })
    .option('results', { type: 'string', describe: 'results dir (default: results/ in the krepro checkout, or $KREPRO_RESULTS)' })
    .option('backend', { choices: ['qemu', 'vng'] as const, default: 'qemu' as const, describe: 'boot with QEMU directly, or through virtme-ng' })
    .option('verbose', { alias: 'v', type: 'boolean', default: false, describe: 'echo the console' });
}

type RunArgs = Record<string, unknown> & { kernel?: string; cpus: unknown; memory: unknown; duration: unknown; threads?: unknown; accel: 'auto' | 'kvm' | 'tcg'; boot?: 'legacy' | 'fast' | 'pvh'; append?: string | string[]; signature?: string; title?: string; 'self-test'?: RunOptions['selfTest']; 'hang-timeout': unknown; 'boot-timeout': unknown; grace: unknown; trace?: string[]; 'trace-buffer'?: unknown; 'oops-buffer'?: unknown; results?: string; backend: 'qemu' | 'vng' };

/** A whole number of seconds (the run's timers are in seconds). */
function seconds(flag: string, v: unknown): number {
  const s = parseDuration(flag, v);
  if (!Number.isInteger(s)) throw usageError(`--${flag} ${v}: give whole seconds (e.g. 90s or 2m)`);
  return s;
}

/** --signature '' (an unset shell variable) would make every crash match: refuse it. */
function nonEmpty(flag: string, v: string | undefined): string | undefined {
  if (v === undefined) return undefined;
  if (Array.isArray(v)) throw usageError(`--${flag} was given ${v.length} times: give it once`);
  if (!String(v).trim()) throw usageError(`--${flag} is empty (an unset shell variable?): give a ${flag === 'signature' ? 'regex such as \'mm_get_cid|soft lockup\'' : 'title'} or drop --${flag}`);
  return String(v);
}

/** --signature / --title as every command that judges takes them: not empty, not both, a valid regex. */
export function signatureOptions(a: { signature?: string; title?: string }): { signature: string | null; title: string | null } {
  const signature = nonEmpty('signature', a.signature);
  const title = nonEmpty('title', a.title);
  if (signature && title) throw usageError('give --signature or --title, not both');
  if (signature) {
    try {
      new RegExp(signature);
    } catch (e) {
      throw usageError(`--signature is not a valid regular expression: ${(e as Error).message}`);
    }
  }
  return { signature: signature ?? null, title: title ?? null };
}

export function toRunOptions(a: RunArgs): Partial<RunOptions> {
  const { signature, title } = signatureOptions(a);
  const b = toBuildOptions(a as Parameters<typeof toBuildOptions>[0]);
  const wantsBuild = a.tree || a.commit || (a.patch as string[] | undefined)?.length || (a.revert as string[] | undefined)?.length || (a.config as string[] | undefined)?.length || (a.profile && a.profile !== 'default');
  if (a.kernel !== undefined && !String(a.kernel).trim()) throw usageError('--kernel is empty: give the path of a bzImage');
  if (a.kernel && wantsBuild) throw usageError('--kernel boots a given bzImage: drop --tree/--commit/--patch/--revert/--config/--profile, or drop --kernel');
  const traceEvents = a.trace?.flatMap((t) => t.split(',')).filter(Boolean);
  const append = Array.isArray(a.append) ? a.append.join(' ') : a.append;
  return {
    build: a.kernel ? undefined : b,
    kernel: a.kernel,
    // No yargs defaults for these, so a bare `--cpus` is '' and refused, not 4 (RUN_DEFAULTS apply later).
    cpus: a.cpus === undefined ? undefined : parseCount('cpus', a.cpus),
    memoryMb: a.memory === undefined ? undefined : parseSize('memory', a.memory, 'MB'),
    durationSec: a.duration === undefined ? undefined : seconds('duration', a.duration),
    threads: a.threads === undefined ? undefined : parseCount('threads', a.threads),
    workload: a.workload as string | undefined,
    evidence: evidenceOption(a.evidence),
    accel: a.accel,
    boot: a.boot,
    append,
    signature,
    title,
    selfTest: a['self-test'] ?? null,
    hangTimeoutSec: a['hang-timeout'] === undefined ? undefined : seconds('hang-timeout', a['hang-timeout']),
    fastHang: a['fast-hang'] as boolean | undefined,
    bootTimeoutSec: a['boot-timeout'] === undefined ? undefined : seconds('boot-timeout', a['boot-timeout']),
    graceSec: a.grace === undefined ? undefined : parseDuration('grace', a.grace),
    traceEvents: traceEvents?.length ? traceEvents : null,
    traceBufferKb: a['trace-buffer'] === undefined ? undefined : parseSize('trace-buffer', a['trace-buffer'], 'KB'),
    oopsBufferKb: a['oops-buffer'] === undefined ? undefined : parseSize('oops-buffer', a['oops-buffer'], 'KB'),
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
      process.exit(EXIT.interrupted);
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
