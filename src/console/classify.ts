/**
 * Crash classification: find kernel reports in a console log and name each
 * with a syzbot-style title ("BUG: soft lockup in f", "INFO: task hung in f",
 * "WARNING in f", ...).
 *
 * For every line that starts a report (oops.ts) we gather the report's lines
 * (same printk caller as the first line, unreliable frames dropped), try the
 * rules of the line's group (rules/), build the title from the winning rule's
 * template and the frame chosen from its stack (frames.ts), and judge whether
 * the report is garbled.
 *
 * Linear time: each report looks at a bounded window of lines, the number of
 * reports is bounded, lines are capped, and every regex is free of nested
 * quantifiers. Never throws.
 */
import type { CrashReport, Frame } from './types.ts';
import {
  CALL_TRACE,
  CORRUPTED_LINE,
  SYSCALL_PREFIXES,
  alwaysSkipped,
  RISCV_STACK_START,
  STACK_START,
  frameNames,
  isStackStart,
  stripSyscallPrefix,
  toFrame,
} from './frames.ts';
import { CONSOLE, NO_CONTEXT, decodeLog, isCpuContext, parseLine, splitLinesWithStarts, type ParsedLine } from './normalize.ts';
import { INFO_WITH_STACK, MATCH_CHARS, NOT_A_NEW_REPORT, REPLAY_MARK, candidateLines, matchOops } from './oops.ts';
import type { Format, OopsGroup } from './rules/index.ts';
import type { StackPart, StackSpec } from './rules/types.ts';
import { canonicalTitle, titleFrame } from './title.ts';
import { demangle } from './demangle.ts';
import { titleToType } from './titletype.ts';

/** Lines after a report's first line that may belong to it. */
export const REPORT_WINDOW = 2000;
/** Reports returned per log at most. */
export const MAX_REPORTS = 100;
const MAX_STACK = 100;
const TAIL_AFTER_SECOND = 200;

/** Classify a console log: all reports in order, the first is the primary one. */
export function classify(log: string | Uint8Array): CrashReport[] {
  try {
    const text = decodeLog(log);
    const { lines, starts } = splitLinesWithStarts(text);
    return classifyLines(lines, candidateLines(text, lines, starts));
  } catch {
    // A bug in a rule must not take down a run: no classification instead.
    return [];
  }
}

/** The first (primary) report of a log, or null. */
export function primaryReport(log: string | Uint8Array): CrashReport | null {
  return classify(log)[0] ?? null;
}

/**
 * Classify split lines. `candidates` (ascending line indexes) limits the
 * start-line test to lines that contain a report header somewhere.
 */
export function classifyLines(lines: string[], candidates?: number[]): CrashReport[] {
  const starts: number[] = [];
  const groups: OopsGroup[] = [];
  const isStart = new Uint8Array(lines.length);
  const n = candidates ? candidates.length : lines.length;
  for (let c = 0; c < n; c++) {
    const i = candidates ? candidates[c]! : c;
    const g = matchOops(lines[i]!);
    if (!g) continue;
    // The line was cut by another CPU's output and is printed again next.
    if (i + 1 < lines.length && lines[i + 1]!.indexOf(REPLAY_MARK) !== -1) continue;
    isStart[i] = 1;
    if (starts.length < MAX_REPORTS) {
      starts.push(i);
      groups.push(g);
    }
  }
  if (starts.length === 0) return [];
  const log = new ParsedLog(lines, isStart);
  const lost = lines.some((l) => l.indexOf('serialport: VM disconnected.') !== -1);
  const out: CrashReport[] = [];
  for (let k = 0; k < starts.length; k++) {
    const rep = log.report(starts[k]!, groups[k]!);
    if (lost) rep.corrupted = true;
    out.push(rep);
  }
  return out;
}

interface Gathered {
  texts: string[];
  idx: number[];
  /** the parsed lines behind texts (memoized stack-start tests live there) */
  parsed: ParsedLine[];
  /** texts[0:end] is the report proper; later lines came after a second report */
  end: number;
}

