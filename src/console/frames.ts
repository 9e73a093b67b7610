/**
 * Stack frames: parsing frame lines, and choosing the frame a title names.
 *
 * A title names one frame ("WARNING in foo"). Most frames in a kernel stack
 * say nothing about the bug: the reporting machinery (printk, dump_stack,
 * panic, __warn), sanitizer hooks, locking primitives, allocators, string
 * helpers. Those are skipped. Stalls and lockups are different: the CPU loops
 * somewhere and the sampled top frame is random, so the frame just above a
 * dispatch point (syscall entry, workqueue, softirq, initcall...) names the
 * stuck code instead.
 */
import type { Frame } from './types.ts';

// Shared regex fragments (all linear: no nested quantifiers).
/** `[<ffffffff81234567>]` or `[ffffffff81234567]` */
export const PC = String.raw`\[<?(?:0x)?[0-9a-f]+>?\]`;
/** a function name followed by "+0x.." or ".isra.0" (captures the name) */
export const FUNC = String.raw`([a-zA-Z0-9_]+)(?:\.|\+)`;
/** "net/core/dev.c:1234" (captured) */
export const SRC = String.raw`([a-zA-Z0-9_/.\-]+\.[a-z]+:[0-9]+)`;

/** The faulting instruction pointer line on x86 (RIP), powerpc (NIP), arm (pc / PC is at). */
export const RIP_FRAME = new RegExp(
  String.raw`(?:IP|NIP|pc |PC is at):? (?:(?:[0-9]+:)?(?:${PC} +){0,2}${FUNC}|(?:[0-9]+:)?0x[0-9a-f]+|(?:[0-9]+:)?${PC} +\[< *\(null\)>\] +\(null\)|[0-9]+: +\(null\))`,
);
export const CALL_TRACE = /Call [Tt]race:|Backtrace:/;

/** Lines that start a stack trace in a report. */
export const STACK_START: RegExp[] = [
  /Call [Tt]race/,
  /Allocated:/,
  /Allocated by task [0-9]+:/,
  /Freed:/,
  /Freed by task [0-9]+:/,
  /[^k] backtrace(?: \(crc [0-9a-fA-F]*\))?:/,
  /Backtrace:/,
  /Uninit was stored to memory at/,
  /status: [0-9a-f]{16} badaddr: [0-9a-f]{16} cause: [0-9a-f]{16}/,
];
export const RISCV_STACK_START = STACK_START[STACK_START.length - 1]!;
const STACK_START_ANY = new RegExp(STACK_START.map((r) => r.source).join('|'));
export function isStackStart(text: string): boolean {
  return STACK_START_ANY.test(text);
}

/** Fault-injection stacks interleave with reports and spoil them. */
export const CORRUPTED_LINE = new RegExp(String.raw`^(?: ${PC})? should_fail(?:slab)?(?:\.[a-z0-9.]+)?\+0x`);

const FRAME_X86 = new RegExp(String.raw`^ *(?:${PC} ){0,2}${FUNC}`);
const FRAME_ARM = new RegExp(String.raw`^ *${PC} \(([a-zA-Z0-9_.]+)\) from ${PC} \(${FUNC}`);

/** Function names found in a stack line (0, 1 or, for arm "x from y", 2). */
export function frameNames(text: string): string[] | null {
  let m = FRAME_X86.exec(text);
  if (m) return [m[1]!];
  if (text.indexOf(' from ') !== -1) {
    m = FRAME_ARM.exec(text);
    if (m) return [m[1]!, m[2]!];
  }
  return null;
}

const FRAME_DETAIL = /^ *(?:\[<?(?:0x)?[0-9a-f]+>?\] ){0,2}([a-zA-Z0-9_.]+)\+(0x[0-9a-f]+\/0x[0-9a-f]+)(?: \[([a-zA-Z0-9_]+)[\] ])?/;

/** A Frame for the report's stack (func, offset, module). */
export function toFrame(text: string, func: string): Frame {
  const m = FRAME_DETAIL.exec(text);
  const f: Frame = { func, raw: text.trim() };
  if (m) {
    f.offset = m[2];
    if (m[3]) f.module = m[3];
  }
  return f;
}

/**
 * Frames that never name a bug. Matched as regex alternatives against the
 * function name (substring unless anchored).
 */
