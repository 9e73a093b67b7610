/**
 * Panics (DoS): "Kernel panic - not syncing", stack-protector and stack-end
 * corruption, and panics of other programs on the console (trusty, Go
 * runtime, syzkaller's own executor).
 *
 * A panic that merely follows another report (panic_on_warn, Fatal
 * exception, hung_task_panic) means the real report was lost: such titles
 * are marked corrupted.
 */
import { stallChooser } from '../frames.ts';
import { traceOnly } from './common.ts';
import { rx, stack, type Format } from './types.ts';
import { CALL_TRACE, RIP_FRAME } from '../frames.ts';

/**
 * Frames of a CPU that waits for another one (lock slow paths, the runqueue
 * lock, IPIs) or for work (idle), and the NMI entry itself: the frame after
 * them is the code that hangs.
 */
const HANG_WAITS = [
  'queued_spin_lock_slowpath', '_raw_spin_lock', '^raw_spin_rq_lock', '^_?_?task_rq_lock$', '^do_raw_spin_lock',
  '^smp_call_function_many_cond$', '^csd_lock_wait', '^cpu_relax', '^default_idle', '^native_safe_halt',
  '^nmi_panic$', '^vpanic$', '^panic$', '^unknown_nmi_error$', '^exc_nmi$', '^end_repeat_nmi$', 'nmi_handle',
];

const KP = 'Kernel panic';
const kind = 'panic' as const;

export const panicFormats: Format[] = [
  {
    header: KP,
    title: /Kernel panic - not syncing: stack-protector:/,
    report: [rx('Kernel panic - not syncing: stack-protector: Kernel stack is corrupted in: {{FUNC}}')],
    fmt: 'kernel panic: stack is corrupted in {1}',
    noStackTrace: true,
    kind,
  },
  {
    // the symbol was not printed: name the frame from the stack
    header: KP,
    title: /Kernel panic - not syncing: stack-protector:/,
    report: [/Kernel panic - not syncing: stack-protector: Kernel stack is corrupted in: [a-f0-9]+/],
    fmt: 'kernel panic: stack is corrupted in {1}',
    stack: traceOnly(['stack_chk']),
    kind,
  },
  {
    header: KP,
    title: /Kernel panic - not syncing: corrupted stack end/,
    report: [/Kernel panic - not syncing: corrupted stack end detected inside scheduler/],
    fmt: 'kernel panic: corrupted stack end in {1}',
    alt: ['stack-overflow in {1}'],
    stack: stack([CALL_TRACE, 'stack'], { skip: ['schedule', 'retint_kernel'], chooser: stallChooser }),
    kind,
  },
  {
    header: KP,
    title: /Kernel panic - not syncing: kernel stack overflow/,
    fmt: 'kernel stack overflow in {1}',
    alt: ['stack-overflow in {1}'],
    stack: stack([CALL_TRACE, 'stack'], { skip: ['bad_stack'], chooser: stallChooser }),
    kind,
  },
  { header: KP, title: /Kernel panic - not syncing: Attempted to kill init!/, fmt: 'kernel panic: Attempted to kill init!', kind },
  {
    header: KP,
    title: /Kernel panic - not syncing: Couldn't open N_TTY ldisc for [^ ]+ --- error -[0-9]+/,
    fmt: "kernel panic: Couldn't open N_TTY ldisc",
    kind,
  },
  // These follow another report whose header we did not see.
  { header: KP, title: /Kernel panic - not syncing: Fatal exception/, fmt: 'kernel panic: Fatal exception', corrupted: true, kind },
  { header: KP, title: /Kernel panic - not syncing: panic_on_warn set/, fmt: 'kernel panic: panic_on_warn set', corrupted: true, kind },
  { header: KP, title: /Kernel panic - not syncing: hung_task: blocked tasks/, fmt: 'kernel panic: hung_task: blocked tasks', corrupted: true, kind },
  {
    // An NMI nobody claimed, panicking by unknown_nmi_panic: what a harness
    // sends a guest that stopped printing (krepro's silent-hang detector,
    // a BMC's diagnostic interrupt). The machine hung before it: a HANG
    // named by the interrupted CPU's own code, waits skipped, like the
    // live detector names it from the vCPUs.
    header: KP,
    title: /Kernel panic - not syncing: NMI: Not continuing/,
    fmt: 'INFO: silent hang in {1}',
    alt: ['hang in {1}'],
    stack: stack([RIP_FRAME, 'stack'], { skip: HANG_WAITS }),
    kind: 'silent-hang',
  },
  { header: KP, title: /Kernel panic - not syncing: (.*)/, fmt: 'kernel panic: {1}', kind },
  {
    header: 'rust_kernel: panicked',
    title: /rust_kernel: panicked/,
    report: [/rust_kernel: panicked at /, /^(.+)$/],
    fmt: '{1} in {2}',
    stack: traceOnly(['__rustc::rust_begin_unwind']),
    kind,
  },
  {
    header: 'trusty: panic',
    title: /trusty: panic.* ASSERT FAILED/,
    report: [/trusty: panic \(.*?\):(?: DEBUG)? ASSERT FAILED at \(.*?\): (.+)/],
    fmt: 'trusty: ASSERT FAILED: {1}',
    noStackTrace: true,
    kind,
  },
  { header: 'trusty: panic', title: /trusty: panic.* ASSERT FAILED.*: *(.*)/, fmt: 'trusty: ASSERT FAILED: {1}', corrupted: true, kind },
  {
    header: 'trusty: panic',
    title: /trusty: panic/,
    report: [/trusty: panic \(.*?\): (.+)/],
    fmt: 'trusty: panic: {1}',
    noStackTrace: true,
    kind,
  },
  // User-space programs dying on the console.
  { header: 'fatal error:', title: /fatal error:/, fmt: 'go runtime error', noStackTrace: true, kind: 'other-crash' },
  { header: 'SYZFAIL:', title: /SYZFAIL:(.*)/, fmt: 'SYZFAIL:{1}', noStackTrace: true, kind: 'other-crash' },
  { header: 'SYZFATAL:', title: /SYZFATAL:(.*)()/, fmt: 'SYZFATAL:{1}', alt: ['SYZFATAL{2}'], noStackTrace: true, kind: 'other-crash' },
  {
    header: 'panic:',
    title: /panic: Sentry detected .* stuck task/,
    fmt: 'panic: Sentry detected stuck tasks',
    noStackTrace: true,
    kind: 'other-crash',
  },
  { header: 'panic:', title: /panic:(.*)/, fmt: 'panic:{1}', noStackTrace: true, kind: 'other-crash' },
];
