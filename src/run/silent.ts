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

/** Functions that are a spin when a vCPU stays in them: the lock slow paths and the mm_cid allocator of the v6.19 stall. */
export const KNOWN_SPINS = [
  /^mm_get_cid$/, /^mm_cid_get$/, /^__mm_cid_get$/, /^__mm_cid_try_get$/,
  /^(native_)?queued_spin_lock_slowpath$/, /^queued_(read|write)_lock_slowpath$/, /^_raw_spin_lock/, /^do_raw_spin_lock$/,
  /^csd_lock_wait$/, /^smp_call_function_many_cond$/,
];

/**
 * Library leaves: generic helpers a stuck CPU can sit in while the loop
 * that keeps calling them is its caller (the 7.2 stall sat in
 * _find_first_zero_bit, called from mm_get_cid's search of the CID
 * bitmap). Like the frames syzkaller's report parser skips, they say
 * nothing of the bug; the caller found on the stack does.
 */
const LIBRARY = [
  /^_?_?find_(first|next|last|nth)_/, /^_?_?bitmap_/, /^__?mem(cpy|set|move|cmp|chr)/, /^mem(cpy|set|move|cmp|chr)/,
  /^__?str(n?len|n?cmp|n?cpy|scpy|chr)/, /^str(n?len|n?cmp|n?cpy|scpy|chr)/, /^_?_?copy_(to|from)_user/, /^rep_movs/,
  /^clear_page/, /^copy_page/, /^__sw_hweight/, /^_?_?arch_hweight/, /^csum_partial/, /^sort_r?$/, /^bsearch/,
];

export function isLibraryLeaf(func: string | null): boolean {
  return func !== null && LIBRARY.some((re) => re.test(func));
}

/**
 * The caller of a vCPU stuck in a library leaf, from the words on top of
 * its stack (symbolized; null where a word is not a kernel text address):
 * the first text address outside the leaf and outside other library and
 * waiting frames, i.e. the nearest return address into real code. The
 * guest has no frame pointers (ORC), so this is a scan, like the kernel's
 * own `? func` lines: a stale address can come first, which is why it only
 * ever replaces a library leaf's name.
 */
export function callerFromStack(leaf: string, words: (string | null)[]): string | null {
  for (const sym of words) {
    const f = funcOf(sym);
    if (!f || f === leaf || isLibraryLeaf(f) || UNINFORMATIVE.some((re) => re.test(f))) continue;
    return sym;
  }
  return null;
}

/** The function a vCPU's title frame comes from: a library leaf's caller when one was found. */
function frameOf(v: VcpuState): string | null {
  const f = funcOf(v.symbol);
  return isLibraryLeaf(f) && v.caller ? funcOf(v.caller) : f;
}

export function funcOf(symbol: string | null): string | null {
  if (!symbol) return null;
  return symbol.split('+')[0] || null;
}

export function pickHangFrame(vcpus: VcpuState[], silentSec: number): CrashReport | null {
  if (!vcpus.length) return null;
  const funcs = vcpus.map(frameOf);
  const isInformative = (f: string | null): f is string => !!f && !UNINFORMATIVE.some((re) => re.test(f)) && !isLibraryLeaf(f);
  // A CPU in a known spin is the one the others wait on; another CPU's real
  // frame may be a wait for it (try_to_wake_up spinning on a task's on_cpu
  // while that task's CPU spins in mm_get_cid, 1 of 12 real 7.2 stalls).
  const spinning = funcs.find((f) => isInformative(f) && KNOWN_SPINS.some((re) => re.test(f)));
  const informative = spinning ?? funcs.find(isInformative);
  const leaf = funcs.find((f) => f && !UNINFORMATIVE.some((re) => re.test(f)));
  const any = funcs.find((f) => f);
  const frame = informative ?? leaf ?? any ?? null;
  const title = frame ? `INFO: silent hang in ${frame}` : 'INFO: silent hang';
  return {
    title,
    altTitles: [],
    type: 'HANG',
    frame,
    corrupted: false,
    startLine: -1,
    endLine: -1,
    stack: vcpus.map((v) => ({ func: funcOf(v.symbol) ?? `0x${v.rip}`, offset: v.symbol?.split('+')[1], raw: `CPU#${v.cpu} RIP ${v.rip} ${v.symbol ?? '?'}${v.source ? ` ${v.source}` : ''}${v.caller ? `, called from ? ${v.caller} (on its stack)` : ''} (no console output for ${silentSec} s)${v.stackScan?.length ? `; on its stack: ${v.stackScan.map((x) => `? ${x}`).join(' ')}` : ''}` })),
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
