/**
 * WARNING reports (WARN_ON and friends). The title names the function that
 * warned, taken from the trap RIP or the first informative stack frame, not
 * from the source location in the WARNING line. A few well-known warning
 * sites (debugobjects, refcount, kobject, usercopy, kmalloc) get their own
 * title and skip their own helpers.
 */
import { warningStack } from './common.ts';
import { rx, type Format } from './types.ts';

const W = 'WARNING:';
const kind = 'warning' as const;

/** Titles for known warning sites; these come before the generic ones. */
export const warningSiteFormats: Format[] = [
  {
    header: W,
    title: rx(String.raw`WARNING: .*lib/debugobjects\.c.* (?:debug_print|debug_check|at)`),
    fmt: 'WARNING: ODEBUG bug in {1}',
    stack: warningStack('debug_', 'rcu', 'hrtimer_', 'timer_', 'work_', 'percpu_', 'vunmap', 'vfree', '__free_', 'debug_check', 'kobject_'),
    kind,
  },
  {
    header: W,
    title: rx(String.raw`WARNING: .*mm/usercopy\.c.* (?:usercopy_warn|at)`),
    fmt: 'WARNING: bad usercopy in {1}',
    stack: warningStack('usercopy', '__check'),
    kind,
  },
  {
    header: W,
    title: rx(String.raw`WARNING: .*lib/kobject\.c.* (?:kobject_|at)`),
    fmt: 'WARNING: kobject bug in {1}',
    stack: warningStack('kobject_'),
    kind,
  },
  {
    header: W,
    title: rx(String.raw`WARNING: .*fs/proc/generic\.c.* (?:proc_register|at)`),
    fmt: 'WARNING: proc registration bug in {1}',
    stack: warningStack('proc_'),
    kind,
  },
  {
    header: W,
    title: rx(String.raw`WARNING: .*lib/refcount\.c.* (?:refcount_|at)`),
    fmt: 'WARNING: refcount bug in {1}',
    stack: warningStack('refcount', 'kobject_'),
    kind,
  },
];

/** Generic WARNING titles and the odd warning formats. */
export const warningFormats: Format[] = [
  {
    header: W,
    title: rx(String.raw`WARNING: .*mm/.*\.c.* k?.?malloc`),
    fmt: 'WARNING: kmalloc bug in {1}',
    stack: warningStack('kmalloc', 'krealloc', 'slab', 'kmem'),
    kind,
  },
  {
    header: W,
    title: rx(String.raw`WARNING: .*mm/vmalloc\.c.*__vmalloc_node`),
    fmt: 'WARNING: zero-size vmalloc in {1}',
    stack: warningStack(),
    kind,
  },
  {
    header: W,
    title: rx(String.raw`WARNING: .* usb_submit_urb`),
    fmt: 'WARNING in {1}/usb_submit_urb',
    stack: warningStack('usb_submit_urb', 'usb_start_wait_urb', 'usb_bulk_msg', 'usb_interrupt_msg', 'usb_control_msg'),
    kind,
  },
  {
    // Newer kernels: "WARNING: kernel/foo.c:123 at 0x0, CPU#1: comm/123".
    header: W,
    title: rx(String.raw`WARNING: {{SRC}} at 0x\d+, CPU#\d+`),
    fmt: 'WARNING in {2}',
    stack: warningStack(),
    kind,
  },
  {
    header: W,
    title: rx(String.raw`WARNING: .* at {{SRC}} {{FUNC}}`),
    fmt: 'WARNING in {3}',
    stack: warningStack(),
    kind,
  },
  {
    header: W,
    title: rx(String.raw`WARNING: {{SRC}} at {{FUNC}}`),
    fmt: 'WARNING in {3}',
    stack: warningStack(),
    kind,
  },
  {
    header: W,
    title: rx(String.raw`WARNING: \[.*\] {{SRC}} at {{FUNC}}`),
    fmt: 'WARNING in {3}',
    stack: warningStack(),
    kind,
  },
  {
    header: W,
    title: /WARNING: kernel stack regs at [0-9a-f]+ in [^ ]* has bad '([^']+)' value/,
    fmt: "WARNING: kernel stack regs has bad '{1}' value",
    noStackTrace: true,
    kind,
  },
  {
    header: W,
    title: /WARNING: kernel stack frame pointer at [0-9a-f]+ in [^ ]* has bad value/,
    fmt: 'WARNING: kernel stack frame pointer has bad value',
    noStackTrace: true,
    kind,
  },
  {
    header: W,
    title: /WARNING: kernel stack regs .* has bad 'bp' value/,
    fmt: 'WARNING: kernel stack regs has bad value',
    noStackTrace: true,
    kind,
  },
  {
    header: W,
    title: /WARNING: kernel stack frame pointer .* has bad value/,
    fmt: 'WARNING: kernel stack regs has bad value',
    noStackTrace: true,
    kind,
  },
  {
    header: W,
    title: /WARNING:\s*$/,
    fmt: 'WARNING: corrupted',
    corrupted: true,
    kind,
  },
];
