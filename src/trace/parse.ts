/**
 * Parse ftrace text into events: console dumps from ftrace_dump_on_oops
 * (`[ 4.529065] virtme-n-1 3d..1. 1115937us : mmcid_user_add: pid=72 ...`),
 * tracefs `trace` / `trace_pipe` output (`stress-300 [000] d..1. 10.000100: ...`),
 * and either of them quoted in mail (`> ` prefixes, trailing annotations).
 * Lines that are not trace lines are ignored. Linear in the input size and
 * never throws: every line is looked at once, with a bounded amount of work.
 */

/** One trace line, whatever its shape. */
export interface TraceLine {
  lineNo: number;        // 1-based line number in the input
  text: string;          // the line without mail quoting (printk time kept)
  comm: string;          // comm of the task that recorded the event (may be truncated)
  pid: number;           // pid of the task that recorded the event
  cpu: number;           // CPU the event was recorded on
  time: number;          // trace clock, seconds
  event: string;         // event name, e.g. mmcid_getcid
  body: string;          // what the event printed
}

export type MmcidEvent =
  | { kind: 'getcid' | 'putcid'; mm: string; cid: number }
  | { kind: 'task_update'; pid: number; cid: number; mm: string }
  | { kind: 'cpu_update'; cpu: number; cid: number; mm: string }
  | { kind: 'fixup_task'; pid: number; cid: number; active: number; users: number; mm: string }
  | { kind: 'user_add' | 'user_del'; pid: number; users: number; mm: string }
  /**
   * A line that names an mm but lost characters (a console that dropped
   * bytes during the dump): the event is gone, what survived is kept.
   * `body` holds the intact `key=value ... mm=` run, if one survived.
   */
  | { kind: 'damaged'; mm: string; body: string };

export type SchedEvent =
  | { kind: 'switch'; prevPid: number; prevComm: string; nextPid: number; nextComm: string }
  | { kind: 'fork'; pid: number; childPid: number; childComm: string }
  | { kind: 'exec'; pid: number; oldPid: number; filename: string }
  | { kind: 'exit'; pid: number };

export type TraceEvent = (MmcidEvent | SchedEvent) & { line: TraceLine };

export interface ParsedTrace {
  events: TraceEvent[];
  /** Trace lines recognised, including events this parser does not model. */
  traceLines: number;
  /** Lines that looked like an mmcid event but lacked a field (elided, garbled). */
  rejected: number;
  /** Of those, lines that still name an mm: kept as `damaged` events for the replay. */
  damaged: number;
  /** CPU count from a tracefs header (`#P:4`), if present. */
  cpus: number | null;
  /** Largest CPU number seen on a trace line, or -1. */
  maxCpu: number;
  /**
   * The ring buffer dropped events (`CPU:N [LOST M EVENTS]`, or a tracefs
   * header with fewer entries in the buffer than written). Each CPU's buffer
   * drops its own oldest events, so the trace is complete only from the
   * latest of the CPUs' first timestamps: `completeFrom`.
   */
  lost: boolean;
  completeFrom: number | null;
  /**
   * The latest of the CPUs' first timestamps: from here on every CPU's
   * buffer is known to hold its events (null: no events). completeFrom is
   * this when the trace says it lost events; callers that know the start
   * may be cut otherwise use it themselves.
   */
  coveredFrom: number | null;
  /**
   * The text stops before the trace did: a tracefs dump with fewer event
   * lines than its header's entries-in-buffer (a transfer cut short), or an
   * ftrace dump on the console without its closing dashed line. What the
   * kernel did after the cut is unknown.
   */
  truncated: boolean;
}

/** Longest line considered; real trace lines are far shorter. Bounds regex work per line. */
const MAX_LINE = 2048;