interface KeyFrame {
  canonical: string;
  raw: string;
}

interface StackResult {
  keys: KeyFrame[];
  ok: boolean;
  /** [line text, function name] of every frame seen (Frames are built for the winner only) */
  frames: [string, string][];
}

interface Description {
  desc: string;
  alts: string[];
  corrupted: string;
  format: Format | null;
  frames: [string, string][];
  line: number;
}

class ParsedLog {
  private parsed: (ParsedLine | undefined)[];
  constructor(
    private lines: string[],
    private isStart: Uint8Array,
  ) {
    this.parsed = new Array(lines.length);
  }

  private line(i: number): ParsedLine {
    let p = this.parsed[i];
    if (!p) {
      p = parseLine(this.lines[i]!);
      this.parsed[i] = p;
    }
    return p;
  }

  report(start: number, group: OopsGroup): CrashReport {
    const g = this.gather(start);
    const d = describe(g, group);
    let corrupted = d.corrupted;
    if (!corrupted) corrupted = judgeCorrupted(d.desc, g, d.format);
    const title = canonicalTitle(d.desc);
    const alts = d.alts.map(canonicalTitle);
    const frames = d.frames.length > 0 ? d.frames.map(([t, n]) => toFrame(t, n)) : traceFrames(g, d.line);
    return {
      title,
      altTitles: alts,
      type: titleToType(title),
      frame: titleFrame(title),
      corrupted: corrupted !== '',
      startLine: start,
      endLine: this.endLine(start, g),
      stack: frames,
    };
  }

  /** The report's lines: the first line's printk caller, reliable frames only. */
  private gather(start: number): Gathered {
    const first = this.line(start);
    const ctx = first.ctx;
    const callerCtx = ctx !== NO_CONTEXT && ctx !== CONSOLE;
    const minLines = this.lines[start]!.indexOf('BUG: KMSAN:') !== -1 ? 16 : 22;
    const last = Math.min(this.lines.length, start + REPORT_WINDOW);
    const texts: string[] = [];
    const idx: number[] = [];
    const parsed: ParsedLine[] = [];
    let end = 0;
    let second = -1;
    let textLines = 0;
    let skipText = false;
    let cpuTraceback = false;
    for (let i = start; i < last; i++) {
      const raw = this.lines[i]!;
      const isFirst = i === start;
      // Without caller ids the report ends at the next one; keep a margin of
      // lines for the corruption check, then stop.
      if (second >= 0 && !callerCtx && i > second + TAIL_AFTER_SECOND) break;
      if (!isFirst && second < 0) {
        if (this.isStart[i] === 1) {
          if (!NOT_A_NEW_REPORT.some((re) => re.test(raw))) second = i;
        } else if (INFO_WITH_STACK.some((s) => raw.indexOf(s) !== -1)) {
          second = i;
        }
      }
      const p = this.line(i);
      if (!isFirst && (p.questionable || (p.ctx !== ctx && !(cpuTraceback && isCpuContext(p.ctx))))) continue;
      textLines++;
      let skip = skipText;
      if (raw.indexOf('Disabling lock debugging due to kernel taint') !== -1) {
        skip = true;
      } else if (raw.indexOf('Sending NMI from CPU') !== -1) {
        // an all-CPU backtrace follows; keep other CPUs' lines
        cpuTraceback = true;
      } else if (
        (raw.indexOf('Kernel panic - not syncing') !== -1 ||
          raw.indexOf('WARNING: possible circular locking dependency detected') !== -1) &&
        textLines > minLines
      ) {
        // panic_on_warn panics and oops-induced lockdep splats repeat the stack we have
        skipText = true;
        skip = true;
      }
      if (!isFirst && skip) continue;
      texts.push(p.text);
      idx.push(i);
      parsed.push(p);
      if (second < 0 || callerCtx) end = texts.length;
    }
    return { texts, idx, parsed, end };
  }

