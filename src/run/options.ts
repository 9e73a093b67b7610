import type { BuildOptions, BuildResult } from '../build/types.ts';
import { parseWorkloadSpec } from '../image/guest-cmdline.ts';
import { resultsRoot } from '../util/paths.ts';
import { usageError } from '../util/errors.ts';
import type { ScenarioRef } from './types.ts';
import { BOOT_PATHS, type BootPath } from '../vm/qemu-args.ts';
import type { SelfTest } from '../image/guest-cmdline.ts';

export type { SelfTest };


/** Everything one run needs; the defaults are RUN_DEFAULTS below, applied in resolveRunOptions. */
export interface RunOptions {
  build?: BuildOptions;          // build this kernel first ...
  prebuilt?: BuildResult;        // ... or use this build (loop/bisect pass it) ...
  kernel?: string;               // ... or boot this bzImage as given
  cpus: number;                  // vCPUs
  memoryMb: number;
  durationSec: number;           // workload duration
  threads?: number;              // workload threads, default 2 x cpus
  workload?: string | null;      // workload mode and knobs (parseWorkloadSpec), default mode=wave
  evidence?: string[];           // finding kinds that count as bug evidence (loop rates them, bisect decides on them)
  accel: 'auto' | 'kvm' | 'tcg';
  boot: BootPath;                // firmware path to the kernel (src/vm/qemu-args.ts), default pvh
  append?: string;               // added to the profile's command line
  signature?: string | null;     // regex; only matching reports count
  title?: string | null;         // exact title; only it counts
  selfTest?: SelfTest | null;
  hangTimeoutSec: number;        // silence => silent hang
  fastHang?: boolean;            // vCPU sampling once the heartbeat is late (stop-policy.ts), default on
  bootTimeoutSec: number;        // no init banner => boot-failed
  graceSec: number;              // keep reading after first detection
  traceEvents?: string[] | null; // tracefs events to enable, null = profile default
  traceBufferKb?: number;
  oopsBufferKb?: number;         // per-CPU KB of the trace instance a panic dumps, 0: the whole buffer (guest-cmdline.ts)
  resultsDir: string;            // parent of the run dir
  runDir?: string;               // exact run dir (loops give one per run)
  backend: 'qemu' | 'vng';
  scenario?: ScenarioRef | null; // recorded in run.json
  onLine?: (line: string) => void;  // console lines as they arrive
  onProgress?: (p: import('./progress.ts').RunProgress) => void;  // phase, counters, build progress: the live line
  signal?: AbortSignal;
}

/** The run defaults, the one copy (the CLI's option defaults and --help read them). */
export const RUN_DEFAULTS = {
  cpus: 4,
  memoryMb: 1024,
  durationSec: 60,
  accel: 'auto' as const,
  boot: 'pvh' as const,
  hangTimeoutSec: 45,
  fastHang: true,
  bootTimeoutSec: 120,
  graceSec: 10,
  backend: 'qemu' as const,
};

/** Apply defaults in one place and reject nonsense before anything starts. */
export function resolveRunOptions(o: Partial<RunOptions>): RunOptions {
  const r: RunOptions = {
    ...RUN_DEFAULTS,
    resultsDir: resultsRoot(),
    ...Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)),
  } as RunOptions;
  const posInt = (name: string, v: number, max: number) => {
    if (!Number.isInteger(v) || v < 1 || v > max) throw usageError(`--${name} ${v}: give an integer from 1 to ${max}`);
  };
  posInt('cpus', r.cpus, 64);
  posInt('memory', r.memoryMb, 1 << 20);
  if (r.memoryMb < 128) throw usageError(`--memory ${r.memoryMb}: the guest needs at least 128 MB`);
  posInt('duration', r.durationSec, 7 * 86400);
  posInt('hang-timeout', r.hangTimeoutSec, 86400);
  posInt('boot-timeout', r.bootTimeoutSec, 86400);
  if (!(r.graceSec >= 0 && r.graceSec <= 3600)) throw usageError(`--grace ${r.graceSec}: give 0 to 3600 seconds`);
  if (r.threads !== undefined && r.threads !== null) posInt('threads', r.threads, 4096);
  if (r.workload) parseWorkloadSpec(r.workload);
  if (!['auto', 'kvm', 'tcg'].includes(r.accel)) throw usageError(`--accel ${r.accel}: choose auto, kvm or tcg`);
  if (!BOOT_PATHS.includes(r.boot)) throw usageError(`--boot ${r.boot}: choose ${BOOT_PATHS.join(' or ')}`);
  if (r.signature) {
    try {
      new RegExp(r.signature);
    } catch (e) {
      throw usageError(`--signature is not a valid regular expression: ${(e as Error).message}`);
    }
  }
  if ([r.build, r.prebuilt, r.kernel].filter(Boolean).length > 1) throw usageError('give either --kernel or --tree/--commit, not both');
  return r;
}

