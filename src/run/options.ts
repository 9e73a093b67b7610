import type { BuildOptions, BuildResult } from '../build/types.ts';
import type { ScenarioRef } from './types.ts';
import type { BootPath } from '../vm/qemu-args.ts';
import type { SelfTest } from '../image/cmdline.ts';

export type { SelfTest };


/** Everything one run needs; defaults are applied in one place (resolveRunOptions). */
export interface RunOptions {
  build?: BuildOptions;          // build this kernel first ...
  prebuilt?: BuildResult;        // ... or use this build (loop/bisect pass it) ...
  kernel?: string;               // ... or boot this bzImage as given
  cpus: number;                  // default 4
  memoryMb: number;              // default 1024
  durationSec: number;           // workload duration, default 60
  threads?: number;              // workload threads, default 2 x cpus
  workload?: string | null;      // workload mode and knobs (parseWorkloadSpec), default mode=wave
  evidence?: string[];           // finding kinds that count as bug evidence (loop rates them, bisect decides on them)
  accel: 'auto' | 'kvm' | 'tcg';
  boot: BootPath;                // firmware path to the kernel (src/vm/qemu-args.ts), default fast
  append?: string;               // added to the profile's command line
  signature?: string | null;     // regex; only matching reports count
  title?: string | null;         // exact title; only it counts
  selfTest?: SelfTest | null;
  hangTimeoutSec: number;        // silence => silent hang, default 60
  bootTimeoutSec: number;        // no init banner => boot-failed, default 120
  graceSec: number;              // keep reading after first detection, default 10
  traceEvents?: string[] | null; // tracefs events to enable, null = profile default
  traceBufferKb?: number;
  resultsDir: string;            // parent of the run dir
  runDir?: string;               // exact run dir (loops give one per run)
  backend: 'qemu' | 'vng';
  scenario?: ScenarioRef | null; // recorded in run.json
  onLine?: (line: string) => void;  // console lines as they arrive
  signal?: AbortSignal;
}
