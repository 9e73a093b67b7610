/**
 * Console line normalization: turn raw serial bytes into lines, and split each
 * line into its printk prefix (timestamp, caller id) and the message text.
 *
 * Everything here is linear in the input and never throws.
 */

/** Longest line we keep; kernel printk lines are at most ~1 KiB. */
export const MAX_LINE = 2048;

const decoder = new TextDecoder('utf-8', { fatal: false });

/** Decode a console log; invalid UTF-8 becomes U+FFFD. */
export function decodeLog(log: string | Uint8Array): string {
  if (typeof log === 'string') return log;
  try {
    return decoder.decode(log);
  } catch {
    return '';
  }
}

/**
 * Split text into lines: `\n` separates lines, every `\r` is dropped (serial
 * consoles send `\r\n`, and a bare `\r` means the line was rewritten), and a
 * line longer than MAX_LINE is cut.
 */
export function splitLines(text: string): string[] {
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    let l = lines[i]!;
    if (l.length > MAX_LINE) l = l.slice(0, MAX_LINE);
    if (l.indexOf('\r') !== -1) l = l.replace(/\r/g, '');
    lines[i] = l;
  }
  // "a\n" splits into ["a", ""]: the last empty piece is not a line.
  if (lines.length > 0 && lines[lines.length - 1] === '') lines.pop();
  return lines;
}

/** Lines (as splitLines) and the offset in `text` where each line starts. */
export function splitLinesWithStarts(text: string): { lines: string[]; starts: number[] } {
  const lines: string[] = [];
  const starts: number[] = [];
  let pos = 0;
  while (pos < text.length) {
    let nl = text.indexOf('\n', pos);
    if (nl === -1) nl = text.length;
    let l = nl - pos > MAX_LINE ? text.slice(pos, pos + MAX_LINE) : text.slice(pos, nl);
    if (l.indexOf('\r') !== -1) l = l.replace(/\r/g, '');
    lines.push(l);
    starts.push(pos);
    pos = nl + 1;
  }
  return { lines, starts };
}

/**
 * Who printed a line. '' means the line has no printk timestamp (user output,
 * or a kernel without CONFIG_PRINTK_TIME); 'console' means a timestamp but no
 * caller id; 'T123' / 'C1' is the CONFIG_PRINTK_CALLER id.
 */
export type LineContext = string;
export const NO_CONTEXT = '';
export const CONSOLE = 'console';

export interface LinePrefix {
  ctx: LineContext;
  /** index in the line where the message text starts */
  textStart: number;
}

const NONE: LinePrefix = { ctx: NO_CONTEXT, textStart: 0 };

function isDigit(c: number): boolean {
  return c >= 48 && c <= 57;
}

/** Parse `[ 12.345678]` at i; returns the index after `]` or -1. */
function parseTimestamp(line: string, i: number): number {
  if (line.charCodeAt(i) !== 91 /* [ */) return -1;
  i++;
  while (line.charCodeAt(i) === 32) i++;
  const d0 = i;
  while (isDigit(line.charCodeAt(i))) i++;
  if (i === d0 || line.charCodeAt(i) !== 46 /* . */) return -1;
  i++;
  const d1 = i;
  while (isDigit(line.charCodeAt(i))) i++;
  if (i === d1 || line.charCodeAt(i) !== 93 /* ] */) return -1;
  return i + 1;
}

