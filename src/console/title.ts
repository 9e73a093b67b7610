/**
 * Title canonicalization: replace what differs between occurrences of the
 * same bug (addresses, numbers, pids, CPU numbers, offsets) so titles group
 * runs by bug, and keep titles to one printable line.
 */

const MAX_TITLE = 120;
const MAX_RAW = 400;

type Repl = [RegExp, string | ((...m: string[]) => string)];

/** Applied in order, each until the title stops changing. All patterns are linear. */
const REPLACEMENTS: Repl[] = [
  // executor and fuzzer process names carry instance numbers
  [/syz-executor\.?[0-9]+(?:[/:][0-9]+)?/g, 'syz-executor'],
  [/syzkaller[0-9]+(?:[/:][0-9]+)?/g, 'syzkaller'],
  // anything that looks like an address
  [/([^a-zA-Z0-9])(?:0x)?[0-9a-f]{6,}/g, '$1ADDR'],
  [/[0-9]{1,3}\.[0-9]{1,3}\.[0-9]{1,3}\.[0-9]{1,3}/g, 'IP'],
  // file:line
  [/(\.\w+)(?::[0-9]+)+/g, '$1:LINE'],
  // func+0x12/0x40 -> func
  [/([a-zA-Z][a-zA-Z0-9_.]+)\+0x[0-9a-z]+\/0x[0-9a-z]+/g, '$1'],
  [/CPU#[0-9]+/g, 'CPU'],
  // free-standing decimal numbers (digits inside identifiers stay: cfg80211)
  [/(\W)(\d+)(\W|$)/g, '$1NUM$3'],
  // long digit runs are not part of a name
  [/\d{7,}/g, 'NUM'],
];

function replaceAllStable(s: string): string {
  for (const [re, to] of REPLACEMENTS) {
    for (let i = 0; i < 8; i++) {
      const next = s.replace(re, to as string);
      if (next === s) break;
      s = next;
    }
  }
  return s;
}

/** Printable ASCII only, tabs to spaces, runs of spaces squeezed, at most 120 chars. */
function sanitize(title: string): string {
  let out = '';
  let prev = ' ';
  const n = Math.min(title.length, MAX_TITLE);
  for (let i = 0; i < n; i++) {
    let ch = title[i]!;
    const c = title.charCodeAt(i);
    if (ch === '\t') ch = ' ';
    else if (c < 0x20 || c >= 0x7f) continue;
    if (ch === ' ' && prev === ' ') continue;
    out += ch;
    prev = ch;
  }
  return out.trim();
}

export function canonicalTitle(raw: string): string {
  return sanitize(replaceAllStable(raw.length > MAX_RAW ? raw.slice(0, MAX_RAW) : raw));
}

const FRAME_AFTER_IN = /^((?:<[a-zA-Z0-9_: ]+>)?[a-zA-Z0-9_:]+)/;

/** The frame a title names: what follows its last " in ". */
export function titleFrame(title: string): string | null {
  let pos = title.lastIndexOf(' in ');
  while (pos >= 0) {
    const m = FRAME_AFTER_IN.exec(title.slice(pos + 4));
    if (m) return m[1]!;
    if (pos === 0) break;
    pos = title.lastIndexOf(' in ', pos - 1);
  }
  return null;
}
