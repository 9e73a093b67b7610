import type { SelfTest } from '../run/options.ts';
import { usageError } from '../util/errors.ts';

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
  if (p.traceBufferKb != null) out.push(`krepro.tracebuf=${positiveInt('trace buffer size (KB)', p.traceBufferKb, 4 * 1024 * 1024)}`);
  return out;
}
