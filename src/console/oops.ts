/**
 * Report start lines: the single test, shared by the offline classifier and
 * the live line detector, of whether a console line begins a kernel report.
 */
import type { DetectionKind } from './types.ts';
import { lineText } from './normalize.ts';
import { GLOBAL_IGNORE, GROUPS, type OopsGroup } from './rules/index.ts';

const ANY_SRC = GROUPS.map((g) => g.header.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')).join('|');
const ANY = new RegExp(ANY_SRC);

/**
 * Indexes of the lines of `text` that may start a report: one regex pass
 * over the whole text, then the full test (matchOops) on those lines only.
 * `starts[i]` is where line i begins in `text`.
 */
export function candidateLines(text: string, lines: string[], starts: number[]): number[] {
  const re = new RegExp(ANY_SRC, 'g');
  const out: number[] = [];
  let k = 0;
  let m: RegExpExecArray | null;
  while ((m = re.exec(text)) !== null) {
    while (k + 1 < starts.length && starts[k + 1]! <= m.index) k++;
    out.push(k);
    if (k + 1 >= starts.length) break;
    re.lastIndex = starts[k + 1]!;
  }
  return out;
}

/** Cap on the part of a line that rules look at (bounds regex work per line). */
export const MATCH_CHARS = 1024;

/** The report group a console line starts, or null. `line` is the raw line (prefix included). */
/**
 * A header inside prose or markup is a mention, not a report: README's
 * "The title is `INFO: silent hang in <frame>`" or "Titles: `BUG: soft
 * lockup in ...`". The kernel never prints a backtick, a quote or "title"
 * right before a report header.
 */
const QUOTED = /[`"'“‘]\s*$|\b[Tt]itles?:?\s*$/;

export function matchOops(line: string): OopsGroup | null {
  if (line.length > MATCH_CHARS) line = line.slice(0, MATCH_CHARS);
  if (!ANY.test(line)) return null;
  for (const g of GROUPS) {
    if (line.indexOf(g.header) === -1) continue;
    if (g.suppress.some((re) => re.test(line))) continue;
    const text = lineText(line);
    if (GLOBAL_IGNORE.some((re) => re.test(text))) return null;
    if (QUOTED.test(text.slice(0, Math.max(0, text.indexOf(g.header))))) continue;
    return g;
  }
  return null;
}

/** What kind of report a start line announces (for live detection). */
export function kindOf(group: OopsGroup, line: string): DetectionKind {
  const text = lineText(line.length > MATCH_CHARS ? line.slice(0, MATCH_CHARS) : line);
  for (const f of group.formats) {
    if (f.kind && f.title.test(text)) return f.kind;
  }
  return group.kind;
}

/** Printed after a line that a concurrent printk cut short; the line is printed again. */
export const REPLAY_MARK = '** replaying previous printk message **';

/** Lines that may sit inside another report and do not end it. */
export const NOT_A_NEW_REPORT: RegExp[] = [
  /invalid opcode: 0000/,
  /Kernel panic - not syncing/,
  /unregister_netdevice: waiting for/,
  // a double fault can happen while handling the fault being reported
  /PANIC: double fault/,
  /Internal error:/,
];

/** Informational messages with a stack trace: they end the report they interrupt. */
export const INFO_WITH_STACK = ['vmalloc: allocation failure:', 'FAULT_INJECTION: forcing a failure', 'FAULT_FLAG_ALLOW_RETRY missing'];
