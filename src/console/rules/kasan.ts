/**
 * Sanitizer reports: KASAN, KMSAN, KCSAN, KFENCE, UBSAN. The title names the
 * access type and the function that made the bad access (the one in the
 * header line unless it is a helper such as memcpy, then the first
 * informative caller).
 */
import { CALL_TRACE } from '../frames.ts';
import { traceOnly } from './common.ts';
import { rx, stack, type Format } from './types.ts';

const kind = 'bug' as const;
const KASAN_IN = rx(String.raw`BUG: KASAN: (?:[a-z\-]+) in {{FUNC}}`);
const KASAN_FREE_IN = rx(String.raw`BUG: KASAN: (?:double-free or invalid-free|double-free|invalid-free) in {{FUNC}}`);
const KFENCE_IN = rx(String.raw`BUG: KFENCE: (?:[a-z\- ]+) in {{FUNC}}`);
const KMSAN_ORIGIN = /(Local variable .* created at:|Uninit was created at:)/;

export const sanitizerFormats: Format[] = [
  {
    header: 'BUG:',
    title: /BUG: KASAN:/,
    report: [rx(String.raw`BUG: KASAN: ([a-z\-]+) in {{FUNC}}`), /(Read|Write) (?:of size|at addr) (?:[0-9a-f]+)/],
    fmt: 'KASAN: {1} {3} in {4}',
    alt: ['bad-access in {4}'],
    // KASAN_HW_TAGS reports include the arm64 fault path.
    stack: stack([KASAN_IN, CALL_TRACE, 'stack'], { skip: ['kernel_fault', 'tag_check', 'mem_abort', '^el1_', '^el1h_'] }),
    kind,
  },
  {
    header: 'BUG:',
    title: /BUG: KASAN:/,
    report: [rx(String.raw`BUG: KASAN: (?:double-free or invalid-free|double-free|invalid-free) in {{FUNC}}`)],
    fmt: 'KASAN: invalid-free in {2}',
    alt: ['invalid-free in {2}'],
    stack: stack([KASAN_FREE_IN, CALL_TRACE, 'stack'], { skip: ['slab_', 'kfree', 'vunmap', 'vfree'] }),
    kind,
  },
  {
    header: 'BUG:',
    title: /BUG: KASAN: ([a-z\-]+) on address/,
    titleNext: [/(Read|Write) of size ([0-9]+)/],
    fmt: 'KASAN: {1} {2}',
    kind,
  },
  {
    header: 'BUG:',
    title: /BUG: KASAN: (.*)/,
    fmt: 'KASAN: {1}',
    corrupted: true,
    kind,
  },
  {
    header: 'BUG:',
    title: /BUG: KMSAN: kernel-usb-infoleak/,
    report: [rx('BUG: KMSAN: kernel-usb-infoleak in {{FUNC}}')],
    fmt: 'KMSAN: kernel-usb-infoleak in {2}',
    alt: ['KMSAN origin in {3}'],
    stack: stack(['stack', KMSAN_ORIGIN, 'stack'], {
      skip: ['alloc_skb', 'usb_submit_urb', 'usb_start_wait_urb', 'usb_bulk_msg', 'usb_interrupt_msg', 'usb_control_msg'],
    }),
    noStackTrace: true,
    kind,
  },
  {
    header: 'BUG:',
    title: /BUG: KMSAN:/,
    report: [rx(String.raw`BUG: KMSAN: ([a-z\-]+) in {{FUNC}}`)],
    fmt: 'KMSAN: {1} in {3}',
    alt: ['bad-access in {3}'],
    stack: stack(['stack', KMSAN_ORIGIN, 'stack'], {
      // crypto helpers are where uninit data is noticed, not where it comes from
      skip: ['alloc_skb', 'netlink_ack', 'netlink_rcv_skb', '_encrypt$', '^(?:crypto|cipher|drbg|rng)_'],
    }),
    noStackTrace: true,
    kind,
  },
  {
    header: 'BUG:',
    title: /BUG: KCSAN: data-race/,
    report: [/BUG: KCSAN: (.*)/],
    fmt: 'KCSAN: {1}',
    noStackTrace: true,
    kind,
  },
  {
    header: 'BUG:',
    title: /BUG: KCSAN:/,
    report: [/BUG: KCSAN: (.*)/],
    fmt: 'KCSAN: {1}',
    noStackTrace: true,
    kind,
  },
  {
    header: 'BUG:',
    title: rx('BUG: KFENCE: (use-after-free|out-of-bounds) (read|write) in {{FUNC}}'),
    fmt: 'KFENCE: {1} {2} in {4}',
    alt: ['bad-access in {4}'],
    stack: stack([KFENCE_IN, 'stack']),
    kind,
  },
  {
    header: 'BUG:',
    title: rx('BUG: KFENCE: invalid free in {{FUNC}}'),
    fmt: 'KFENCE: invalid free in {2}',
    alt: ['invalid-free in {2}'],
    noStackTrace: true,
    stack: stack([KFENCE_IN, 'stack']),
    kind,
  },
  {
    header: 'BUG:',
    title: rx('BUG: KFENCE: invalid (read|write) in {{FUNC}}'),
    fmt: 'KFENCE: invalid {1} in {3}',
    alt: ['bad-access in {3}'],
    stack: stack([KFENCE_IN, 'stack']),
    kind,
  },
  {
    header: 'BUG:',
    title: rx('BUG: KFENCE: memory corruption in {{FUNC}}'),
    fmt: 'KFENCE: memory corruption in {2}',
    noStackTrace: true,
    stack: stack([KFENCE_IN, 'stack']),
    kind,
  },
  {
    // Old-style (SLUB debug) KASAN reports whose header was lost.
    header: 'INFO:',
    title: /INFO: (Freed|Allocated) in (.*)/,
    fmt: 'INFO: {1} in {2}',
    corrupted: true,
    kind,
  },
  // ---- UBSAN ----
  {
    header: 'UBSAN:',
    title: /UBSAN:/,
    report: [/UBSAN: Undefined behaviour in/],
    fmt: 'UBSAN: undefined-behaviour in {1}',
    stack: traceOnly(['ubsan', 'overflow']),
    kind,
  },
  {
    header: 'UBSAN:',
    title: /UBSAN: array-index-out-of-bounds in/,
    fmt: 'UBSAN: array-index-out-of-bounds in {1}',
    alt: ['bad-access in {1}'],
    stack: traceOnly(['ubsan', 'overflow']),
    kind,
  },
  {
    header: 'UBSAN:',
    title: /UBSAN:/,
    report: [/UBSAN: (.*?) in/],
    fmt: 'UBSAN: {1} in {2}',
    stack: traceOnly(['ubsan', 'overflow']),
    kind,
  },
];
