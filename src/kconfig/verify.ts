import { readdir, readFile } from 'node:fs/promises';
import { join, relative } from 'node:path';
import type { Requested } from './fragments.ts';

/**
 * After merge + olddefconfig, every symbol a fragment set must hold that
 * value; Kconfig drops what it cannot satisfy without a word (6.12 hides
 * SCHED_MM_CID unless CGROUPS=y). This is a pure comparison; explaining a
 * drop reads the tree's Kconfig files.
 */
export interface Mismatch {
  symbol: string;       // CONFIG_X
  wanted: string;
  got: string | null;   // null: absent from .config
}

export function compareConfig(requested: Requested, final: Map<string, string>): Mismatch[] {
  const out: Mismatch[] = [];
  for (const [sym, wanted] of requested) {
    const got = final.get(sym) ?? null;
    if (wanted === 'n') {
      if (got === null || got === 'n') continue;
    } else if (got === wanted) continue;
    out.push({ symbol: sym, wanted, got });
  }
  return out;
}

export interface KconfigEntry {
  file: string;
  dependsOn: string[];
  enclosingIfs: string[];
}

/**
 * A small Kconfig scanner: for each `config X` / `menuconfig X`, where it is
 * defined, its `depends on` lines and the `if` blocks around it. Not a full
 * Kconfig parser; enough to tell a user why a symbol was dropped.
 */
export async function scanKconfig(treeDir: string, symbols: Set<string>): Promise<Map<string, KconfigEntry>> {
  const wanted = new Set([...symbols].map((s) => s.replace(/^CONFIG_/, '')));
  const found = new Map<string, KconfigEntry>();
  const files: string[] = [];
  async function walk(dir: string, depth: number): Promise<void> {
    if (depth > 12) return;
    let ents;
    try {
      ents = await readdir(dir, { withFileTypes: true });
    } catch {
      return;
    }
    for (const e of ents) {
      if (e.name.startsWith('.')) continue;
      const p = join(dir, e.name);
      if (e.isDirectory()) {
        if (e.name === 'Documentation' || e.name === 'tools' || e.name === 'samples') continue;
        await walk(p, depth + 1);
      } else if (e.name.startsWith('Kconfig')) files.push(p);
    }
  }
  await walk(treeDir, 0);
  for (const f of files) {
    const text = await readFile(f, 'utf8');
    const ifs: string[] = [];
    let current: KconfigEntry | null = null;
    let currentSym = '';
    for (const raw of text.split('\n')) {
      const l = raw.trim();
      let m;
      if ((m = /^(?:menu)?config\s+([A-Za-z0-9_]+)/.exec(l))) {
        currentSym = m[1];
        current = wanted.has(currentSym) && !found.has(currentSym) ? { file: relative(treeDir, f), dependsOn: [], enclosingIfs: [...ifs] } : null;
        if (current) found.set(currentSym, current);
        continue;
      }
      if (/^(choice|endchoice|menu\s|endmenu|comment\s|source\s)/.test(l)) {
        current = null;
      }
      if ((m = /^if\s+(.+)$/.exec(l))) {
        ifs.push(m[1].trim());
        current = null;
        continue;
      }
      if (/^endif\b/.test(l)) {
        ifs.pop();
        current = null;
        continue;
      }
      if (current && (m = /^depends\s+on\s+(.+)$/.exec(l))) current.dependsOn.push(m[1].trim());
    }
  }
  return found;
}

/** Symbols in a Kconfig expression whose value in .config is n or absent. */
export function unmetSymbols(expr: string, final: Map<string, string>): string[] {
  const out: string[] = [];
  for (const m of expr.matchAll(/!?\b([A-Z][A-Z0-9_]*)\b/g)) {
    const neg = m[0].startsWith('!');
    const v = final.get(`CONFIG_${m[1]}`) ?? 'n';
    const on = v !== 'n';
    if (m[1] === 'y' || m[1] === 'm' || m[1] === 'n') continue;
    if (neg ? on : !on) out.push(neg ? `!${m[1]}` : m[1]);
  }
  return [...new Set(out)];
}

export function explainMismatch(mm: Mismatch, entry: KconfigEntry | undefined, final: Map<string, string>): string {
  const got = mm.got === null ? 'absent' : mm.got;
  const head = `${mm.symbol}: wanted ${mm.wanted}, got ${got}`;
  if (!entry) return `${head} (no such symbol in this tree's Kconfig)`;
  const unmet = [...entry.dependsOn, ...entry.enclosingIfs].flatMap((d) => unmetSymbols(d, final));
  const parts: string[] = [];
  if (entry.dependsOn.length) parts.push(`depends on ${entry.dependsOn.join(' && ')}`);
  if (entry.enclosingIfs.length) parts.push(`inside 'if ${entry.enclosingIfs.join("' and 'if ")}'`);
  const where = `${entry.file}`;
  return `${head}; ${parts.join(', ') || 'no dependencies listed'} [${where}]${unmet.length ? `; unmet: ${unmet.join(', ')}` : ''}`;
}
