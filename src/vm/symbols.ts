import { execa } from 'execa';
import { readFile, stat } from 'node:fs/promises';
import { dirname, join, normalize, relative } from 'node:path';

/**
 * Kernel symbols: the build's System.map (always there; parsed here only),
 * and binutils (addr2line, readelf), which run from this module only:
 * addresses -> symbols for QEMU's vCPU registers, and file:line for them
 * and for report stacks (src/report/stack-decode.ts) when vmlinux has
 * debug info.
 */
export interface SymbolTable {
  addrs: bigint[];
  names: string[];
  /** Where each text symbol ends: the next symbol of any kind in System.map (text, data, bss); null for the last. */
  ends: (bigint | null)[];
}

export function parseSystemMap(text: string): SymbolTable {
  const all: [bigint, string, boolean][] = [];
  for (const line of text.split('\n')) {
    const m = /^([0-9a-fA-F]+) ([a-zA-Z]) (\S+)/.exec(line);
    if (m) all.push([BigInt('0x' + m[1]), m[3], /^[tTwW]$/.test(m[2])]);
  }
  all.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
  const addrs: bigint[] = [];
  const names: string[] = [];
  const ends: (bigint | null)[] = [];
  for (let i = 0; i < all.length; i++) {
    if (!all[i][2]) continue;
    let j = i + 1;
    while (j < all.length && all[j][0] === all[i][0]) j++;
    addrs.push(all[i][0]);
    names.push(all[i][1]);
    ends.push(j < all.length ? all[j][0] : null);
  }
  return { addrs, names, ends };
}

/** name -> address of its first text symbol of that name (report stacks name functions). */
export function firstAddressByName(t: SymbolTable): Map<string, bigint> {
  const m = new Map<string, bigint>();
  t.names.forEach((n, i) => {
    if (!m.has(n)) m.set(n, t.addrs[i]);
  });
  return m;
}

export async function loadSystemMap(path: string): Promise<SymbolTable | null> {
  try {
    return parseSystemMap(await readFile(path, 'utf8'));
  } catch {
    return null;
  }
}

/** "mm_cid_get+0x11f/0x200" for an address, or null outside the text. */
export function symbolize(t: SymbolTable, addrHex: string): string | null {
  const a = BigInt('0x' + addrHex.replace(/^0x/, ''));
  let lo = 0;
  let hi = t.addrs.length - 1;
  if (hi < 0 || a < t.addrs[0]) return null;
  while (lo < hi) {
    const mid = (lo + hi + 1) >> 1;
    if (t.addrs[mid] <= a) lo = mid;
    else hi = mid - 1;
  }
  const off = a - t.addrs[lo];
  // The symbol's end: the next symbol of any kind (an address past the last function before the data is not text).
  const next = t.ends[lo];
  const size = next !== null ? next - t.addrs[lo] : null;
  if (size !== null && off >= size) return null;
  if (off > 0x100000n) return null;
  return `${t.names[lo]}+0x${off.toString(16)}${size !== null ? `/0x${size.toString(16)}` : ''}`;
}

/** file:line per address (hex) of vmlinux; null when unknown (no debug info). */
export async function sourceLines(vmlinux: string, addrs: string[]): Promise<(string | null)[]> {
  if (!addrs.length) return [];
  try {
    const res = await addr2line(vmlinux, addrs.map((a) => BigInt('0x' + a.replace(/^0x/, ''))));
    return res.map((frames) => {
      const f = frames.at(-1);
      return f && f.file !== '??' && f.line !== null ? `${f.file}:${f.line}` : null;
    });
  } catch {
    return addrs.map(() => null);
  }
}

