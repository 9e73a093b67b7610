/** Plain-text layout helpers: everything a report prints goes through these (<= 80 columns). */
export const WIDTH = 80;

/** Word-wrap prose to `width`, continuation lines indented by `indent`. */
export function wrapWords(text: string, width = WIDTH, indent = ''): string[] {
  const out: string[] = [];
  let cur = '';
  for (const w of text.split(/\s+/).filter(Boolean)) {
    const next = cur ? `${cur} ${w}` : (out.length ? indent : '') + w;
    if (next.length > width && cur) {
      out.push(cur);
      cur = indent + w;
    } else cur = next;
  }
  if (cur) out.push(cur);
  return out.flatMap((l) => hardWrap(l, width, indent));
}

/** Break a line that must stay verbatim (console output) at `width`; continuation starts with `indent`. */
export function hardWrap(line: string, width = WIDTH, indent = '  '): string[] {
  if (line.length <= width) return [line];
  const out = [line.slice(0, width)];
  let rest = line.slice(width);
  const room = width - indent.length;
  while (rest.length) {
    out.push(indent + rest.slice(0, room));
    rest = rest.slice(room);
  }
  return out;
}

/**
 * A shell command line wrapped with ` \` continuations that still pastes
 * into sh as the same argv. An argument too long for a line (a kernel
 * command line) is cut into adjacent quoted pieces joined by backslash-newline
 * ('abc '\<newline>'def' is one word in sh), so those continuation lines
 * start at column 0.
 */
export function wrapCommand(argv: string[], width = WIDTH, indent = '  '): string[] {
  const q = (a: string) => (/^[\w@%+=:,./-]+$/.test(a) ? a : `'${a.replace(/'/g, `'\\''`)}'`);
  const parts: { text: string; raw: string[] }[] = [];
  for (let i = 0; i < argv.length; i++) {
    if (argv[i].startsWith('-') && i > 0 && i + 1 < argv.length && !argv[i + 1].startsWith('-')) {
      parts.push({ text: `${q(argv[i])} ${q(argv[i + 1])}`, raw: [argv[i], argv[i + 1]] });
      i++;
    } else parts.push({ text: q(argv[i]), raw: [argv[i]] });
  }
  const out: string[] = [];
  let cur = indent;
  const flush = () => { out.push(cur + ' \\'); cur = indent + '  '; };
  for (const p of parts) {
    const lead = cur.trim() ? ' ' : '';
    if ((cur + lead + p.text).length + 2 <= width) { cur += lead + p.text; continue; }
    if (cur.trim()) flush();
    if ((cur + p.text).length + 2 <= width) { cur += p.text; continue; }
    // Too long for any line: split the last word into quoted pieces.
    const head = p.raw.length === 2 ? q(p.raw[0]) + ' ' : '';
    const val = p.raw[p.raw.length - 1].replace(/'/g, `'\\''`);
    let line = cur + head + "'";
    let rest = val;
    while (rest.length) {
      const room = width - line.length - 2;      // closing quote + backslash
      let cut = rest.length <= room ? rest.length : rest.lastIndexOf(' ', room);
      if (cut <= 0) cut = Math.max(1, room);
      else if (cut < rest.length) cut += 1;        // keep the space with the left piece
      const piece = rest.slice(0, cut);
      rest = rest.slice(cut);
      if (rest.length) { out.push(line + piece + "'\\"); line = "'"; } else { line += piece + "'"; }
    }
    cur = line;
  }
  if (cur.trim()) out.push(cur);
  return out;
}

/** A fixed-width table: first column left-aligned, others right-aligned. */
export function table(header: string[], rows: string[][], width = WIDTH): string[] {
  const cols = header.length;
  const w = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const avail = width - 4 - 3 * (cols - 1);
  const rest = w.slice(1).reduce((a, b) => a + b, 0);
  if (w[0] + rest > avail) w[0] = Math.max(12, avail - rest);
  const cell = (s: string, i: number) => {
    const t = s.length > w[i] ? s.slice(0, w[i] - 1) + '~' : s;
    return i === 0 ? t.padEnd(w[i]) : t.padStart(w[i]);
  };
  const sepLine = '+' + w.map((x) => '-'.repeat(x + 2)).join('+') + '+';
  const row = (r: string[]) => '| ' + r.map((c, i) => cell(c ?? '', i)).join(' | ') + ' |';
  return [sepLine, row(header), sepLine, ...rows.map(row), sepLine].map((l) => l.slice(0, width));
}
