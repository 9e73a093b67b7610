/**
 * Stack decoding for reports: turn `func+0x11f/0x200 [module]` into
 * file:line, the way scripts/decode_stacktrace.sh does, with binutils
 * (addr2line, readelf), which run from src/vm/symbols.ts.
 *
 * Kernel frames: the symbol's address comes from System.map beside vmlinux
 * (or given), plus the offset, then `addr2line -f -i -e vmlinux`.
 * Module frames: the .ko is looked up under the modules dir; the symbol's
 * section and value come from `readelf -sW`, then `addr2line -j <section>`.
 * Inlined frames are kept (addr2line -i) so the line that matters shows.
 */
import { readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { addr2line, loadSystemMap, firstAddressByName, moduleSymbols } from '../vm/symbols.ts';

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
  const table = haveVmlinux && (await isFile(mapPath)) ? await loadSystemMap(mapPath!) : null;
  const map = table ? firstAddressByName(table) : null;
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
