import { describe, it, expect, beforeAll } from 'vitest';
import { mkdtemp, readFile, writeFile, readdir, stat } from 'node:fs/promises';
import { gzipSync, gunzipSync } from 'node:zlib';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createBundle, verifyBundle, extractBundle, unsafePathReason } from '../../src/artifacts/bundle.ts';
import { scrubJson } from '../../src/artifacts/scrub.ts';
import { writeJsonAtomic, sha256File } from '../../src/util/fs.ts';
import { makeCorpusRun, CORPUS } from '../loop/corpus-run.ts';

/** A ustar archive written byte by byte, so it can hold what tar(1) would refuse to make. */
function rawTar(entries: { name: string; data?: string; type?: '0' | '2' | '5'; link?: string }[]): Buffer {
  const blocks: Buffer[] = [];
  for (const e of entries) {
    const data = Buffer.from(e.data ?? '');
    const h = Buffer.alloc(512);
    const put = (s: string, off: number, len: number) => h.write(s.slice(0, len), off, 'utf8');
    put(e.name, 0, 100);
    put('0000644\0', 100, 8);
    put('0000000\0', 108, 8);
    put('0000000\0', 116, 8);
    put(data.length.toString(8).padStart(11, '0') + '\0', 124, 12);
    put('00000000000\0', 136, 12);
    put('        ', 148, 8);
    put(e.type ?? '0', 156, 1);
    if (e.link) put(e.link, 157, 100);
    put('ustar\0', 257, 6);
    put('00', 263, 2);
    let sum = 0;
    for (const b of h) sum += b;
    put(sum.toString(8).padStart(6, '0') + '\0 ', 148, 8);
    blocks.push(h, data, Buffer.alloc((512 - (data.length % 512)) % 512));
  }
  blocks.push(Buffer.alloc(1024));
  return gzipSync(Buffer.concat(blocks));
}

