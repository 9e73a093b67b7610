/**
 * The rule table: report headers in the order they are tried on a line, each
 * with the lines that merely look like reports, and the formats of all kinds
 * that share the header.
 */
import type { DetectionKind } from '../types.ts';
import { bugFormats } from './bug.ts';
import { faultFormats } from './fault.ts';
import { hangFormats } from './hang.ts';
import { sanitizerFormats } from './kasan.ts';
import { lockdepFormats } from './lockdep.ts';
import { panicFormats } from './panic.ts';
import { warningFormats, warningSiteFormats } from './warning.ts';
import type { Format, OopsGroup } from './types.ts';

export type { Format, OopsGroup } from './types.ts';

/** Header, default live-detection kind, and non-report lines with that header. */
const HEADERS: [string, DetectionKind, RegExp[]][] = [
  ['BUG:', 'bug', [/ODEBUG:/, /Boot_DEBUG:/, /xlog_status:/, /DEBUG:/, /BUG: no syscalls can create resource/]],
  [
    'WARNING:',
    'warning',
    [
      /WARNING: \/etc\/ssh\/moduli does not exist, using fixed modulus/,
      /WARNING: workqueue cpumask: online intersect > possible intersect/,
      /WARNING: [Tt]he mand mount option/,
      /WARNING: Unsupported flag value\(s\) of 0x%x in DT_FLAGS_1/,
      /WARNING: Unprivileged eBPF is enabled with eIBRS/,
      /WARNING: fbcon: Driver '.*' missed to adjust virtual screen size/,
      /WARNING: See https.* for mitigation options\./,
      /WARNING: kernel not compiled with CPU_SRSO/,
      /EXT4-[Ff][Ss](?: \(.*\))?:/,
      /warning: .* uses (?:deprecated v2 capabilities|wireless extensions)/i,
      /XFS \(\w+\): WARNING/,
    ],
  ],
  [
    'INFO:',
    'other-crash',
    [
      /INFO: lockdep is turned off/,
      /INFO: Stall ended before state dump start/,
      /INFO: NMI handler/,
      /INFO: recovery required on readonly filesystem/,
      /(?:handler|interrupt).*took too long/,
      /INFO: sys_.* is not present in \/proc\/kallsyms/,
      /INFO: no syscalls can create resource/,
      /rmt_storage:INFO:/,
      /_INFO:/,
    ],
  ],
  ['Unable to handle kernel', 'other-crash', []],
  ['general protection fault', 'other-crash', [/general protection fault .* error:\d+ in /]],
  ['stack segment: ', 'other-crash', []],
  ['Kernel panic', 'panic', []],
  ['PANIC: double fault', 'panic', []],
  ['rust_kernel: panicked', 'panic', []],
  ['kernel BUG', 'bug', []],
  ['Kernel BUG', 'bug', []],
  ['BUG kmalloc-', 'bug', []],
  ['divide error:', 'other-crash', []],
  ['divide_error:', 'other-crash', []],
  ['invalid opcode:', 'other-crash', []],
  ['int3:', 'other-crash', []],
  ['UBSAN:', 'bug', []],
  // A fuzzer may echo boot messages back as mount options: not a reboot.
  ['Booting the kernel.', 'other-crash', [/Parsing ELF|Decompressing Linux|Unknown parameter '/]],
  ['unregister_netdevice: waiting for', 'other-crash', []],
  ['VFS: Close: file count is 0', 'other-crash', []],
  ['VFS: Busy inodes after unmount', 'other-crash', []],
  ['Internal error:', 'other-crash', []],
  ['Unhandled fault:', 'other-crash', []],
  ['Alignment trap:', 'other-crash', []],
  ['trusty: panic', 'panic', []],
  ['fatal error:', 'other-crash', [/ALSA/, /fatal error: cannot create timer/]],
  ['SYZFAIL:', 'other-crash', []],
  ['SYZFATAL:', 'other-crash', []],
  // kernel functions such as skb_panic print "skb_panic:"
  ['panic:', 'other-crash', [/_panic:/, /xlog_status:/, /ddb\.onpanic:/, /evtlog_status:/]],
];

/**
 * Formats in priority order: when two formats match at the same place, the
 * earlier wins (specific warning sites and lockdep before generic WARNING).
 */
const ALL_FORMATS: Format[] = [
  ...lockdepFormats,
  ...sanitizerFormats,
  ...hangFormats,
  ...faultFormats,
  ...bugFormats,
  ...warningSiteFormats,
  ...warningFormats,
  ...panicFormats,
];

export const GROUPS: OopsGroup[] = HEADERS.map(([header, kind, suppress]) => ({
  header,
  kind,
  suppress,
  formats: ALL_FORMATS.filter((f) => f.header === header),
}));

for (const f of ALL_FORMATS) {
  if (!GROUPS.some((g) => g.header === f.header)) throw new Error(`rule with unknown header ${f.header}`);
}

/** Any header, for a fast first pass over the whole log. */
export const ANY_HEADER = new RegExp(
  GROUPS.map((g) => g.header.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')).join('|'),
  'g',
);

/**
 * Lines that never start a kernel report wherever they appear: output of
 * krepro's own guest workload (heartbeats and status lines).
 */
export const GLOBAL_IGNORE: RegExp[] = [/^krepro-/];
