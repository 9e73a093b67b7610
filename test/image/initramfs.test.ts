import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { mkdtemp, mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { buildInitramfs, IMAGE_PATHS } from '../../src/image/initramfs.ts';
import { readNewc, writeNewc, S_IFMT, S_IFREG, S_IFLNK, S_IFCHR, S_IFDIR } from '../../src/image/cpio.ts';
import { guestDir } from '../../src/util/paths.ts';

let cache: string;
beforeAll(async () => {
  cache = await mkdtemp(join(tmpdir(), 'krepro-initramfs-test-'));
});
afterAll(async () => {
  await rm(cache, { recursive: true, force: true });
});

/** List an uncompressed newc archive with GNU cpio: an independent reader. */
async function cpioList(archive: Buffer): Promise<string[]> {
  const r = await execa('cpio', ['-t', '--quiet'], { input: archive, encoding: 'utf8' });
  return r.stdout.split('\n').filter(Boolean);
}

describe('cpio newc', () => {
  it('round-trips entries, adds parents first, and GNU cpio reads it', async () => {
    const archive = writeNewc([
      { type: 'file', path: '/a/b/c.txt', data: Buffer.from('hello'), mode: 0o640 },
      { type: 'symlink', path: 'bin/sh', target: 'busybox' },
      { type: 'chardev', path: 'dev/console', major: 5, minor: 1 },
      { type: 'file', path: 'odd', data: Buffer.from('xyz') },
    ]);
    expect(archive.length % 4).toBe(0);
    const recs = readNewc(archive);
    const names = recs.map((r) => r.name);
    expect(names).toEqual(['a', 'a/b', 'a/b/c.txt', 'bin', 'bin/sh', 'dev', 'dev/console', 'odd']);
    const byName = Object.fromEntries(recs.map((r) => [r.name, r]));
    expect(byName['a/b/c.txt'].mode).toBe(S_IFREG | 0o640);
    expect(byName['a/b/c.txt'].data.toString()).toBe('hello');
    expect(byName['odd'].data.toString()).toBe('xyz');
    expect(byName['bin/sh'].mode & S_IFMT).toBe(S_IFLNK);
    expect(byName['bin/sh'].data.toString()).toBe('busybox');
    expect([byName['dev/console'].mode & S_IFMT, byName['dev/console'].rdevmajor, byName['dev/console'].rdevminor]).toEqual([S_IFCHR, 5, 1]);
    expect(byName['a'].mode & S_IFMT).toBe(S_IFDIR);
    expect(await cpioList(archive)).toEqual(names);
    const verbose = (await execa('cpio', ['-t', '-v', '--quiet'], { input: archive })).stdout;
    expect(verbose).toMatch(/^crw-------.* 5,\s+1 .*dev\/console$/m);
    expect(verbose).toMatch(/^lrwxrwxrwx.* bin\/sh -> busybox$/m);
  });

  it('rejects duplicates, escapes and truncation', () => {
    expect(() => writeNewc([{ type: 'dir', path: 'x' }, { type: 'dir', path: '/x/' }])).toThrow(/duplicate/);
    expect(() => writeNewc([{ type: 'dir', path: '../x' }])).toThrow(/bad cpio path/);
    expect(() => writeNewc([{ type: 'file', path: 'f', data: Buffer.alloc(1) }, { type: 'dir', path: 'f/g' }])).toThrow(/not a directory/);
    const a = writeNewc([{ type: 'file', path: 'f', data: Buffer.alloc(100) }]);
    expect(() => readNewc(a.subarray(0, 150))).toThrow(/truncated/);
    expect(() => readNewc(Buffer.from('070707' + '0'.repeat(200)))).toThrow(/bad magic/);
  });
});

describe('buildInitramfs', () => {
  it('builds an uncompressed newc image (the kernel unpacks it without a decompressor) with init, busybox links, guest binaries and the module; the rebuild is a cache hit', async () => {
    const mods = join(cache, 'mods');
    const koDir = join(mods, 'lib/modules/6.12.117+/kernel/lib');
    await mkdir(koDir, { recursive: true });
    await writeFile(join(koDir, 'test_lockup.ko'), 'module bytes');

    const r = await buildInitramfs({ cacheDir: cache, modulesDir: mods });
    expect(r.cached).toBe(false);
    expect(r.path).toBe(join(cache, 'initramfs', `${r.key}.cpio`));
    expect(r.modules).toEqual(['lib/modules/6.12.117+/kernel/lib/test_lockup.ko']);

    const archive = await readFile(r.path);
    expect(archive.subarray(0, 6).toString('latin1')).toBe('070701');
    const recs = readNewc(archive);
    const by = new Map(recs.map((x) => [x.name, x]));
    const init = by.get(IMAGE_PATHS.init)!;
    expect(init.mode).toBe(S_IFREG | 0o755);
    expect(init.data.equals(await readFile(join(guestDir(), 'init')))).toBe(true);
    for (const p of [IMAGE_PATHS.busybox, IMAGE_PATHS.workload, IMAGE_PATHS.modload]) {
      expect(by.get(p)?.mode, p).toBe(S_IFREG | 0o755);
      expect(by.get(p)!.data.subarray(0, 4).toString('latin1')).toBe('\x7fELF');
    }
    for (const applet of ['bin/sh', 'usr/bin/awk', 'sbin/poweroff']) {
      expect(by.get(applet)?.data.toString(), applet).toBe('/bin/busybox');
    }
    for (const applet of ['bin/mount', 'usr/bin/timeout', 'bin/stty', 'usr/bin/find', 'bin/sleep']) {
      expect(by.get(applet)?.mode, applet).toBe(S_IFLNK | 0o777);
    }
    expect(by.get('dev/console')?.rdevmajor).toBe(5);
    expect(by.get('lib/modules/6.12.117+/kernel/lib/test_lockup.ko')?.data.toString()).toBe('module bytes');
    // every path's parent comes earlier (the kernel does not create parents)
    const seen = new Set<string>();
    for (const x of recs) {
      const parent = x.name.split('/').slice(0, -1).join('/');
      if (parent) expect(seen.has(parent), x.name).toBe(true);
      seen.add(x.name);
    }
    expect(await cpioList(archive)).toEqual(recs.map((x) => x.name));

    const again = await buildInitramfs({ cacheDir: cache, modulesDir: mods });
    expect(again).toEqual({ ...r, cached: true });

    // kernelRelease overrides the one in the path; no modules dir: no module
    const rel = await buildInitramfs({ cacheDir: cache, modulesDir: mods, kernelRelease: '6.12.0-test' });
    expect(rel.modules).toEqual(['lib/modules/6.12.0-test/kernel/lib/test_lockup.ko']);
    expect(rel.key).not.toBe(r.key);
    const bare = await buildInitramfs({ cacheDir: cache });
    expect(bare.modules).toEqual([]);
    expect(bare.key).not.toBe(r.key);
  });

  it('refuses a dynamic busybox and a missing modules dir with a one-line hint', async () => {
    await expect(buildInitramfs({ cacheDir: cache, busybox: process.execPath })).rejects.toThrow(/busybox-static/);
    await expect(buildInitramfs({ cacheDir: cache, busybox: '/nonexistent/busybox' })).rejects.toThrow(/apt-get install busybox-static/);
    await expect(buildInitramfs({ cacheDir: cache, modulesDir: join(cache, 'nope') })).rejects.toThrow(/does not exist/);
  });
});