/** Parse the printk prefix starting at i (after optional junk). */
function parseAt(line: string, i: number): LinePrefix | null {
  // Optional syslog level "<6>".
  if (line.charCodeAt(i) === 60 /* < */) {
    let j = i + 1;
    while (isDigit(line.charCodeAt(j))) j++;
    if (j > i + 1 && line.charCodeAt(j) === 62 /* > */) i = j + 1;
  }
  const t = parseTimestamp(line, i);
  if (t < 0) return null;
  i = t;
  let ctx = CONSOLE;
  if (line.charCodeAt(i) === 91 /* [ */) {
    let j = i + 1;
    while (line.charCodeAt(j) === 32) j++;
    const kind = line.charCodeAt(j);
    if (kind === 67 /* C */ || kind === 84 /* T */) {
      const d0 = j + 1;
      let k = d0;
      while (isDigit(line.charCodeAt(k))) k++;
      if (k > d0 && line.charCodeAt(k) === 93) {
        ctx = line.slice(j, k);
        i = k + 1;
      }
    }
  }
  if (line.charCodeAt(i) !== 32) return null;
  return { ctx, textStart: i + 1 };
}

const DROPPED_TAIL = ' printk messages dropped ** ';
const LOGIN = ' login: ';
/** Every line krepro's guest programs print starts so. */
export const GUEST_PREFIX = 'krepro-';

/** Find the printk prefix of a console line. */
export function parsePrefix(line: string): LinePrefix {
  const c0 = line.charCodeAt(0);
  if (c0 === 91 || c0 === 60) return parseAt(line, 0) ?? NONE;
  let i = 0;
  if (line.startsWith('** ')) {
    let j = 3;
    while (isDigit(line.charCodeAt(j))) j++;
    if (j > 3 && line.startsWith(DROPPED_TAIL, j)) {
      i = j + DROPPED_TAIL.length;
      const p = parseAt(line, i);
      if (p) return p;
    }
  }
  // A getty prompt glued in front of a kernel line: "syzkaller login: [ 1.2] ...".
  const lg = line.indexOf(LOGIN, i);
  if (lg !== -1) {
    const p = parseAt(line, lg + LOGIN.length);
    if (p) return p;
  }
  // Our guest's output with a kernel line glued to it: guest programs and
  // printk share the serial port, so `krepro-hb t=7 spawns=70[   31.0] watchdog: BUG: ...`.
  // Only for our own lines: elsewhere a bracket inside a line more often
  // follows a mangled kernel prefix than starts a new one.
  if (line.startsWith(GUEST_PREFIX)) {
    const j = line.indexOf('[', GUEST_PREFIX.length);
    if (j !== -1) return parseAt(line, j) ?? NONE;
  }
  return NONE;
}

export interface ParsedLine {
  ctx: LineContext;
  /** message text without the printk prefix (and without " ? " frame marker) */
  text: string;
  /** a stack frame the unwinder was not sure about ("? func+0x..") */
  questionable: boolean;
  /** memo for the classifier: does the text start a stack trace? */
  stackStart?: boolean;
}

/** Split a line into context and text; mark unreliable stack frames. */
export function parseLine(line: string): ParsedLine {
  const p = parsePrefix(line);
  if (p.ctx === NO_CONTEXT) return { ctx: NO_CONTEXT, text: line, questionable: false };
  let text = p.textStart > 0 ? line.slice(p.textStart) : line;
  let questionable = false;
  if (text.indexOf('<EOI>') === -1) {
    const q = text.indexOf(' ? ');
    if (q !== -1) {
      text = text.slice(q + 2);
      questionable = true;
    } else if (text.endsWith(' (unreliable)')) {
      text = text.slice(0, text.length - 13);
      questionable = true;
    }
  }
  return { ctx: p.ctx, text, questionable };
}

/** True for CONFIG_PRINTK_CALLER contexts of a CPU (interrupt) rather than a task. */
export function isCpuContext(ctx: LineContext): boolean {
  return ctx.length > 1 && ctx.charCodeAt(0) === 67 /* C */;
}

/** True for CONFIG_PRINTK_CALLER contexts of a task. */
export function isTaskContext(ctx: LineContext): boolean {
  return ctx.length > 1 && ctx.charCodeAt(0) === 84 /* T */;
}

/** The message text of a console line, prefix removed (for live detection). */
export function lineText(line: string): string {
  const p = parsePrefix(line);
  return p.textStart > 0 ? line.slice(p.textStart) : line;
}
