/**
 * Stack decoding for reports: turn `func+0x11f/0x200 [module]` into
 * file:line, the way scripts/decode_stacktrace.sh does, with binutils
 * (addr2line, readelf) run from this module only.
 *
 * Kernel frames: the symbol's address comes from System.map beside vmlinux
 * (or given), plus the offset, then `addr2line -f -i -e vmlinux`.
 * Module frames: the .ko is looked up under the modules dir; the symbol's
 * section and value come from `readelf -sW`, then `addr2line -j <section>`.
 * Inlined frames are kept (addr2line -i) so the line that matters shows.
 */
import { execa } from 'execa';
import { readdir, readFile, stat } from 'node:fs/promises';
import { dirname, join, normalize, relative } from 'node:path';

export interface FrameRef {
  func: string;
  offset?: string;       // "0x11f/0x200" or "0x11f"
  module?: string;
}

export interface Decoded {
  frame: FrameRef;
  locations: { func: string; file: string; line: number | null }[];  // innermost first
}

function offsetOf(f: FrameRef): number | null {
  if (!f.offset) return 0;
  const m = /^0x([0-9a-f]+)/i.exec(f.offset);
  return m ? parseInt(m[1], 16) : null;
}

export async function readSystemMap(path: string): Promise<Map<string, bigint>> {
  const map = new Map<string, bigint>();
  for (const line of (await readFile(path, 'utf8')).split('\n')) {
    const [addr, type, name] = line.split(' ');
    if (!name || !/^[tTwW]$/.test(type)) continue;
    if (!map.has(name)) map.set(name, BigInt('0x' + addr));
  }
  return map;
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

async function findModule(dir: string, name: string, depth = 0): Promise<string | null> {
  if (depth > 8) return null;
  let entries: import('node:fs').Dirent[];
  try { entries = await readdir(dir, { withFileTypes: true }); } catch { return null; }
  const want = new Set([`${name}.ko`, `${name.replace(/_/g, '-')}.ko`]);
  for (const e of entries) if (e.isFile() && want.has(e.name)) return join(dir, e.name);
  for (const e of entries) {
    if (e.isDirectory()) {
      const f = await findModule(join(dir, e.name), name, depth + 1);
      if (f) return f;
    }
  }
  return null;
}

/** Symbol -> { section name, value } in a relocatable .ko, from readelf. */
async function moduleSymbols(ko: string): Promise<Map<string, { section: string; value: bigint }>> {
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

export interface SymbolizeInput {
  vmlinux?: string | null;
  systemMap?: string | null;
  modulesDir?: string | null;
}

async function isFile(p: string | null | undefined): Promise<boolean> {
  if (!p) return false;
  try { return (await stat(p)).isFile(); } catch { return false; }
}

/** Decode what can be decoded; frames that cannot be keep an empty location list. */
export async function symbolizeFrames(frames: FrameRef[], inp: SymbolizeInput): Promise<Decoded[]> {
  const res: Decoded[] = frames.map((frame) => ({ frame, locations: [] }));
  const haveVmlinux = await isFile(inp.vmlinux);
  const mapPath = inp.systemMap ?? (inp.vmlinux ? join(inp.vmlinux, '..', 'System.map') : null);
  const map = haveVmlinux && (await isFile(mapPath)) ? await readSystemMap(mapPath!) : null;
  const kernelIdx: number[] = [];
  const kernelAddrs: bigint[] = [];
  const byModule = new Map<string, number[]>();
  frames.forEach((f, i) => {
    const off = offsetOf(f);
    if (off === null) return;
    if (f.module) {
      const l = byModule.get(f.module) ?? [];
      l.push(i);
      byModule.set(f.module, l);
    } else if (map?.has(f.func)) {
      kernelIdx.push(i);
      kernelAddrs.push(map.get(f.func)! + BigInt(off));
    }
  });
  if (haveVmlinux && kernelAddrs.length) {
    const got = await addr2line(inp.vmlinux!, kernelAddrs);
    kernelIdx.forEach((fi, k) => { res[fi].locations = got[k] ?? []; });
  }
  if (inp.modulesDir) {
    for (const [mod, idxs] of byModule) {
      const ko = await findModule(inp.modulesDir, mod);
      if (!ko) continue;
      const syms = await moduleSymbols(ko);
      for (const i of idxs) {
        const s = syms.get(frames[i].func);
        if (!s) continue;
        const [locs] = await addr2line(ko, [s.value + BigInt(offsetOf(frames[i]) ?? 0)], s.section);
        res[i].locations = locs ?? [];
      }
    }
  }
  return res;
}

/** "mm_cid_get+0x11f/0x200 [mod]" -> FrameRef (null when the line is not a frame). */
export function parseFrameLine(line: string): FrameRef | null {
  const m = /(?:^|\s)(?:\? )?([A-Za-z_.$][\w.$]*)\+(0x[0-9a-f]+(?:\/0x[0-9a-f]+)?)(?:\s+\[([\w-]+)\])?/i.exec(line);
  if (!m) return null;
  return { func: m[1], offset: m[2], module: m[3] };
}

/** Shorten build-dir prefixes so file:line fits a mail: keep from the first kernel dir. */
export function shortSource(file: string): string {
  const m = /(?:^|\/)((?:arch|kernel|mm|fs|include|drivers|lib|net|block|init|ipc|security|sound|crypto|virt)\/.*)$/.exec(file);
  return m ? m[1] : file.split('/').slice(-3).join('/');
}
