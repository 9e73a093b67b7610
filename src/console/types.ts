/** One frame of a call stack as printed by the kernel. */
export interface Frame {
  func: string;          // e.g. "mm_cid_get"
  offset?: string;       // e.g. "0x11f/0x200"
  module?: string;       // e.g. "test_lockup" for "[test_lockup]"
  raw: string;           // the line it came from, timestamps stripped
}

/**
 * A crash report found in a console log. Titles follow the syzbot convention
 * ("BUG: soft lockup in smp_call_function", "INFO: task hung in ...").
 */
export interface CrashReport {
  title: string;
  altTitles: string[];
  type: string;           // HANG, WARNING, BUG, DoS, LOCKDEP, KASAN-..., UNKNOWN
  frame: string | null;   // the frame the title names
  corrupted: boolean;
  startLine: number;      // 0-based line index of the first line of the report
  endLine: number;        // exclusive
  stack: Frame[];
}

/** What a live detector says about one console line. */
export type DetectionKind =
  | 'soft-lockup'
  | 'rcu-stall'
  | 'hung-task'
  | 'silent-hang'   // a harness's NMI after the guest stopped printing
  | 'warning'
  | 'bug'
  | 'panic'
  | 'other-crash';

export interface LineDetection {
  kind: DetectionKind;
  line: string;
}
