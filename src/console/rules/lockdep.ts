/**
 * LOCKDEP reports: deadlocks, inconsistent lock state, lock misuse, spinlock
 * debugging, suspicious RCU usage. Deadlock titles name the function that
 * tried to take the lock ("is trying to acquire lock ... at: f").
 */
import { CALL_TRACE } from '../frames.ts';
import { traceOnly, warningStack } from './common.ts';
import { rx, stack, type Format } from './types.ts';

const kind = 'other-crash' as const;
const AT_FUNC = rx(String.raw`at: (?:{{PC}} +)?{{FUNC}}`);
const AT_PC_FUNC = rx(String.raw`at: {{PC}} +{{FUNC}}`);
const PC_FUNC = rx(String.raw`{{PC}} +{{FUNC}}`);

export const lockdepFormats: Format[] = [
  // ---- BUG: ----
  {
    header: 'BUG:',
    title: /BUG: (spinlock|rwlock) (lockup suspected|already unlocked|recursion|cpu recursion|bad magic|wrong owner|wrong CPU|trylock failure on UP)/,
    fmt: 'BUG: {1} {2} in {3}',
    stack: traceOnly(['spin_', '_lock', '_unlock']),
    kind: 'bug',
  },
  {
    header: 'BUG:',
    title: /BUG: .*still has locks held!/,
    report: [/BUG: .*still has locks held!/, PC_FUNC],
    fmt: 'BUG: still has locks held in {1}',
    kind: 'bug',
  },
  {
    header: 'BUG:',
    title: /BUG: lock held when returning to user space/,
    report: [/BUG: lock held when returning to user space/, /leaving the kernel with locks still held/, AT_FUNC],
    fmt: 'BUG: lock held when returning to user space in {1}',
    noStackTrace: true,
    kind: 'bug',
  },
  {
    header: 'BUG:',
    title: /BUG: bad unlock balance detected!/,
    fmt: 'BUG: bad unlock balance in {1}',
    stack: stack([PC_FUNC, CALL_TRACE, 'stack']),
    kind: 'bug',
  },
  {
    header: 'BUG:',
    title: /BUG: held lock freed!/,
    report: [/BUG: held lock freed!/, PC_FUNC],
    fmt: 'BUG: held lock freed in {1}',
    kind: 'bug',
  },
  {
    header: 'BUG:',
    title: /BUG: using ([a-z_]+)\(\) in preemptible/,
    fmt: 'BUG: using {1}() in preemptible code in {2}',
    stack: traceOnly(['dump_stack', 'preemption', 'preempt', 'debug_', 'processor_id', 'this_cpu']),
    kind: 'bug',
  },
  {
    // arm/arm64 print this; amd64 prints a lockdep WARNING for the same bug.
    header: 'BUG:',
    title: /BUG: Invalid wait context/,
    fmt: 'WARNING: locking bug in {1}',
    stack: traceOnly(['lock_sock', 'release_sock']),
    kind: 'bug',
  },
  // ---- WARNING: ----
  {
    header: 'WARNING:',
    title: /WARNING: .*kernel\/locking\/lockdep\.c.*lock_/,
    fmt: 'WARNING: locking bug in {1}',
    stack: warningStack('lock_sock', 'release_sock'),
    kind: 'warning',
  },
  {
    header: 'WARNING:',
    title: /WARNING: .*still has locks held!/,
    report: [/WARNING: .*still has locks held!/, rx('at: {{FUNC}}')],
    fmt: 'WARNING: still has locks held in {1}',
    kind: 'warning',
  },
  {
    header: 'WARNING:',
    title: /WARNING: Nested lock was not taken/,
    fmt: 'WARNING: nested lock was not taken in {1}',
    stack: warningStack(),
    kind: 'warning',
  },
  {
    header: 'WARNING:',
    title: /WARNING: lock held when returning to user space/,
    report: [/WARNING: lock held when returning to user space/, /leaving the kernel with locks still held/, AT_FUNC],
    fmt: 'WARNING: lock held when returning to user space in {1}',
    noStackTrace: true,
    kind: 'warning',
  },
  {
    header: 'WARNING:',
    title: /WARNING: possible circular locking dependency detected/,
    report: [/WARNING: possible circular locking dependency detected/, /is trying to acquire lock/],
    fmt: 'possible deadlock in {1}',
    stack: stack([AT_FUNC, AT_FUNC, 'stack'], {
      // workqueue flushing takes the work item's lock: the deadlock is in the work item
      skip: ['process_one_work', 'flush_workqueue', 'drain_workqueue', 'destroy_workqueue'],
    }),
    kind: 'warning',
  },
  {
    header: 'WARNING:',
    title: /WARNING: possible irq lock inversion dependency detected/,
    report: [/WARNING: possible irq lock inversion dependency detected/, /just changed the state of lock/, AT_FUNC],
    fmt: 'possible deadlock in {1}',
    kind: 'warning',
  },
  {
    header: 'WARNING:',
    title: /WARNING: .*-safe -> .*-unsafe lock order detected/,
    fmt: 'possible deadlock in {1}',
    stack: stack([/which became .* at:/, 'stack']),
    kind: 'warning',
  },
  {
    header: 'WARNING:',
    title: /WARNING: possible recursive locking detected/,
    report: [/WARNING: possible recursive locking detected/, /is trying to acquire lock/, AT_FUNC],
    fmt: 'possible deadlock in {1}',
    kind: 'warning',
  },
  {
    header: 'WARNING:',
    title: /WARNING: inconsistent lock state/,
    report: [/WARNING: inconsistent lock state/, /takes/, AT_FUNC],
    fmt: 'inconsistent lock state in {2}',
    stack: traceOnly(),
    kind: 'warning',
  },
  {
    header: 'WARNING:',
    title: /WARNING: suspicious RCU usage/,
    report: [/WARNING: suspicious RCU usage/, rx('{{SRC}}')],
    fmt: 'WARNING: suspicious RCU usage in {2}',
    stack: traceOnly(['rcu', 'kmem', 'slab']),
    kind: 'warning',
  },
  {
    header: 'WARNING:',
    title: /WARNING: bad unlock balance detected!/,
    fmt: 'WARNING: bad unlock balance in {1}',
    stack: stack([PC_FUNC, CALL_TRACE, 'stack']),
    kind: 'warning',
  },
  {
    header: 'WARNING:',
    title: /WARNING: held lock freed!/,
    report: [/WARNING: held lock freed!/, rx('at:(?: {{PC}})? +{{FUNC}}')],
    fmt: 'WARNING: held lock freed in {1}',
    kind: 'warning',
  },
  // ---- INFO: (older kernels) ----
  {
    header: 'INFO:',
    title: /INFO: possible circular locking dependency detected/,
    report: [/INFO: possible circular locking dependency detected \]/, /is trying to acquire lock/, AT_PC_FUNC],
    fmt: 'possible deadlock in {1}',
    kind,
  },
  {
    header: 'INFO:',
    title: /INFO: possible irq lock inversion dependency detected/,
    report: [/INFO: possible irq lock inversion dependency detected \]/, /just changed the state of lock/, AT_PC_FUNC],
    fmt: 'possible deadlock in {1}',
    kind,
  },
  {
    header: 'INFO:',
    title: /INFO: SOFTIRQ-safe -> SOFTIRQ-unsafe lock order detected/,
    report: [/INFO: SOFTIRQ-safe -> SOFTIRQ-unsafe lock order detected \]/, /is trying to acquire/, AT_PC_FUNC],
    fmt: 'possible deadlock in {1}',
    kind,
  },
  {
    header: 'INFO:',
    title: /INFO: possible recursive locking detected/,
    report: [/INFO: possible recursive locking detected \]/, /is trying to acquire lock/, AT_PC_FUNC],
    fmt: 'possible deadlock in {1}',
    kind,
  },
  {
    header: 'INFO:',
    title: /INFO: inconsistent lock state/,
    report: [/INFO: inconsistent lock state \]/, /takes/, AT_PC_FUNC],
    fmt: 'inconsistent lock state in {1}',
    kind,
  },
  {
    header: 'INFO:',
    title: /INFO: trying to register non-static key/,
    fmt: 'INFO: trying to register non-static key in {1}',
    stack: traceOnly(['stack', 'lock', 'IRQ']),
    kind,
  },
  {
    header: 'INFO:',
    title: /INFO: suspicious RCU usage/,
    report: [/INFO: suspicious RCU usage/, rx('{{SRC}}')],
    fmt: 'INFO: suspicious RCU usage in {2}',
    stack: traceOnly(['rcu', 'kmem', 'slab']),
    kind,
  },
];
