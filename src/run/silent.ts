import type { CrashReport } from '../console/types.ts';
import type { VcpuState } from './types.ts';

/**
 * Title a silent hang from where the vCPUs are stuck. Frames that only say
 * "waiting" (spinlock slow paths, idle, cpu relax) are skipped, like the
 * classifier skips them in stacks: on the injected CID-leak kernel this
 * names mm_cid_get on CPU 1 over queued_spin_lock_slowpath on the others.
 */
const UNINFORMATIVE = [
  /^queued_spin_lock_slowpath/, /^native_queued_spin_lock_slowpath/, /^_raw_spin_lock/, /^__raw_spin_lock/, /^do_raw_spin_lock/,
  /^default_idle/, /^native_safe_halt/, /^pv_native_safe_halt/, /^cpu_idle/, /^do_idle/, /^acpi_idle/, /^mwait_idle/,
  /^native_halt/, /^halt/, /^smp_call_function_many_cond/, /^csd_lock_wait/, /^cpu_relax/, /^rep_nop/, /^delay_tsc/, /^__const_udelay/,
  /^queued_read_lock_slowpath/, /^queued_write_lock_slowpath/, /^pv_wait/, /^kvm_wait/,
];

export function funcOf(symbol: string | null): string | null {
  if (!symbol) return null;
  return symbol.split('+')[0] || null;
}

export function pickHangFrame(vcpus: VcpuState[], silentSec: number): CrashReport | null {
  if (!vcpus.length) return null;
  const funcs = vcpus.map((v) => funcOf(v.symbol));
  const informative = funcs.find((f) => f && !UNINFORMATIVE.some((re) => re.test(f)));
  const any = funcs.find((f) => f);
  const frame = informative ?? any ?? null;
  const title = frame ? `INFO: silent hang in ${frame}` : 'INFO: silent hang';
  return {
    title,
    altTitles: [],
    type: 'HANG',
    frame,
    corrupted: false,
    startLine: -1,
    endLine: -1,
    stack: vcpus.map((v) => ({ func: funcOf(v.symbol) ?? `0x${v.rip}`, offset: v.symbol?.split('+')[1], raw: `CPU#${v.cpu} RIP ${v.rip} ${v.symbol ?? '?'}${v.source ? ` ${v.source}` : ''} (no console output for ${silentSec} s)` })),
  };
}

/**
 * A console that ends in the NMI krepro sent a silent guest shows only the
 * CPU that took the NMI; the run's vCPU samples show all of them. Title
 * such a report as the live detector did, so `krepro classify` of a run's
 * console and the run agree.
 */
export function titleWithVcpus(reports: CrashReport[], vcpus: VcpuState[] | null | undefined, silentSec: number): CrashReport[] {
  const first = reports[0];
  if (!first || !vcpus?.length || !first.title.startsWith('INFO: silent hang')) return reports;
  const live = pickHangFrame(vcpus, silentSec);
  if (!live) return reports;
  return [{ ...first, title: live.title, frame: live.frame, altTitles: [first.title, ...first.altTitles] }, ...reports.slice(1)];
}