  /**
   * Where the report ends: after its last stack, register or trace-marker
   * line before the next report (console noise that follows is not part of it).
   */
  private endLine(start: number, g: Gathered): number {
    let stop = g.end;
    for (let k = 1; k < g.end; k++) {
      if (g.texts[k]!.startsWith('---[ end ')) {
        stop = k + 1;
        break;
      }
    }
    let last = 0;
    for (let k = stop - 1; k > 0; k--) {
      const t = g.texts[k]!;
      if (REPORT_BODY.test(t) || frameNames(t) !== null) {
        last = k;
        break;
      }
    }
    return Math.max(start + 1, g.idx[last]! + 1);
  }
}

/** Lines that belong to a report body: stack tags, frames, registers, code, trace markers. */
const REPORT_BODY =
  /^\s*(?:<\/?(?:TASK|IRQ|NMI|EOI|SOFTIRQ)>|Call [Tt]race|Backtrace|RIP: |RSP: |R[A-Z0-9]{1,2}: |Code: |CR2: |FS: |CS: |DR[0-9]: |PKRU: |pc : |lr : |sp : |x[0-9]+ *: |Modules linked in|CPU: |Hardware name|Workqueue: |irq event stamp|hardirqs|softirqs|---\[ end |\[<[0-9a-f]+>\])/;

/** Apply a group's formats to the report; the earliest matching title wins. */
function describe(g: Gathered, group: OopsGroup): Description {
  const { texts, end } = g;
  const header = group.header === 'Booting the kernel.' ? 'Booting the kernel' : group.header;
  const cand: number[] = [];
  for (let j = 0; j < end; j++) if (texts[j]!.indexOf(header) !== -1) cand.push(j);

  let bestLine = Number.MAX_SAFE_INTEGER;
  let bestPos = Number.MAX_SAFE_INTEGER;
  let d: Description = { desc: '', alts: [], corrupted: '', format: null, frames: [], line: 0 };
  let matchedTitle = false;
  for (const f of group.formats) {
    let m: RegExpExecArray | null = null;
    let line = -1;
    for (const j of cand) {
      if (j > bestLine) break;
      const t = texts[j]!;
      const mm = f.title.exec(t.length > MATCH_CHARS ? t.slice(0, MATCH_CHARS) : t);
      if (mm) {
        m = mm;
        line = j;
        break;
      }
    }
    if (!m) continue;
    let caps = groupsOf(m);
    if (f.titleNext) {
      const r = matchSequence(texts, line + 1, end, f.titleNext);
      if (!r) continue;
      caps = caps.concat(r.caps);
    }
    const pos = m.index;
    if (line > bestLine || (line === bestLine && pos > bestPos)) continue;
    // At the same place an earlier format wins, unless it could not read the stack
    // and this one is a fallback for exactly that (Format.fallback).
    if (line === bestLine && pos === bestPos && d.desc !== '' && !(f.fallback && d.corrupted === 'extracted no frames')) continue;
    if (line < bestLine || pos < bestPos) {
      d = { desc: '', alts: [], corrupted: '', format: null, frames: [], line };
      bestLine = line;
      bestPos = pos;
    }
    matchedTitle = true;
    let from = line;
    if (f.report) {
      const r = matchSequence(texts, 0, end, f.report);
      if (!r) continue;
      caps = r.caps;
      from = r.line;
    }
    let corrupted = '';
    let st: StackResult = { keys: [], ok: true, frames: [] };
    if (f.stack) {
      st = extractStack(g, from, end, f.stack);
      if (!st.ok) corrupted = 'extracted no frames';
    }
    const args = caps.concat(st.keys.map((k) => k.canonical));
    const desc = fill(f.fmt, args);
    const alts: string[] = (f.alt ?? []).map((a) => fill(a, args));
    // Titles with the raw frame and with each syscall prefix removed, for dedup.
    for (const seq of strippedArgs(caps, st.keys)) {
      const t = fill(f.fmt, seq);
      if (t !== desc) alts.push(t);
      for (const a of f.alt ?? []) alts.push(fill(a, seq));
    }
    d = { desc, alts: uniq(alts), corrupted, format: f, frames: st.frames, line: from };
  }
  if (d.desc === '') {
    const reason = matchedTitle ? 'matched title but not report' : '';
    for (let j = 0; j < texts.length; j++) {
      const p = texts[j]!.indexOf(header);
      if (p !== -1) {
        d = { desc: texts[j]!.slice(p), alts: [], corrupted: reason, format: null, frames: [], line: j };
        break;
      }
    }
  }
  if (!d.corrupted && d.format?.corrupted) d.corrupted = 'format marks it corrupted';
  return d;
}

function groupsOf(m: RegExpExecArray): string[] {
  const out: string[] = [];
  for (let i = 1; i < m.length; i++) out.push(m[i] ?? '');
  return out;
}

/** Match regexes on successive lines (each strictly after the previous one). */
function matchSequence(texts: string[], from: number, end: number, res: RegExp[]): { caps: string[]; line: number } | null {
  const caps: string[] = [];
  let i = from;
  let first = -1;
  for (let k = 0; k < res.length; k++) {
    const re = res[k]!;
    let found = false;
    for (; i < end; i++) {
      const t = texts[i]!;
      const m = re.exec(t.length > MATCH_CHARS ? t.slice(0, MATCH_CHARS) : t);
      if (m) {
        caps.push(...groupsOf(m));
        if (k === 0) first = i;
        i++;
        found = true;
        break;
      }
    }
    if (!found) return null;
  }
  return { caps, line: first };
}

function fill(fmt: string, args: string[]): string {
  return fmt.replace(/\{(\d)\}/g, (_, n: string) => args[Number(n) - 1] ?? '');
}

function uniq(xs: string[]): string[] {
  return [...new Set(xs)];
}

/** Argument lists with raw frames, and with one syscall prefix removed from them. */
function strippedArgs(caps: string[], keys: KeyFrame[]): string[][] {
  if (keys.length === 0) return [];
  const out: string[][] = [caps.concat(keys.map((k) => k.raw))];
  for (const p of SYSCALL_PREFIXES) {
    let any = false;
    const list = keys.map((k) => {
      if (k.raw.startsWith(p)) {
        any = true;
        return k.raw.slice(p.length);
      }
      return k.raw;
    });
    if (any) out.push(caps.concat(list));
  }
  return out;
}

function skipped(spec: StackSpec, name: string): boolean {
  return alwaysSkipped(name) || (spec.skip !== null && spec.skip.test(name));
}

/** Memoized: does report line k start a stack trace? */
function startsStack(g: Gathered, k: number): boolean {
  const p = g.parsed[k]!;
  if (p.stackStart === undefined) p.stackStart = isStackStart(p.text);
  return p.stackStart;
}

function extractStack(g: Gathered, from: number, end: number, spec: StackSpec): StackResult {
  const r1 = extractWith(g, from, end, spec, spec.parts);
  if (r1.ok || !spec.parts2) return r1;
  const r2 = extractWith(g, from, end, spec, spec.parts2);
  if (r2.ok || !spec.parts3) return r2;
  const r3 = extractWith(g, from, end, spec, spec.parts3);
  return r3.ok ? r3 : r2;
}

/**
 * Walk the parts over the lines: a regex part consumes lines up to its first
 * match (its captures are frames); a 'stack' part collects frames until the
 * next stack start. After each stack (and at the end) one frame is chosen.
 */
function extractWith(g: Gathered, from: number, end: number, spec: StackSpec, parts: StackPart[]): StackResult {
  const texts = g.texts;
  let li = from;
  let raw: string[] = [];
  const keys: KeyFrame[] = [];
  const frames: [string, string][] = [];
  let ok = true;
  let stacks = 0;
  const add = (names: (string | undefined)[], text: string) => {
    for (let n of names) {
      if (!n) continue;
      if (n.charCodeAt(0) === 95 /* _ */ && (n.startsWith('_R') || n.startsWith('_Z'))) n = demangle(n);
      if (frames.length < MAX_STACK) frames.push([text, n]);
      if (!skipped(spec, n)) raw.push(n);
    }
  };
  for (let p = 0; ; p++) {
    if (p === parts.length || (parts[p] === 'stack' && stacks > 0)) {
      const k = choose(raw, spec);
      if (k) keys.push(k);
      else {
        keys.push({ canonical: 'corrupted', raw: 'corrupted' });
        ok = false;
      }
      raw = [];
    }
    if (p === parts.length) break;
    const part = parts[p]!;
    if (part === 'stack') {
      stacks++;
      while (li < end) {
        const t = texts[li]!;
        if (CORRUPTED_LINE.test(t)) {
          li++;
          ok = false;
          break;
        }
        if (startsStack(g, li++)) break;
        const next = parts[p + 1];
        if (next !== undefined && next !== 'stack') {
          const m = next.exec(t);
          if (m) {
            add(groupsOf(m), t);
            p++;
            break;
          }
        }
        const names = frameNames(t);
        if (names) add(names, t);
      }
    } else {
      while (li < end) {
        const t = texts[li++]!;
        if (CORRUPTED_LINE.test(t)) {
          ok = false;
          break;
        }
        const m = part.exec(t);
        if (!m) continue;
        add(groupsOf(m), t);
        break;
      }
    }
  }
  return { keys, ok, frames };
}

function choose(raw: string[], spec: StackSpec): KeyFrame | null {
  if (raw.length === 0) return null;
  const stripped = raw.map(stripSyscallPrefix);
  if (!spec.chooser) return { canonical: stripped[0]!, raw: raw[0]! };
  const c = spec.chooser(stripped);
  if (!c || !c.name) return null;
  return { canonical: c.name, raw: raw[c.index]! };
}

const TIMESTAMP_IN_TITLE = /\[ *[0-9]+\.[0-9]+\]/;

/**
 * Is the report garbled? A title with a timestamp inside was glued from two
 * lines; a report that should have a stack trace needs frames after each
 * "Call Trace:"-like line.
 */
function judgeCorrupted(desc: string, g: Gathered, format: Format | null): string {
  if (TIMESTAMP_IN_TITLE.test(desc)) return 'title contains a timestamp';
  if (!format || format.noStackTrace) return '';
  const texts = g.texts;
  const startLines: number[] = [];
  for (let j = 0; j < texts.length; j++) if (startsStack(g, j)) startLines.push(j);
  let hasStack = false;
  for (const key of STACK_START) {
    const j = startLines.find((x) => key.test(texts[x]!));
    if (j === undefined) continue;
    if (texts.length - j + 1 < 4) return 'call trace is missed';
    let corrupted = true;
    const stop = Math.min(j + 1 + 15, texts.length + 1);
    for (let i = j + 1; i < stop; i++) {
      const t = i < texts.length ? texts[i]! : '';
      if (i < texts.length && startsStack(g, i)) break;
      if (t.indexOf('(stack is not available)') !== -1 || frameNames(t)) {
        hasStack = true;
        corrupted = false;
        break;
      }
    }
    if (key !== RISCV_STACK_START && corrupted) return 'no frames in a stack trace';
  }
  return hasStack ? '' : 'no stack trace in report';
}

/** Frames of the first call trace at or after `from` (for reports without a stack rule). */
function traceFrames(g: Gathered, from: number): Frame[] {
  const { texts, end } = g;
  const out: Frame[] = [];
  let i = from;
  while (i < end && !CALL_TRACE.test(texts[i]!)) i++;
  for (i++; i < end && out.length < MAX_STACK; i++) {
    const t = texts[i]!;
    if (startsStack(g, i)) break;
    const names = frameNames(t);
    if (names) for (const n of names) out.push(toFrame(t, n));
  }
  return out;
}