export const SKIP_ALWAYS: string[] = [
  // sanitizers and their checks
  '__sanitizer', '__asan', 'kasan', 'hwasan', '__msan', 'kmsan', 'kcsan_setup_watchpoint',
  'check_memory_region', 'check_heap_object', 'check_object', 'read_word_at_a_time',
  '(?:read|write)_once_.*nocheck',
  // the reporting machinery: printk, dump_stack, panic, WARN, traps
  'print_address_description', 'panic', 'invalid_op', 'report_bug', 'fixup_bug', 'print_report',
  'print_usage_bug', 'do_error', '_trap$|do_trap', 'show_stack', 'dump_stack', 'walk_stack',
  'dump_backtrace', 'warn_slowpath', 'warn_alloc', 'warn_bogus', '__warn', 'print_tainted',
  'stack_trace_consume_entry', 'arch_stack_walk', 'stack_trace_save', 'get_taint$',
  'program_check_exception', 'program_check_common', '__fortify_report', 'assertfail',
  'hex_dump_to_buffer', 'print_hex_dump',
  // allocators
  'alloc_page', 'k?v?(?:m|z|c)alloc', 'krealloc', 'kmem_cache', 'allocate_slab',
  '__alloc_frozen_pages_noprof', 'folio_(?:alloc|unlock)', 'filemap_alloc_folio',
  '__filemap_get_folio', 'find_or_create_page', 'do_read_cache_folio', 'read_cache_page',
  'pagecache_get_page', 'grab_cache_page_write_begin', 'slab_', '^kv?free$', 'kfree_skb',
  // debug objects, lockdep and locking primitives
  'debug_object', 'timer_is_static_object', 'work_is_static_object', 'print_unlock',
  'imbalance_bug', 'lockdep', 'bh_enable', 'bh_disable', 'perf_trace', 'lock_acquire',
  'lock_release', 'lock_class', 'mark_lock', '(?:reacquire|mark)_held_locks', 'raw_spin_rq',
  'spin_lock', 'spin_trylock', 'spin_unlock', 'read_lock', 'read_trylock', 'write_lock',
  'write_trylock', 'read_unlock', 'write_unlock', '^down$', 'down_read', 'down_write',
  'down_trylock', 'up_read', 'up_write', '^mutex_', '^__mutex_', '^rt_mutex_', 'owner_on_cpu',
  'osq_lock', 'osq_unlock', '^(?:un)?lock_page', 'lock_timer_base',
  // atomics, bitops, refcounts, wakeups
  'atomic(?:64)?_(?:dec|inc|read|set|or|xor|and|add|sub|fetch|xchg|cmpxchg|try)',
  '(?:set|clear|change|test)_bit', '__wake_up', '^refcount_', '^kref_', 'ref_tracker',
  'seqprop_assert', '^complete$', 'wait_for_completion', 'finish_wait',
  // string and copy helpers
  'memcpy', 'memcmp', 'memset', 'memchr', 'memmove', 'memdup', 'strcmp', 'strncmp', 'strcpy',
  'strlcpy', 'strncpy', 'strscpy', 'strlen', 'strstr', 'strnstr', 'strnlen', 'strchr', 'strdup',
  'strndup', 'copy_to_user', 'copy_from_user', 'copy_to_iter', 'copy_from_iter',
  'copy_page_to_iter', 'copy_page_from_iter', 'copy_folio_to_iter', '^copyin$', '^copyout$',
  'put_user', 'get_user', 'might_fault', 'might_sleep', '__might_resched', 'list_add',
  'list_del', 'list_replace', 'list_move', 'list_splice', '^rb_', '^__rb_', '_indirect_thunk_',
  'string', 'pointer', 'snprintf', 'scnprintf', 'kasprintf', 'kvasprintf', 'printk',
  'va_format', 'dev_info', 'dev_notice', 'dev_warn', 'dev_err', 'dev_alert', 'dev_crit',
  'dev_emerg', 'extract_(?:user|iter)_to_sg', '^crc\\d+', 'crc_itu_t', 'readb$', 'readw$',
  'readl$', 'readq$', 'writeb$', 'writew$', 'writel$', 'writeq$', 'logic_in', 'logic_out',
  // timers and work items: the owner of the timer/work is the interesting one
  'del_timer', 'flush_work', '__cancel_work_timer', 'cancel_work_sync', 'try_to_grab_pending',
  'flush_workqueue', 'drain_workqueue', 'destroy_workqueue', 'queue_work', 'kthread_stop',
  'insert_work', '__queue_delayed_work', 'queue_delayed_work_on', '__timer_delete_sync',
  'sk_stop_timer_sync', '__mod_timer',
  // device model and teardown helpers
  'kobject_', 'add_uevent_var', 'get_device_parent', 'device_add', 'device_del',
  'device_unregister', 'device_destroy', 'device_release', 'devres_release_all',
  'hwrng_unregister', 'i2c_del_adapter', '__unregister_client', 'device_for_each_child',
  'rollback_registered', 'unregister_netdev', 'sysfs_remove', 'device_remove_file',
  'tty_unregister_device', '^put_device$', '^klist_', 'ida_free', 'cleanup_srcu_struct',
  'rhashtable_lookup', 'drop_nlink', 'fast_dput', 'dput', 'mark_buffer_dirty', '^iput$',
  '^iput_final$', '^ihold$',
  // usb plumbing
  'dummy_urb_enqueue', 'usb_kill_urb', 'usb_kill_anchored_urbs', 'usb_control_msg',
  'usb_hcd_submit_urb', 'usb_submit_urb',
  // irq state tracing and arm64 fault entry
  '(?:trace|lockdep)_(?:hard|soft)irq', 'do_(?:kernel|translation)_fault', 'do_mem_abort',
  'el1_abort', 'el1h_64_sync(?:_handler)?',
  // page cache walkers
  'xas_(?:start|load|find)', 'find_lock_entries', 'truncate_inode_pages_range', '__phys_addr',
];

