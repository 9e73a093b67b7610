import { describe, it, expect } from 'vitest';
import { mkdtempSync, mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { tmpdir } from 'node:os';
import { fileGraph, folderGraph, cycles, loopThrough, importsOf } from './imports.ts';

const SRC = resolve(import.meta.dirname, '..', '..', 'src');

describe('import graph of src/', () => {
  const files = fileGraph(SRC);

  it('reads the imports of every source file', () => {
    expect(files.size).toBeGreaterThan(80);
    expect(files.get(join('cli', 'main.ts'))!.length).toBeGreaterThan(0);
  });

  it('has no cycle between files', () => {
    expect(cycles(files).map((c) => loopThrough(files, c))).toEqual([]);
  });

  it('has no cycle between folders', () => {
    const folders = folderGraph(files);
    expect(cycles(folders).map((c) => loopThrough(folders, c))).toEqual([]);
  });

  it('cli/ is imported by no other folder, and util/ imports no other folder', () => {
    const folders = folderGraph(files);
    expect([...folders].filter(([f, deps]) => f !== 'cli' && deps.includes('cli')).map(([f]) => f)).toEqual([]);
    expect(folders.get('util')).toEqual([]);
  });
});

describe('the cycle finder itself', () => {
  const tree = (files: Record<string, string>) => {
    const root = mkdtempSync(join(tmpdir(), 'krepro-imports-'));
    for (const [p, text] of Object.entries(files)) {
      mkdirSync(join(root, p, '..'), { recursive: true });
      writeFileSync(join(root, p), text);
    }
    return root;
  };

  it('finds a file cycle through a type import, and names the loop', () => {
    const g = fileGraph(tree({
      'a/x.ts': "import { y } from '../b/y.ts';\n",
      'b/y.ts': "import type { Z } from './z.ts';\nexport const y = 1;\n",
      'b/z.ts': "export type Z = import('../a/x.ts').X;\n",
    }));
    const c = cycles(g);
    expect(c).toHaveLength(1);
    expect(loopThrough(g, c[0])).toBe(`${join('a', 'x.ts')} -> ${join('b', 'y.ts')} -> ${join('b', 'z.ts')} -> ${join('a', 'x.ts')}`);
  });

  it('finds a folder cycle that no file cycle shows', () => {
    const g = fileGraph(tree({
      'run/a.ts': "import { b } from '../vm/b.ts';\n",
      'vm/b.ts': 'export const b = 1;\n',
      'vm/c.ts': "export { a } from '../run/d.ts';\n",
      'run/d.ts': 'export const a = 1;\n',
    }));
    expect(cycles(g)).toEqual([]);
    expect(cycles(folderGraph(g))).toEqual([['run', 'vm']]);
  });

  it('reads multi-line imports and re-exports, and not imports inside comments', () => {
    const f = '/p/src/run/x.ts';
    const text = [
      'import {',
      '  a,',
      '  b,',
      "} from '../vm/a.ts';",
      "export * from './y.ts';",
      "import './side.ts';",
      "// import { no } from '../cli/no.ts';",
      "/* import { no2 } from '../cli/no2.ts'; */",
      "import { execa } from 'execa';",
    ].join('\n');
    expect(importsOf(f, text)).toEqual(['/p/src/run/side.ts', '/p/src/run/y.ts', '/p/src/vm/a.ts']);
  });
});
