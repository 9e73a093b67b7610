import { readFile } from 'node:fs/promises';
import { addr2line as runAddr2line } from '../report/symbolize.ts';

/**
 * Addresses -> symbols with the build's System.map (always there), and
 * file:line with addr2line when vmlinux has debug info.
 */
export interface SymbolTable {
  addrs: bigint[];
  names: string[];
}

export function parseSystemMap(text: string): SymbolTable {
  const rows: [bigint, string][] = [];
  for (const line of text.split('\n')) {
    const m = /^([0-9a-fA-F]+) ([tTwW]) (\S+)/.exec(line);
    if (m) rows.push([BigInt('0x' + m[1]), m[3]]);
  }
  rows.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
  return { addrs: rows.map((r) => r[0]), names: rows.map((r) => r[1]) };
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
  const next = t.addrs.slice(lo + 1).find((x) => x > t.addrs[lo]);
  const size = next !== undefined ? next - t.addrs[lo] : null;
  if (size !== null && off >= size) return null;
  if (off > 0x100000n) return null;
  return `${t.names[lo]}+0x${off.toString(16)}${size !== null ? `/0x${size.toString(16)}` : ''}`;
}

/** file:line per address via addr2line (src/report/symbolize.ts runs it); null when unknown (no debug info). */
export async function addr2line(vmlinux: string, addrs: string[]): Promise<(string | null)[]> {
  if (!addrs.length) return [];
  try {
    const res = await runAddr2line(vmlinux, addrs.map((a) => BigInt('0x' + a.replace(/^0x/, ''))));
    return res.map((frames) => {
      const f = frames.at(-1);
      return f && f.file !== '??' && f.line !== null ? `${f.file}:${f.line}` : null;
    });
  } catch {
    return addrs.map(() => null);
  }
}
