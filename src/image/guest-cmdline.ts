import { usageError } from '../util/errors.ts';

/** The guest's self-tests: test_lockup.ko instead of the workload (--self-test). */
export type SelfTest = 'soft-lockup' | 'rcu-stall' | 'hung-task' | 'silent-hang';

/**
 * The guest's run parameters as kernel command line items (`krepro.*=`),
 * read by guest/init. One initramfs serves every run of a kernel; only the
 * command line changes.
 */
export interface GuestParams {
  durationSec?: number | null;
  threads?: number | null;           // null: the workload's default (2 x online CPUs)
  port?: number | null;              // vsock port, default 1024 in the guest
  vsock?: boolean;                   // false: no vsock listener/client
  selfTest?: SelfTest | null;        // load test_lockup instead of running the workload
  traceEvents?: string[] | null;     // set_event syntax: "mmcid:*", "sched:sched_switch"
  traceBufferKb?: number | null;
  oopsBufferKb?: number | null;      // per-CPU size of the instance a panic dumps (0: the whole buffer); traced runs only
  workload?: WorkloadSpec | null;    // the workload's mode and knobs (krepro.workload=)
}

/**
 * Per-CPU size (KB) of the small trace instance (same events) that a panic
 * dumps to the console (guest/init, krepro.oopsbuf). The dump goes through
 * printk and, from the NMI of a silent hang, must fit the log buffer
 * (log_buf_len=1M, src/vm/kernel-cmdline.ts) before the console sees any of
 * it. On the 7.2 stall 16 KB/CPU dumped 1800-2000 lines (~250 KB) that kept
 * the missed walk in 12 of 12 runs (README "Runs").
 */
export const OOPS_TRACE_KB = 16;

/**
 * The workload's mode and knobs, `--workload mode=cells,cells=4,cell-threads=6,linger-us=2000,pressure=0`
 * (see guest/workload.c). wave: today's triangle wave of threads in one
 * process; cells: fresh multi-threaded processes whose threads each keep a
 * vfork child alive while the new mm crosses the CPU count.
 */
export interface WorkloadSpec {
  mode: 'wave' | 'cells';
  cells?: number;          // concurrent cell-forking workers (default: online CPUs)
  cellThreads?: number;    // threads per cell, each with one vfork child (default 6)
  lingerUs?: number;       // how long a vfork child busy-waits before exec (default 2000)
  pressure?: number;       // busy threads in the main process (default 0)
}

const WORKLOAD_KEYS: Record<string, { key: keyof WorkloadSpec; min: number; max: number }> = {
  cells: { key: 'cells', min: 1, max: 1024 },
  'cell-threads': { key: 'cellThreads', min: 1, max: 64 },
  'linger-us': { key: 'lingerUs', min: 0, max: 1_000_000 },
  pressure: { key: 'pressure', min: 0, max: 1024 },
};

export function parseWorkloadSpec(text: string): WorkloadSpec {
  const spec: WorkloadSpec = { mode: 'wave' };
  const what = `--workload ${JSON.stringify(text)}`;
  for (const item of text.split(',').map((s) => s.trim()).filter(Boolean)) {
    const m = /^([a-z-]+)=(.*)$/.exec(item);
    if (!m) throw usageError(`${what}: write key=value items separated by commas, e.g. mode=cells,cell-threads=6`);
    const [, k, v] = m;
    if (k === 'mode') {
      if (v !== 'wave' && v !== 'cells') throw usageError(`${what}: mode is wave or cells, got ${JSON.stringify(v)}`);
      spec.mode = v;
      continue;
    }
    const d = WORKLOAD_KEYS[k];
    if (!d) throw usageError(`${what}: unknown key ${k}; keys are mode, ${Object.keys(WORKLOAD_KEYS).join(', ')}`);
    const n = Number(v);
    if (!/^\d+$/.test(v) || n < d.min || n > d.max) throw usageError(`${what}: ${k} must be an integer ${d.min}..${d.max}, got ${JSON.stringify(v)}`);
    (spec[d.key] as number) = n;
  }
  if (spec.mode === 'wave' && Object.keys(spec).length > 1) throw usageError(`${what}: cells, cell-threads, linger-us and pressure need mode=cells`);
  return spec;
}