function parseAddr2line(out: string): { func: string; file: string; line: number | null }[][] {
  // With -f -i and one address per query, each query prints (func, file:line)
  // pairs; we separate queries by a sentinel address that resolves to "??".
  const groups: { func: string; file: string; line: number | null }[][] = [];
  let cur: { func: string; file: string; line: number | null }[] = [];
  const lines = out.split('\n');
  for (let i = 0; i + 1 < lines.length; i += 2) {
    const func = lines[i];
    const loc = lines[i + 1];
    if (func === '__KREPRO_SEP__' || loc === '__KREPRO_SEP__') { groups.push(cur); cur = []; continue; }
    const m = /^(.*?):(\d+|\?)(?: \(discriminator \d+\))?$/.exec(loc);
    const file = m ? m[1] : loc;
    const ln = m && m[2] !== '?' ? Number(m[2]) : null;
    if (func === '??' && file === '??') continue;
    cur.push({ func, file, line: ln });
  }
  if (cur.length) groups.push(cur);
  return groups;
}

/** Run addr2line once for many addresses of one object; one result list per address. The one place addr2line runs. */
export async function addr2line(obj: string, addrs: bigint[], section?: string): Promise<{ func: string; file: string; line: number | null }[][]> {
  const out: { func: string; file: string; line: number | null }[][] = [];
  const roots = new Map<string, string | null>();
  for (const a of addrs) {
    const args = ['-f', '-i', '-e', obj, ...(section ? ['-j', section] : []), '0x' + a.toString(16)];
    const r = await execa('addr2line', args, { reject: false, timeout: 30_000 });
    const groups = parseAddr2line(String(r.stdout ?? '') + '\n');
    const frames = groups.flat();
    for (const f of frames) f.file = await sourceRelative(f.file, roots);
    out.push(frames);
  }
  return out;
}

/**
 * An O= build records source paths through the build dir
 * (`<O>/../../worktrees/<tree>/arch/x86/lib/delay.c`); a kernel developer
 * reads them from the top of the source tree (`arch/x86/lib/delay.c`), as
 * decode_stacktrace.sh prints them. The top is the nearest directory up the
 * path that holds both Kbuild and MAINTAINERS; a path outside any kernel
 * tree stays as it is.
 */
export async function sourceRelative(file: string, roots: Map<string, string | null> = new Map()): Promise<string> {
  if (!file.startsWith('/')) return file;
  const abs = normalize(file);
  const seen: string[] = [];
  let root: string | null = null;
  for (let dir = dirname(abs); ; dir = dirname(dir)) {
    if (roots.has(dir)) { root = roots.get(dir)!; break; }
    seen.push(dir);
    const isTop = (await stat(join(dir, 'Kbuild')).then((x) => x.isFile(), () => false)) &&
      (await stat(join(dir, 'MAINTAINERS')).then((x) => x.isFile(), () => false));
    if (isTop) { root = dir; break; }
    if (dir === dirname(dir)) break;
  }
  for (const d of seen) roots.set(d, root);
  return root ? relative(root, abs) : abs;
}

/** Symbol -> { section name, value } in a relocatable .ko, from readelf. */
export async function moduleSymbols(ko: string): Promise<Map<string, { section: string; value: bigint }>> {
  const secs = await execa('readelf', ['-SW', ko], { reject: false, timeout: 30_000 });
  const names = new Map<number, string>();
  for (const l of String(secs.stdout).split('\n')) {
    const m = /^\s*\[\s*(\d+)\]\s+(\S+)/.exec(l);
    if (m) names.set(Number(m[1]), m[2]);
  }
  const syms = await execa('readelf', ['-sW', ko], { reject: false, timeout: 30_000 });
  const out = new Map<string, { section: string; value: bigint }>();
  for (const l of String(syms.stdout).split('\n')) {
    const m = /^\s*\d+:\s+([0-9a-f]+)\s+\d+\s+FUNC\s+\S+\s+\S+\s+(\d+)\s+(\S+)/.exec(l);
    if (!m) continue;
    const section = names.get(Number(m[2]));
    if (section && !out.has(m[3])) out.set(m[3], { section, value: BigInt('0x' + m[1]) });
  }
  return out;
}

