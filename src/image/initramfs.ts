import { readFile, readdir, stat } from 'node:fs/promises';
import { basename, join, relative, sep } from 'node:path';
import { cacheRoot, guestDir } from '../util/paths.ts';
import { exists, sha256, writeFileAtomic } from '../util/fs.ts';
import { envError, usageError } from '../util/errors.ts';
import { writeNewc, type CpioEntry } from './cpio.ts';
import { isStaticExecutable } from './elf.ts';
import { busyboxApplets } from './tools.ts';
import { buildGuestBinaries } from './guest-binaries.ts';

export interface InitramfsOptions {
  modulesDir?: string | null;    // searched for test_lockup.ko (BuildResult.modules)
  kernelRelease?: string;        // /lib/modules/<release>/ in the image
  cacheDir?: string;             // default cacheRoot()
  busybox?: string;              // default /bin/busybox (Debian busybox-static)
  guestSrcDir?: string;          // default <project>/guest
  signal?: AbortSignal;
}

export interface InitramfsResult {
  path: string;                  // <cache>/initramfs/<key>.cpio
  key: string;                   // hash of the archive
  cached: boolean;
  modules: string[];             // module paths inside the image (empty: no self-tests)
}

/** Paths inside the image; guest/init relies on them. */
export const IMAGE_PATHS = {
  init: 'init',
  busybox: 'bin/busybox',
  workload: 'bin/krepro-workload',
  modload: 'bin/krepro-modload',
} as const;

const MODULE_NAMES = /^test_lockup\.ko(\.(xz|gz|zst))?$/;

/** Find test_lockup.ko under a modules dir; returns its path and the release it sits under, if any. */
export async function findTestLockup(dir: string, maxDepth = 8): Promise<{ path: string; release: string | null; rel: string } | null> {
  const walk = async (d: string, depth: number): Promise<string | null> => {
    let names;
    try {
      names = await readdir(d, { withFileTypes: true });
    } catch {
      return null;
    }
    for (const n of names) if (n.isFile() && MODULE_NAMES.test(n.name)) return join(d, n.name);
    if (depth >= maxDepth) return null;
    for (const n of names.sort((a, b) => a.name.localeCompare(b.name))) {
      if (n.isDirectory() && n.name !== 'build' && n.name !== 'source') {
        const hit = await walk(join(d, n.name), depth + 1);
        if (hit) return hit;
      }
    }
    return null;
  };
  const path = await walk(dir, 0);
  if (!path) return null;
  // .../lib/modules/<release>/kernel/lib/test_lockup.ko keeps its layout below <release>.
  const parts = relative(dir, path).split(sep);
  const i = parts.lastIndexOf('modules');
  if (i >= 0 && i + 2 < parts.length) {
    return { path, release: parts[i + 1], rel: parts.slice(i + 2).join('/') };
  }
  return { path, release: null, rel: `kernel/lib/${basename(path)}` };
}

/**
 * Build the guest initramfs (an uncompressed cpio newc): busybox-static with
 * its applet links, the workload and modload, guest/init as /init, a
 * /dev/console node (so init has a console before devtmpfs is mounted), and
 * test_lockup.ko when modulesDir has it. Cached by the hash of the archive's
 * content: the same inputs never build twice.
 *
 * Uncompressed on purpose: under TCG the kernel's gunzip of the 1.8 MB
 * gzip image (3.7 MB of cpio) ran to the end of the initcalls, and the
 * boot waited ~40 ms for it before /init. Unpacking the plain archive
 * is a copy; 20 boots each of the 7.2 kernel here moved the median QEMU
 * start to init from 0.952-0.969 s to 0.920-0.934 s. The extra 1.9 MB on
 * disk and through fw_cfg DMA costs nothing measurable.
 */
export async function buildInitramfs(opts: InitramfsOptions = {}): Promise<InitramfsResult> {
  const busybox = opts.busybox ?? '/bin/busybox';
  if (!(await exists(busybox))) {
    throw envError(`${busybox} not found; install it with: apt-get install busybox-static`);
  }
  const busyboxData = await readFile(busybox);
  if (!isStaticExecutable(busyboxData)) {
    throw envError(`${busybox} is not statically linked; install busybox-static (not busybox)`);
  }
  const bins = await buildGuestBinaries({ cacheDir: opts.cacheDir, guestSrcDir: opts.guestSrcDir, signal: opts.signal });
  const init = await readFile(join(opts.guestSrcDir ?? guestDir(), 'init'));

  const entries: CpioEntry[] = [
    { type: 'file', path: IMAGE_PATHS.init, data: init, mode: 0o755 },
    { type: 'file', path: IMAGE_PATHS.busybox, data: busyboxData, mode: 0o755 },
    { type: 'file', path: IMAGE_PATHS.workload, data: await readFile(bins.workload), mode: 0o755 },
    { type: 'file', path: IMAGE_PATHS.modload, data: await readFile(bins.modload), mode: 0o755 },
    { type: 'chardev', path: 'dev/console', major: 5, minor: 1, mode: 0o600 },
    { type: 'dir', path: 'proc' },
    { type: 'dir', path: 'sys' },
    { type: 'dir', path: 'tmp', mode: 0o1777 },
    { type: 'dir', path: 'root', mode: 0o700 },
  ];
  const taken = new Set(entries.map((e) => e.path));
  for (const applet of await busyboxApplets(busybox)) {
    if (taken.has(applet)) continue;
    taken.add(applet);
    entries.push({ type: 'symlink', path: applet, target: `/${IMAGE_PATHS.busybox}` });
  }

  const modules: string[] = [];
  if (opts.modulesDir) {
    if (!(await stat(opts.modulesDir).catch(() => null))?.isDirectory()) {
      throw usageError(`modules dir ${opts.modulesDir} does not exist`);
    }
    const found = await findTestLockup(opts.modulesDir);
    if (found) {
      const release = opts.kernelRelease ?? found.release ?? 'unknown';
      if (/[/\s]/.test(release) || release === '..' || release === '.') throw usageError(`bad kernel release ${JSON.stringify(release)}`);
      const path = `lib/modules/${release}/${found.rel}`;
      entries.push({ type: 'file', path, data: await readFile(found.path), mode: 0o644 });
      modules.push(path);
    }
  }

  const archive = writeNewc(entries);
  const key = sha256(archive).slice(0, 24);
  const path = join(opts.cacheDir ?? cacheRoot(), 'initramfs', `${key}.cpio`);
  if (await exists(path)) return { path, key, cached: true, modules };
  await writeFileAtomic(path, archive);
  return { path, key, cached: false, modules };
}