describe('bundle', () => {
  let root: string;
  let runDir: string;
  let file: string;

  beforeAll(async () => {
    root = await mkdtemp(join(tmpdir(), 'krepro-bundle-'));
    runDir = join(root, 'run-1');
    const patch = join(root, 'fix.patch');
    await writeFile(patch, '--- a/x\n+++ b/x\n@@ -1 +1 @@\n-a\n+b\n');
    await makeCorpusRun(runDir, 'rcustall.log', {
      kernel: { tree: null, commit: 'abc', buildKey: 'k', patches: [{ file: patch, sha256: await sha256File(patch) }], bzImage: join(runDir, 'bzImage') },
    });
    await writeFile(join(runDir, 'trace.txt'), '# tracer: nop\n');
    await writeFile(join(runDir, 'bzImage'), Buffer.alloc(4096));      // never bundled
    const rec = JSON.parse(await readFile(join(runDir, 'run.json'), 'utf8'));
    rec.env = { HOME: '/root', SECRET_TOKEN: 'hunter2' };
    await writeJsonAtomic(join(runDir, 'run.json'), rec);
    file = join(root, 'out', 'run-1.tar.gz');
    await createBundle(runDir, file, { report: 'Subject: test\n' });
  });

  it('round-trips: verify passes and extraction gives the same bytes', async () => {
    const v = await verifyBundle(file);
    expect(v.problems).toEqual([]);
    expect(v.ok).toBe(true);
    const names = v.files.map((f) => f.path).sort();
    expect(names).toEqual(['config', 'console.log', 'patches/fix.patch', 'report.txt', 'run.json', 'trace.txt']);
    const out = await extractBundle(file, join(root, 'x'));
    expect(await readFile(join(out, 'console.log'))).toEqual(await readFile(join(CORPUS, 'rcustall.log')));
    expect(await readFile(join(out, 'trace.txt'), 'utf8')).toBe('# tracer: nop\n');
    const manifest = await readFile(join(out, 'MANIFEST'), 'utf8');
    expect(manifest).toContain('  console.log\n');
    expect(await readdir(out)).not.toContain('bzImage');
  });

  it('carries no environment and no host paths outside the run', async () => {
    const out = await extractBundle(file, join(root, 'y'));
    const rec = JSON.parse(await readFile(join(out, 'run.json'), 'utf8'));
    expect(rec.env).toBeUndefined();
    const text = await readFile(join(out, 'run.json'), 'utf8');
    expect(text).not.toContain('hunter2');
    expect(text).not.toContain(runDir);
    expect(rec.kernel.bzImage).toBe('./bzImage');
    expect(scrubJson({ a: '/home/u/x', hostname: 'box', b: ['/c/k/y'] }, { dir: '/r', home: '/home/u', cache: '/c/k' }))
      .toEqual({ a: '~/x', b: ['$KREPRO_CACHE/y'] });
  });

  it('is byte-identical when made twice from the same dir', async () => {
    const again = join(root, 'out', 'again.tar.gz');
    await createBundle(runDir, again, { report: 'Subject: test\n' });
    expect(gunzipSync(await readFile(again))).toEqual(gunzipSync(await readFile(file)));
  });

  it('detects a tampered file', async () => {
    const tar = gunzipSync(await readFile(file));
    const i = tar.indexOf('rcu: INFO: rcu_preempt self-detected stall');
    expect(i).toBeGreaterThan(0);
    tar.write('RCU', i);                    // same length, different bytes
    const bad = join(root, 'tampered.tar.gz');
    await writeFile(bad, gzipSync(tar));
    const v = await verifyBundle(bad);
    expect(v.ok).toBe(false);
    expect(v.problems.join('\n')).toMatch(/console\.log: sha256 .* does not match MANIFEST/);
    await expect(extractBundle(bad, join(root, 'z'))).rejects.toThrow(/refusing/);
  });

  it('detects a file added or removed behind the MANIFEST', async () => {
    const v0 = await verifyBundle(file);
    const manifestText = v0.files.map((f) => `${f.sha256}  ${f.path}\n`).join('');
    const extra = rawTar([
      { name: 'b/MANIFEST', data: manifestText },
      ...v0.files.filter((f) => f.path !== 'trace.txt').map((f) => ({ name: `b/${f.path}`, data: 'x' })),
    ]);
    const p = join(root, 'mixed.tar.gz');
    await writeFile(p, extra);
    const v = await verifyBundle(p);
    expect(v.ok).toBe(false);
    expect(v.problems.join('\n')).toMatch(/trace\.txt: listed in MANIFEST but missing/);
  });

  it.each([
    ['../evil.txt', "'..'"],
    ['b/../../evil.txt', "'..'"],
    ['/tmp/krepro-evil.txt', 'absolute'],
  ])('rejects the unsafe entry %s without writing anything', async (name, why) => {
    const p = join(root, `evil-${Math.random().toString(36).slice(2)}.tar.gz`);
    await writeFile(p, rawTar([{ name: 'b/MANIFEST', data: '' }, { name, data: 'pwned' }]));
    const v = await verifyBundle(p);
    expect(v.ok).toBe(false);
    expect(v.problems.join('\n')).toContain(why);
    const dest = join(root, 'dest', String(Math.random()).slice(2));
    await expect(extractBundle(p, dest)).rejects.toThrow(/refusing/);
    await expect(stat(join(dest, '..', 'evil.txt'))).rejects.toThrow();
    await expect(stat('/tmp/krepro-evil.txt')).rejects.toThrow();
  });

  it('rejects symlinks', async () => {
    const p = join(root, 'link.tar.gz');
    await writeFile(p, rawTar([{ name: 'b/MANIFEST', data: '' }, { name: 'b/l', type: '2', link: '/etc/passwd' }]));
    const v = await verifyBundle(p);
    expect(v.problems.join('\n')).toMatch(/SymbolicLink|absolute/);
    await expect(extractBundle(p, join(root, 'l'))).rejects.toThrow(/refusing/);
  });

  it('unsafePathReason', () => {
    expect(unsafePathReason('a/b')).toBeNull();
    expect(unsafePathReason('a/..b')).toBeNull();
    expect(unsafePathReason('C:\\x')).toMatch(/absolute/);
    expect(unsafePathReason('a\\..\\..\\x')).toMatch(/\.\./);
  });
});