// `[    4.529065] ` printk time, optionally followed by a caller id `[    T1] `.
const PRINTK = /^\[\s*\d+\.\d+\](?:\[\s*[TC]\d+\])?\s?/;
// ftrace_dump / latency format: `comm-pid  CPU<flags> <usecs>us<mark>: event: body`
const CONSOLE = /^\s*(.{1,32}?)-(\d+)\s+(\d+)([^\s\d]\S{2,6})?\s+(\d+)us\s?[+!#*@$ ]?\s*:\s+([A-Za-z0-9_]+):\s?(.*)$/;
// tracefs: `comm-pid (tgid) [CPU] <flags> secs.usecs: event: body`
const TRACEFS = /^\s*(.{1,32}?)-(\d+)\s+(?:\(\s*[\d-]+\)\s+)?\[(\d+)\]\s+(?:(\S{3,7})\s+)?(\d+\.\d+):\s+([A-Za-z0-9_]+):\s?(.*)$/;
const HEADER_CPUS = /#P:(\d+)/;
const HEADER_ENTRIES = /entries-in-buffer\/entries-written:\s*(\d+)\/(\d+)/;
const LOST = /CPU:\d+ \[LOST \d+ EVENTS\]/;

/** Remove mail quoting (`> `, `>> `, `> > `) from the start of a line. */
export function unquote(line: string): string {
  let i = 0;
  while (i < line.length) {
    const c = line.charCodeAt(i);
    if (c === 0x3e /* > */ || c === 0x20 || c === 0x09) i++;
    else break;
  }
  // Only strip when there was at least one '>'; keep leading spaces of tracefs lines.
  return line.slice(0, i).includes('>') ? line.slice(i) : line;
}

/** Parse one line; null if it is not a trace line. */
export function parseTraceLine(raw: string, lineNo: number): TraceLine | null {
  if (raw.length > MAX_LINE) return null;
  let s = raw.endsWith('\r') ? raw.slice(0, -1) : raw;
  s = unquote(s);
  if (!s.includes(': ')) return null;
  const text = s.trim();
  const p = PRINTK.exec(s);
  if (p) s = s.slice(p[0].length);
  let m = TRACEFS.exec(s);
  if (m) {
    return {
      lineNo, text, comm: m[1].trim(), pid: Number(m[2]), cpu: Number(m[3]),
      time: Number(m[5]), event: m[6], body: m[7],
    };
  }
  m = CONSOLE.exec(s);
  if (m) {
    return {
      lineNo, text, comm: m[1].trim(), pid: Number(m[2]), cpu: Number(m[3]),
      time: Number(m[5]) / 1e6, event: m[6], body: m[7],
    };
  }
  return null;
}

/**
 * Read `key=value` fields in order from an event body. Each key must appear
 * (as a whole word) after the previous one and its value must match `kind`.
 * Anything after the last field (mail annotations like `<=== missing!`) is
 * ignored; a missing field (an elided `...` line) rejects the line.
 */
function fields(body: string, spec: [string, 'dec' | 'hex' | 'ptr'][]): Map<string, string> | null {
  const out = new Map<string, string>();
  let pos = 0;
  for (const [key, kind] of spec) {
    const at = findKey(body, key + '=', pos);
    if (at < 0) return null;
    let i = at + key.length + 1;
    const start = i;
    while (i < body.length && isValueChar(body.charCodeAt(i), kind)) i++;
    if (i === start) return null;
    // The value must end at a word boundary: whitespace, end, or punctuation.
    if (i < body.length && /[A-Za-z0-9_]/.test(body[i])) return null;
    // %p prints a hashed pointer of 8 or 16 hex digits: any other width lost characters.
    if (kind === 'ptr') {
      const digits = body.slice(start, i).replace(/^0x/, '').length;
      if (digits !== 8 && digits !== 16) return null;
    }
    out.set(key, body.slice(start, i));
    pos = i;
  }
  return out;
}

function findKey(body: string, key: string, from: number): number {
  let at = body.indexOf(key, from);
  while (at > 0 && /[A-Za-z0-9_]/.test(body[at - 1])) at = body.indexOf(key, at + 1);
  return at;
}

function isValueChar(c: number, kind: 'dec' | 'hex' | 'ptr'): boolean {
  const digit = c >= 0x30 && c <= 0x39;
  if (kind === 'dec') return digit;
  return digit || (c >= 0x61 && c <= 0x66) || (c >= 0x41 && c <= 0x46) || (kind === 'ptr' && c === 0x78 /* x */);
}

const hex = (s: string) => parseInt(s, 16) >>> 0;

/** Turn a trace line into a modelled event, or null (other events, malformed bodies). */
export function toEvent(line: TraceLine): TraceEvent | null {
  const b = line.body;
  switch (line.event) {
    case 'mmcid_getcid':
    case 'mmcid_putcid': {
      const f = fields(b, [['mm', 'ptr'], ['cid', 'hex']]);
      if (!f) return null;
      return { kind: line.event === 'mmcid_getcid' ? 'getcid' : 'putcid', mm: f.get('mm')!, cid: hex(f.get('cid')!), line };
    }
    case 'mmcid_task_update': {
      const f = fields(b, [['pid', 'dec'], ['cid', 'hex'], ['mm', 'ptr']]);
      if (!f) return null;
      return { kind: 'task_update', pid: Number(f.get('pid')), cid: hex(f.get('cid')!), mm: f.get('mm')!, line };
    }
    case 'mmcid_cpu_update': {
      const f = fields(b, [['cpu', 'dec'], ['cid', 'hex'], ['mm', 'ptr']]);
      if (!f) return null;
      return { kind: 'cpu_update', cpu: Number(f.get('cpu')), cid: hex(f.get('cid')!), mm: f.get('mm')!, line };
    }
    case 'mmcid_fixup_task': {
      const f = fields(b, [['pid', 'dec'], ['cid', 'hex'], ['active', 'dec'], ['users', 'dec'], ['mm', 'ptr']]);
      if (!f) return null;
      return {
        kind: 'fixup_task', pid: Number(f.get('pid')), cid: hex(f.get('cid')!), active: Number(f.get('active')),
        users: Number(f.get('users')), mm: f.get('mm')!, line,
      };
    }
    case 'mmcid_user_add':
    case 'mmcid_user_del': {
      const f = fields(b, [['pid', 'dec'], ['users', 'dec'], ['mm', 'ptr']]);
      if (!f) return null;
      return {
        kind: line.event === 'mmcid_user_add' ? 'user_add' : 'user_del', pid: Number(f.get('pid')),
        users: Number(f.get('users')), mm: f.get('mm')!, line,
      };
    }
    case 'sched_switch': {
      const m = /prev_comm=(.*?) prev_pid=(\d+) .*==> next_comm=(.*?) next_pid=(\d+)/.exec(b);
      if (!m) return null;
      return { kind: 'switch', prevComm: m[1], prevPid: Number(m[2]), nextComm: m[3], nextPid: Number(m[4]), line };
    }
    case 'sched_process_fork': {
      const m = /\bpid=(\d+) child_comm=(.*?) child_pid=(\d+)/.exec(b);
      if (!m) return null;
      return { kind: 'fork', pid: Number(m[1]), childComm: m[2], childPid: Number(m[3]), line };
    }
    case 'sched_process_exec': {
      const m = /filename=(.*?) pid=(\d+) old_pid=(\d+)/.exec(b);
      if (!m) return null;
      return { kind: 'exec', filename: m[1], pid: Number(m[2]), oldPid: Number(m[3]), line };
    }
    case 'sched_process_exit': {
      const m = /\bpid=(\d+)/.exec(b);
      if (!m) return null;
      return { kind: 'exit', pid: Number(m[1]), line };
    }
    default:
      return null;
  }
}

const DAMAGED_MM = /\bmm=([0-9a-f]{16})\b/;
const DAMAGED_PARTIAL_MM = /\bmm=([0-9a-f]{4,15})\b/;
const DAMAGED_PREFIX = /^\s*(.{1,32}?)-(\d+)\s+(\d+)/;
const DAMAGED_TIME = /\s(\d+)us\b/;
/** A console-dump line whose timestamp lost its digits, the rest intact. */
const CONSOLE_NO_TIME = /^\s*(.{1,32}?)-(\d+)\s+(\d+)\S*\s+us : (mmcid_[a-z_]+): (.*)$/;
const DAMAGED_BODY = /(?:(?:pid|cpu|cid|active|users)=[0-9a-f]+ )+mm=[0-9a-f]{16}\b|mm=[0-9a-f]{16} cid=[0-9a-f]{8}\b/;

/**
 * ` mm=` itself lost, its digits run on from the field before
 * (`cid=8000000000004ced43ed`): what follows a cid's 8 digits, or the
 * longest hex run, is what is left of the pointer.
 */
function mergedMm(s: string): [string, string] | null {
  let best = '';
  for (const m of s.slice(s.indexOf('mmcid')).matchAll(/(cid=)?([0-9a-f]{10,})/g)) {
    const run = m[1] ? m[2].slice(8) : m[2];
    if (run.length > best.length) best = run;
  }
  return best.length >= 6 ? [best, best] : null;
}

/**
 * An mmcid line the console damaged: it names an mm (` mm=` and 16 hex
 * digits) but is not a whole event. What can be read of the recording task,
 * CPU and time is kept; unreadable ones take the previous line's.
 */
function salvage(raw: string, lineNo: number, prev: TraceLine | null): TraceEvent | null {
  if (raw.length > MAX_LINE || !(raw.includes('mm=') || raw.includes('mmcid'))) return null;
  let s = unquote(raw.endsWith('\r') ? raw.slice(0, -1) : raw);
  // A pointer that lost digits keeps the rest in order: `?` + what is left, resolved by the replay.
  const mm = DAMAGED_MM.exec(s) ?? (s.includes('mmcid') ? DAMAGED_PARTIAL_MM.exec(s) ?? mergedMm(s) : null);
  if (!mm) return null;
  const mmName = mm[1].length === 16 ? mm[1] : `?${mm[1]}`;
  const text = s.trim();
  const p = PRINTK.exec(s);
  if (p) s = s.slice(p[0].length);
  // Only the timestamp lost its digits (`0d..1. us : mmcid_user_add: pid=934 users=3 mm=...`,
  // seen in a real 7.2 stall dump): the event is whole, and the dump is in time
  // order, so it keeps its place with the previous line's time.
  const lostTime = prev ? CONSOLE_NO_TIME.exec(s) : null;
  if (lostTime) {
    const ev = toEvent({ lineNo, text, comm: lostTime[1].trim(), pid: Number(lostTime[2]), cpu: Number(lostTime[3]), time: prev!.time, event: lostTime[4], body: lostTime[5] });
    if (ev) return ev;
  }
  const pre = DAMAGED_PREFIX.exec(s);
  const t = DAMAGED_TIME.exec(s);
  const body = DAMAGED_BODY.exec(s)?.[0] ?? '';
  // Only what is recognisably left of a trace line: prose that mentions an mm is not damage.
  if (!(p || pre) || !(text.includes('mmcid') || body)) return null;
  const line: TraceLine = {
    lineNo, text, comm: pre ? pre[1].trim() : '', pid: pre ? Number(pre[2]) : -1, cpu: pre ? Number(pre[3]) : (prev?.cpu ?? -1),
    time: t ? Number(t[1]) / 1e6 : (prev?.time ?? 0), event: 'damaged', body,
  };
  return { kind: 'damaged', mm: mmName, body, line };
}

/** Parse a whole trace (any mix of shapes, quoted or not, with unrelated lines). */
export function parseTrace(text: string): ParsedTrace {
  const events: TraceEvent[] = [];
  let traceLines = 0;
  let rejected = 0;
  let damaged = 0;
  let cpus: number | null = null;
  let maxCpu = -1;
  let lost = false;
  let inBuffer: number | null = null;
  const firstTime = new Map<number, number>();
  let lineNo = 0;
  let start = 0;
  const n = text.length;
  while (start <= n) {
    let end = text.indexOf('\n', start);
    if (end < 0) end = n;
    lineNo++;
    const raw = text.slice(start, end);
    start = end + 1;
    if (raw.length === 0) { if (end === n) break; continue; }
    if (raw.length < 200) {
      if (cpus === null && raw.includes('#P:')) {
        const h = HEADER_CPUS.exec(raw);
        if (h) cpus = Number(h[1]);
        const en = HEADER_ENTRIES.exec(raw);
        if (en && Number(en[1]) < Number(en[2])) lost = true;
        if (en) inBuffer = Number(en[1]);
      }
      if (raw.includes('[LOST ') && LOST.test(raw)) lost = true;
    }
    const line = parseTraceLine(raw, lineNo);
    const ev = line ? toEvent(line) : null;
    if (!ev && (!line || !line.event.startsWith('sched_'))) {
      const d = salvage(raw, lineNo, events.length ? events[events.length - 1].line : null);
      if (d) { events.push(d); rejected++; damaged++; if (end === n) break; continue; }
    }
    if (!line) { if (end === n) break; continue; }
    traceLines++;
    if (line.cpu > maxCpu) maxCpu = line.cpu;
    if (!firstTime.has(line.cpu)) firstTime.set(line.cpu, line.time);
    if (ev) events.push(ev);
    else if (line.event.startsWith('mmcid_')) rejected++;
    if (end === n) break;
  }
  const coveredFrom = firstTime.size ? Math.max(...firstTime.values()) : null;
  const completeFrom = lost ? coveredFrom : null;
  // The header counts each event once; a dump may also hold `[LOST]` notes.
  const truncated = inBuffer !== null && traceLines < inBuffer;
  return { events, traceLines, rejected, damaged, cpus, maxCpu, lost, completeFrom, truncated, coveredFrom };
}

/**
 * Cut the ftrace_dump_on_oops output out of a console log: everything between
 * each "Dumping ftrace buffer:" header (and its dashed line) and the closing
 * dashed line, dumps concatenated in order (a dump consumes what it prints, so
 * a later dump holds only newer events). A dump cut short by the end of the
 * log is kept up to there. Null if the log has no dump.
 */
export function extractFtraceDumpInfo(consoleText: string): { text: string; complete: boolean } | null {
  const lines = consoleText.split('\n');
  const out: string[] = [];
  let found = false;
  let state: 'out' | 'header' | 'in' = 'out';
  for (const raw of lines) {
    const l = raw.replace(/\r$/, '');
    const bare = l.replace(PRINTK, '').trim();
    if (/^Dumping ftrace (?:instance \S+ )?buffer:/.test(bare)) {
      found = true;
      state = 'header';
      continue;
    }
    if (state === 'header') {
      if (/^-{5,}$/.test(bare)) state = 'in';
      else if (/^\(ftrace buffer empty\)$/.test(bare)) state = 'out';
      continue;
    }
    if (state === 'in') {
      if (/^-{5,}$/.test(bare)) { state = 'out'; continue; }
      out.push(l);
    }
  }
  if (!found) return null;
  return { text: out.length ? out.join('\n') + '\n' : '', complete: state !== 'in' };
}

export function extractFtraceDump(consoleText: string): string | null {
  return extractFtraceDumpInfo(consoleText)?.text ?? null;
}
