import { readFileSync, readdirSync, statSync } from 'node:fs';
import { join, relative, resolve, dirname, sep } from 'node:path';

/**
 * The import graph of src/, read from the sources: every `import ... from`,
 * `export ... from`, side-effect `import '...'` and `import('...')` (types
 * included: a type import ties two files as much as a value import does).
 * Only relative specifiers count; packages and node: modules are leaves.
 */
export function sourceFiles(root: string): string[] {
  const out: string[] = [];
  const walk = (d: string) => {
    for (const name of readdirSync(d).sort()) {
      const p = join(d, name);
      if (statSync(p).isDirectory()) walk(p);
      else if (/\.(ts|mts|js|mjs)$/.test(name) && !name.endsWith('.d.ts')) out.push(p);
    }
  };
  walk(root);
  return out;
}

const SPECIFIER = [
  /^\s*(?:import|export)\s[^'"]*?\bfrom\s*['"]([^'"]+)['"]/gm,   // import x from '...', export { y } from '...'
  /^\s*import\s*['"]([^'"]+)['"]/gm,                            // import '...'
  /\bimport\(\s*['"]([^'"]+)['"]\s*\)/g,                         // import('...'), also in type positions
];

/** Comments removed so an example in a doc comment is not an import. */
function stripComments(text: string): string {
  return text.replace(/\/\*[\s\S]*?\*\//g, (m) => m.replace(/[^\n]/g, ' ')).replace(/(^|[^:'"`\\])\/\/.*$/gm, '$1');
}

export function importsOf(file: string, text: string): string[] {
  const src = stripComments(text);
  const found = new Set<string>();
  for (const re of SPECIFIER) for (const m of src.matchAll(re)) if (m[1].startsWith('.')) found.add(resolve(dirname(file), m[1]));
  return [...found].sort();
}

export type Graph = Map<string, string[]>;

export function fileGraph(root: string): Graph {
  const g: Graph = new Map();
  for (const f of sourceFiles(root)) g.set(relative(root, f), importsOf(f, readFileSync(f, 'utf8')).map((p) => relative(root, p)));
  return g;
}

/** src/a/b.ts -> "a"; files directly under src/ are their own folder "." */
export function folderOf(rel: string): string {
  const parts = rel.split(sep);
  return parts.length > 1 ? parts[0] : '.';
}

export function folderGraph(files: Graph): Graph {
  const g = new Map<string, Set<string>>();
  for (const [f, deps] of files) {
    const a = folderOf(f);
    if (!g.has(a)) g.set(a, new Set());
    for (const d of deps) if (folderOf(d) !== a) g.get(a)!.add(folderOf(d));
  }
  return new Map([...g].map(([k, v]) => [k, [...v].sort()]));
}

/** Strongly connected components of more than one node, or a node importing itself (Tarjan). */
export function cycles(g: Graph): string[][] {
  let index = 0;
  const idx = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const on = new Set<string>();
  const out: string[][] = [];
  const visit = (v: string) => {
    idx.set(v, index);
    low.set(v, index++);
    stack.push(v);
    on.add(v);
    for (const w of g.get(v) ?? []) {
      if (!idx.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (on.has(w)) low.set(v, Math.min(low.get(v)!, idx.get(w)!));
    }
    if (low.get(v) === idx.get(v)) {
      const comp: string[] = [];
      let w: string;
      do {
        w = stack.pop()!;
        on.delete(w);
        comp.push(w);
      } while (w !== v);
      if (comp.length > 1 || (g.get(v) ?? []).includes(v)) out.push(comp.sort());
    }
  };
  for (const v of [...g.keys()].sort()) if (!idx.has(v)) visit(v);
  return out;
}

/** One path around a component, for the failure message: a -> b -> ... -> a. */
export function loopThrough(g: Graph, comp: string[]): string {
  const inComp = new Set(comp);
  const startAt = comp[0];
  const prev = new Map<string, string>();
  const queue = [startAt];
  const seen = new Set([startAt]);
  while (queue.length) {
    const v = queue.shift()!;
    for (const w of g.get(v) ?? []) {
      if (!inComp.has(w)) continue;
      if (w === startAt) {
        const path = [v];
        while (path[0] !== startAt) path.unshift(prev.get(path[0])!);
        return [...path, startAt].join(' -> ');
      }
      if (!seen.has(w)) {
        seen.add(w);
        prev.set(w, v);
        queue.push(w);
      }
    }
  }
  return comp.join(', ');
}