/** The workload's own arguments for a spec (`--mode cells --cell-threads 6 ...`), as guest/init makes them. */
export function workloadArgv(s: WorkloadSpec): string[] {
  const out = ['--mode', s.mode];
  for (const [name, d] of Object.entries(WORKLOAD_KEYS)) if (s[d.key] != null) out.push(`--${name}`, String(s[d.key]));
  return out;
}

/** The canonical text of a spec (the guest's krepro.workload= value and run.json's). */
export function workloadSpecText(s: WorkloadSpec): string {
  const items = [`mode=${s.mode}`];
  for (const [name, d] of Object.entries(WORKLOAD_KEYS)) if (s[d.key] != null) items.push(`${name}=${s[d.key]}`);
  return items.join(',');
}

export const SELF_TESTS: readonly SelfTest[] = ['soft-lockup', 'rcu-stall', 'hung-task', 'silent-hang'];

/** Events may hold letters, digits, _ : * . - (what set_event accepts, no space or comma). */
const EVENT_RE = /^!?[A-Za-z0-9_.*-]+(:[A-Za-z0-9_.*-]+)?$/;

function positiveInt(name: string, v: number, max: number): number {
  if (!Number.isInteger(v) || v < 1 || v > max) throw usageError(`${name} must be an integer 1..${max}, got ${v}`);
  return v;
}

export function guestCmdline(p: GuestParams): string[] {
  const out: string[] = [];
  if (p.durationSec != null) out.push(`krepro.duration=${positiveInt('--duration', p.durationSec, 86400)}`);
  if (p.threads != null) out.push(`krepro.threads=${positiveInt('--threads', p.threads, 1024)}`);
  if (p.port != null) out.push(`krepro.port=${positiveInt('vsock port', p.port, 0x7fffffff)}`);
  if (p.vsock === false) out.push('krepro.vsock=0');
  if (p.selfTest != null) {
    if (!SELF_TESTS.includes(p.selfTest)) {
      throw usageError(`unknown self-test ${JSON.stringify(p.selfTest)}; use one of ${SELF_TESTS.join(', ')}`);
    }
    out.push(`krepro.selftest=${p.selfTest}`);
  }
  const events = (p.traceEvents ?? []).map((e) => e.trim()).filter(Boolean);
  for (const e of events) {
    if (!EVENT_RE.test(e)) {
      throw usageError(`bad trace event ${JSON.stringify(e)}; use subsystem:event, e.g. sched:sched_switch or mmcid:*`);
    }
  }
  if (events.length) out.push(`krepro.trace=${events.join(',')}`);
  if (p.workload && (p.workload.mode !== 'wave' || Object.keys(p.workload).length > 1)) out.push(`krepro.workload=${workloadSpecText(p.workload)}`);
  if (p.traceBufferKb != null) out.push(`krepro.tracebuf=${positiveInt('trace buffer size (KB)', p.traceBufferKb, 4 * 1024 * 1024)}`);
  if (events.length) {
    const kb = p.oopsBufferKb ?? OOPS_TRACE_KB;
    if (!Number.isInteger(kb) || kb < 0 || kb > 1024 * 1024) throw usageError(`--oops-buffer ${kb}: give 0 (dump the whole trace buffer) or a size up to 1G, e.g. 16K`);
    out.push(`krepro.oopsbuf=${kb}`);
  }
  return out;
}

/** A run's options -> the guest parameters, the same for both backends (the QEMU initramfs and vng). */
export function guestParamsOf(o: {
  durationSec: number;
  threads?: number | null;
  workload?: string | null;
  selfTest?: SelfTest | null;
  traceEvents?: string[] | null;
  traceBufferKb?: number | null;
  oopsBufferKb?: number | null;
}): GuestParams {
  return {
    durationSec: o.durationSec,
    threads: o.threads ?? null,
    workload: o.workload ? parseWorkloadSpec(o.workload) : null,
    selfTest: o.selfTest ?? null,
    traceEvents: o.traceEvents ?? null,
    traceBufferKb: o.traceBufferKb ?? null,
    oopsBufferKb: o.oopsBufferKb ?? null,
  };
}