const SKIP_ALWAYS_RE = new RegExp(SKIP_ALWAYS.map((s) => `(?:${s})`).join('|'));
const alwaysCache = new Map<string, boolean>();

/** Is this frame one of those that never name a bug? (memoized: stacks repeat names) */
export function alwaysSkipped(name: string): boolean {
  let v = alwaysCache.get(name);
  if (v === undefined) {
    v = SKIP_ALWAYS_RE.test(name);
    if (alwaysCache.size > 50000) alwaysCache.clear();
    alwaysCache.set(name, v);
  }
  return v;
}

/** Compile a rule's own skip list into one regex (null when empty). */
export function skipRegex(extra: string[] = []): RegExp | null {
  return extra.length === 0 ? null : new RegExp(extra.map((s) => `(?:${s})`).join('|'));
}

/** Syscall wrapper prefixes differ between arches and versions; titles drop them. */
export const SYSCALL_PREFIXES = [
  'SYSC_', 'SyS_', 'sys_', '__x64_', '__ia32_', '__arm64_', '____sys_', '___sys_', '__sys_',
  '__se_', '__se_sys_', '__do_sys_', 'compat_SYSC_', 'compat_SyS_', 'ksys_',
];

/** Shortest name left after removing one known syscall prefix. */
const PREFIX_FIRST = new Set(SYSCALL_PREFIXES.map((p) => p[0]));
export function stripSyscallPrefix(name: string): string {
  if (!PREFIX_FIRST.has(name[0])) return name;
  let best = name;
  for (const p of SYSCALL_PREFIXES) {
    if (name.startsWith(p) && name.length - p.length < best.length) best = name.slice(p.length);
  }
  return best;
}

/** Picks the index of the frame a title names among the non-skipped frames, or -1. */
export type FrameChooser = (frames: string[]) => { name: string; index: number } | null;

/**
 * Dispatch points for stalls and lockups: the frame just above the first of
 * these (walking from the top of the stack) names the stuck code.
 */
