/**
 * HANG reports: soft lockups, RCU stalls, hung tasks.
 *
 * For lockups and stalls the sampled top frame is wherever the looping CPU
 * happened to be, so the title names the frame just above a dispatch point
 * (syscall entry, workqueue, softirq, initcall), skipping scheduler and idle
 * frames (see stallChooser). Hung tasks name the first frame that is not a
 * sleep primitive, grouping RCU and rtnl victims (see hangChooser).
 */
import { CALL_TRACE, RIP_FRAME, STALL_SKIP, hangChooser, stallChooser } from '../frames.ts';
import { rx, stack, type Format } from './types.ts';

const IRQ_ENTRY = /apic_timer_interrupt/;
const RCU_SKIP = ['apic_timer_interrupt', 'rcu', ...STALL_SKIP];
const IRQ_ENTRY_ANY = /apic_timer_interrupt|Exception stack|el1h_64_irq/;
/** A kernel-mode RIP that is not a wait for another CPU (lock slow paths, IPI waits, idle) nor interrupt entry or return code. */
const OWN_LOOP_RIP = /RIP: 0010:(?!(?:native_)?queued_spin_lock_slowpath|common_interrupt_return|asm_|irqentry_|native_irq_return|restore_regs_and_return|_raw_spin_lock|do_raw_spin_lock|smp_call_function_many_cond|csd_lock_wait|default_idle|native_safe_halt|pv_native_safe_halt)([A-Za-z0-9_.]+)\+0x/;

export const hangFormats: Format[] = [
  {
    header: 'BUG:',
    title: /BUG: soft lockup/,
    fmt: 'BUG: soft lockup in {1}',
    alt: ['stall in {1}'],
    stack: stack([RIP_FRAME, CALL_TRACE, 'stack'], {
      chooser: stallChooser,
      skip: STALL_SKIP,
      parts2: [CALL_TRACE, 'stack'],
    }),
    kind: 'soft-lockup',
  },
  {
    header: 'BUG:',
    title: /BUG: workqueue lockup/,
    fmt: 'BUG: workqueue lockup',
    noStackTrace: true,
    kind: 'other-crash',
  },
  {
    // A CPU that detects its own stall prints its stack from the timer
    // interrupt: the frames after the interrupt entry (and the RIP it
    // interrupted) locate the loop. Some kernels print only "RIP + Call
    // Trace" of the interrupted task (parts3).
    header: 'INFO:',
    title: /INFO: rcu_(?:preempt|sched|bh|tasks) self-detected(?: expedited)? stall/,
    fmt: 'INFO: rcu detected stall in {1}',
    alt: ['stall in {1}'],
    stack: stack([IRQ_ENTRY, RIP_FRAME, 'stack'], {
      chooser: stallChooser,
      skip: RCU_SKIP,
      parts2: [IRQ_ENTRY_ANY, 'stack'],
      parts3: [RIP_FRAME, CALL_TRACE, 'stack'],
    }),
    kind: 'rcu-stall',
  },
  {
    // Detected by another CPU: only an NMI backtrace taken in the timer
    // interrupt shows the stalled code; without it the report is corrupted.
    header: 'INFO:',
    title: /INFO: rcu_(?:preempt|sched|bh|tasks) (?:self-)?detected(?: expedited)? stall/,
    fmt: 'INFO: rcu detected stall in {1}',
    alt: ['stall in {1}'],
    stack: stack([IRQ_ENTRY, RIP_FRAME, 'stack'], {
      chooser: stallChooser,
      skip: RCU_SKIP,
      parts2: [IRQ_ENTRY_ANY, 'stack'],
    }),
    kind: 'rcu-stall',
  },
  {
    // The same report on kernels whose stalled CPUs spin with interrupts
    // off (no timer interrupt in their NMI backtraces, e.g. the v6.19 mm_cid
    // stall spinning in mm_get_cid): the first NMI backtrace whose kernel RIP
    // is the CPU's own loop rather than a wait for another CPU names it.
    header: 'INFO:',
    title: /INFO: rcu_(?:preempt|sched|bh|tasks) detected(?: expedited)? stall/,
    fmt: 'INFO: rcu detected stall in {1}',
    alt: ['stall in {1}'],
    stack: stack([/NMI backtrace for cpu \d+/, OWN_LOOP_RIP], { skip: RCU_SKIP }),
    fallback: true,
    kind: 'rcu-stall',
  },
  {
    header: 'INFO:',
    title: rx(String.raw`INFO: task {{TASK}} blocked (?:in I/O wait )?for more than [0-9]+ seconds`),
    fmt: 'INFO: task hung in {1}',
    alt: ['hang in {1}'],
    stack: stack([CALL_TRACE, 'stack'], { chooser: hangChooser }),
    kind: 'hung-task',
  },
  {
    header: 'INFO:',
    title: rx(String.raw`INFO: task {{TASK}} can't die for more than .{0,40} seconds`),
    fmt: "INFO: task can't die in {1}",
    alt: ['hang in {1}'],
    stack: stack([CALL_TRACE, 'stack'], { skip: ['schedule'] }),
    kind: 'hung-task',
  },
  {
    header: 'INFO:',
    title: /INFO:\s*$/,
    fmt: 'INFO: corrupted',
    corrupted: true,
    kind: 'other-crash',
  },
];
