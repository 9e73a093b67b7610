/**
 * CPU exceptions in kernel mode: page faults, NULL dereferences, general
 * protection faults, double faults, divide errors, arm aborts. The title
 * names the faulting function (the RIP/pc line), else the first informative
 * frame of the call trace.
 */
import { STALL_SKIP, stallChooser, RIP_FRAME, CALL_TRACE } from '../frames.ts';
import { ripOnly, ripThenTrace } from './common.ts';
import { stack, type Format } from './types.ts';

const kind = 'other-crash' as const;

export const faultFormats: Format[] = [
  {
    header: 'BUG:',
    title: /BUG: (?:unable to handle kernel paging request|unable to handle page fault for address|Unable to handle kernel data access)/,
    fmt: 'BUG: unable to handle kernel paging request in {1}',
    alt: ['bad-access in {1}'],
    stack: ripThenTrace(),
    kind,
  },
  {
    header: 'BUG:',
    title: /BUG: (?:unable to handle kernel NULL pointer dereference|kernel NULL pointer dereference|Kernel NULL pointer dereference)/,
    fmt: 'BUG: unable to handle kernel NULL pointer dereference in {1}',
    alt: ['bad-access in {1}'],
    stack: ripThenTrace(),
    kind,
  },
  {
    // The kernel prints this header in two pieces; the second may be lost.
    header: 'BUG:',
    title: /BUG: (?:unable to handle kernel|Unable to handle kernel)/,
    fmt: 'BUG: unable to handle kernel',
    corrupted: true,
    kind,
  },
  {
    header: 'BUG:',
    title: /BUG: .*stack guard page was hit at/,
    fmt: 'BUG: stack guard page was hit in {1}',
    alt: ['stack-overflow in {1}'],
    stack: stack([RIP_FRAME, CALL_TRACE, 'stack'], { chooser: stallChooser, skip: STALL_SKIP }),
    kind,
  },
  {
    header: 'Unable to handle kernel',
    title: /Unable to handle kernel (paging request|NULL pointer dereference|access to user memory)/,
    fmt: 'BUG: unable to handle kernel {1} in {2}',
    alt: ['bad-access in {2}'],
    stack: ripThenTrace(),
    kind,
  },
  {
    header: 'general protection fault',
    title: /general protection fault.*:/,
    fmt: 'general protection fault in {1}',
    alt: ['bad-access in {1}'],
    stack: ripThenTrace(),
    kind,
  },
  {
    header: 'stack segment: ',
    title: /stack segment: /,
    fmt: 'stack segment fault in {1}',
    stack: ripThenTrace(),
    kind,
  },
  {
    header: 'PANIC: double fault',
    title: /PANIC: double fault/,
    fmt: 'PANIC: double fault in {1}',
    stack: ripOnly(),
    kind: 'panic',
  },
  { header: 'divide error:', title: /divide error: /, fmt: 'divide error in {1}', stack: ripOnly(), kind },
  // "divide_error:" is a misspelling some kernels printed
  { header: 'divide_error:', title: /divide_error: /, fmt: 'divide error in {1}', stack: ripOnly(), kind },
  { header: 'invalid opcode:', title: /invalid opcode: /, fmt: 'invalid opcode in {1}', stack: ripOnly(), kind },
  { header: 'int3:', title: /int3: /, fmt: 'int3 in {1}', stack: ripThenTrace(), kind },
  {
    // arm64 "synchronous external abort" is arm's paging request: same bug
    header: 'Internal error:',
    title: /Internal error:/,
    fmt: 'Internal error in {1}',
    alt: ['bad-access in {1}'],
    stack: ripThenTrace(),
    kind,
  },
  {
    header: 'Unhandled fault:',
    title: /Unhandled fault:/,
    fmt: 'Unhandled fault in {1}',
    alt: ['bad-access in {1}'],
    stack: ripThenTrace(),
    kind,
  },
  { header: 'Alignment trap:', title: /Alignment trap:/, fmt: 'Alignment trap in {1}', stack: ripThenTrace(), kind },
];
