/** Reading the syzkaller report corpus (../shared/corpus/syzkaller-reports) by path. */
import { readdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { PROJECT_ROOT } from '../../src/util/paths.ts';

export const CORPUS = resolve(PROJECT_ROOT, '../shared/corpus');
export const SYZ_DIR = join(CORPUS, 'syzkaller-reports');
export const QEMU_DIR = join(CORPUS, 'qemu-6.12');

export interface CorpusCase {
  name: string;
  title: string;
  alt: string[];
  type: string;
  frame: string;
  corrupted: boolean;
  log: Uint8Array;
}

/** Parse one corpus file: headers, an empty line, the log, optionally "REPORT:" and the report. */
export function parseCase(name: string, data: Buffer): CorpusCase {
  // The corpus convention drops every \r before parsing.
  const bytes = Buffer.from(data.filter((b) => b !== 13));
  const c: CorpusCase = { name, title: '', alt: [], type: 'UNKNOWN', frame: '', corrupted: false, log: new Uint8Array() };
  let pos = 0;
  for (;;) {
    const nl = bytes.indexOf(10, pos);
    const line = bytes.subarray(pos, nl === -1 ? bytes.length : nl).toString('latin1');
    pos = nl === -1 ? bytes.length : nl + 1;
    if (line === '' || nl === -1) break;
    const colon = line.indexOf(': ');
    const key = colon === -1 ? line.replace(/:$/, '') : line.slice(0, colon);
    const val = colon === -1 ? '' : line.slice(colon + 2);
    if (key === 'TITLE') c.title = val;
    else if (key === 'ALT') c.alt.push(val);
    else if (key === 'TYPE') c.type = val;
    else if (key === 'FRAME') c.frame = val;
    else if (key === 'CORRUPTED') c.corrupted = val === 'Y';
  }
  let log = bytes.subarray(pos);
  const rep = log.indexOf(Buffer.from('\n\nREPORT:\n'));
  if (rep !== -1) log = log.subarray(0, rep + 2);
  c.log = log;
  return c;
}

export function loadCorpus(): CorpusCase[] {
  const names = readdirSync(SYZ_DIR).sort((a, b) => Number(a) - Number(b) || a.localeCompare(b));
  return names.map((n) => parseCase(n, readFileSync(join(SYZ_DIR, n))));
}