const STALL_ANCHORS = new RegExp(
  [
    // work dispatch: workqueues, softirqs, timers, kthreads, CPU bring-up
    'process_one_work', 'do_softirq', 'call_timer_fn', '_run_timers', 'run_timer_softirq',
    'hrtimer_run', 'run_ksoftirqd', 'smpboot_thread_fn', '^kthread$', 'start_secondary',
    'cpu_startup_entry', 'ret_from_fork', 'tasklet_action', 'tasklet_hi_action',
    'smp_call_function', 'netif_receive_skb', '^do_one_initcall$',
    // syscall entry
    'do_syscall_', 'do_fast_syscall_', 'sysenter_dispatch', 'tracesys_phase2', 'el0_svc_handler',
    'invoke_syscall', 'ret_fast_syscall',
    // file operations, ioctl, mmap, open
    'vfs_write', 'vfs_read', 'vfs_iter_read', 'vfs_iter_write', 'do_iter_read', 'do_iter_write',
    'call_read_iter', 'call_write_iter', 'new_sync_read', 'new_sync_write', 'vfs_ioctl',
    'ksys_ioctl', 'compat_ioctl', 'compat_sys_ioctl', 'blkdev_driver_ioctl', 'blkdev_ioctl',
    'do_iter_readv_writev', '^call_mmap', 'mmap_region', 'do_mmap', 'do_dentry_open', 'vfs_open',
    // sockets and netlink
    '^sock_sendmsg', '^sock_recvmsg', '^sock_release', '^__sock_release', '^setsockopt$',
    'kernel_setsockopt', 'sock_common_setsockopt', '^listen$', 'kernel_listen',
    'sk_common_release', '^sock_mmap', '^accept$', 'kernel_accept', '^sock_do_ioctl',
    '^sock_ioctl', '^compat_sock_ioctl', '^nfnetlink_rcv_msg', '^rtnetlink_rcv_msg',
    '^netlink_dump', '^(?:sys_)?(?:socketpair|connect|ioctl)',
    // page faults
    '__do_fault', 'do_page_fault', '^page_fault$',
    // return-to-user work
    '__fput', 'task_work_run', 'exit_to_usermode',
  ]
    .map((s) => `(?:${s})`)
    .join('|'),
);

/**
 * Entry points of a fault taken in user mode on newer kernels: used only when
 * the stack has no other dispatch point (a kernel fault inside a syscall is
 * named by the syscall).
 */
const USER_FAULT_ANCHORS = /^__?handle_mm_fault$|^do_user_addr_fault$|^exc_page_fault$|^asm_exc_page_fault$/;

/** Frames that say nothing about where a CPU is stuck: scheduler and idle loop. */
export const STALL_SKIP = [
  '^__schedule$', '^schedule$', '^schedule_idle$', '^preempt_schedule', '^do_idle$', '^cpu_idle',
  '^default_idle', '^arch_cpu_idle', '^cpuidle_', 'queued_spin_lock_slowpath', '^native_safe_halt$',
];

/** Stalls and lockups: the frame above the first dispatch point. */
export const stallChooser: FrameChooser = (frames) => aboveAnchor(frames, STALL_ANCHORS) ?? aboveAnchor(frames, USER_FAULT_ANCHORS);

const anchorCache = new Map<RegExp, Map<string, boolean>>();
function isAnchor(anchors: RegExp, f: string): boolean {
  let c = anchorCache.get(anchors);
  if (!c) anchorCache.set(anchors, (c = new Map()));
  let v = c.get(f);
  if (v === undefined) {
    v = anchors.test(f);
    if (c.size > 50000) c.clear();
    c.set(f, v);
  }
  return v;
}

function aboveAnchor(frames: string[], anchors: RegExp): { name: string; index: number } | null {
  let prev = 0;
  for (let i = 0; i < frames.length; i++) {
    const f = frames[i]!;
    if (isAnchor(anchors, f)) {
      // smp_call_function* variants all mean "waiting for other CPUs"
      if (f.indexOf('smp_call_function') !== -1) return { name: 'smp_call_function', index: i };
      return { name: frames[prev]!, index: prev };
    }
    prev = i;
  }
  return null;
}

const HANG_BUCKETS: [string, string][] = [
  ['rtnl_lock', ''],
  ['synchronize_rcu', 'synchronize_rcu'],
  ['synchronize_srcu', 'synchronize_rcu'],
  ['synchronize_net', 'synchronize_rcu'],
  ['synchronize_sched', 'synchronize_rcu'],
];
/** Sleep primitives (substrings; "_lock" only as a word, so test_lockup is kept). */
const HANG_SKIP = /sched|_lock(?![a-z])|_slowlock|down|rwsem|completion|kthread|wait|synchronize|context_switch|__switch_to|cancel_delayed_work|rcu_barrier/;

/**
 * Hung tasks: victims of an RCU or rtnl problem hang everywhere, so those are
 * grouped under one frame; otherwise the first frame that is not a sleep
 * primitive (schedule, locks, waits, completions).
 */
export const hangChooser: FrameChooser = (frames) => {
  for (let i = 0; i < frames.length; i++) {
    const f = frames[i]!;
    for (const [anchor, repl] of HANG_BUCKETS) {
      if (f.indexOf(anchor) !== -1) return { name: repl || f, index: i };
    }
  }
  for (let i = 0; i < frames.length; i++) {
    if (!HANG_SKIP.test(frames[i]!)) return { name: frames[i]!, index: i };
  }
  return null;
};
