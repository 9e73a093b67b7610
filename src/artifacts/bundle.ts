/**
 * Artifact bundles: one .tar.gz a user can attach to a bug or a CI job.
 *
 * Layout: everything sits under one top-level dir named after the bundled
 * dir; <top>/MANIFEST lists every other file as `<sha256>  <path>` (the
 * sha256sum format, so `sha256sum -c MANIFEST` works after extraction too).
 * Entries carry no owner names or ids and a fixed mtime, so the same inputs
 * give the same bytes.
 *
 * What goes in: run.json / loop.json / bisect.json (scrubbed, see scrub.ts),
 * console.log, trace.txt, the .config (`config` or `.config`), the report
 * (report.txt made now, report.html when the loop wrote one), the files a
 * run lists in run.json's `files`, vcpus.json, and the patches the kernel
 * was built with (copied from where the record says, checked against their
 * recorded sha256, under patches/). Nothing else: no kernel images, no
 * sockets, no symlinks, and no environment.
 */
import { createHash } from 'node:crypto';
import { cp, lstat, mkdir, mkdtemp, readdir, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, dirname, join, relative, resolve, sep } from 'node:path';
import * as tar from 'tar';
import { rmrf, sha256, sha256File } from '../util/fs.ts';
import { usageError } from '../util/errors.ts';
import { defaultScrubContext, scrubJson, type ScrubContext } from './scrub.ts';

export const MANIFEST = 'MANIFEST';
const RECORDS = new Set(['run.json', 'loop.json', 'bisect.json']);
const NAMED = new Set(['console.log', 'trace.txt', 'config', '.config', 'report.txt', 'report.html', 'vcpus.json', 'qemu.log', 'serial2.log']);
const PATCH_RE = /\.(patch|diff|mbox)$/;
const MAX_FILE = 256 * 1024 * 1024;

interface Planned {
  rel: string;                 // path inside the bundle dir
  src?: string;                // file to copy as is
  data?: string | Buffer;      // or this content
}

async function walk(dir: string, rel = ''): Promise<string[]> {
  const out: string[] = [];
  for (const name of (await readdir(join(dir, rel))).sort()) {
    const r = rel ? join(rel, name) : name;
    const st = await lstat(join(dir, r));
    if (st.isSymbolicLink()) continue;
    if (st.isDirectory()) out.push(...(await walk(dir, r)));
    else if (st.isFile()) out.push(r);
  }
  return out;
}

function listedFiles(rec: unknown): string[] {
  const files = (rec as { files?: unknown })?.files;
  return Array.isArray(files) ? files.filter((f): f is string => typeof f === 'string') : [];
}

function patchesOf(rec: unknown): { file: string; sha256: string }[] {
  const r = rec as { kernel?: { patches?: unknown }; config?: { patches?: unknown }; meta?: { patches?: unknown } };
  const list = r?.kernel?.patches ?? r?.config?.patches ?? r?.meta?.patches;
  return Array.isArray(list) ? list.filter((p) => p && typeof p.file === 'string') : [];
}

/** Decide what goes into the bundle of `dir`. */
export async function planBundle(dir: string, opts: { report?: string | null; scrub?: ScrubContext } = {}): Promise<{ files: Planned[]; warnings: string[] }> {
  const abs = resolve(dir);
  const all = await walk(abs);
  if (!all.some((f) => RECORDS.has(basename(f)))) {
    throw usageError(`${dir} holds no run.json, loop.json or bisect.json: give a run, loop or bisection dir`);
  }
  const ctx = opts.scrub ?? defaultScrubContext(abs);
  const files: Planned[] = [];
  const warnings: string[] = [];
  const taken = new Set<string>();
  const patches = new Map<string, string>();   // sha256 -> source
  const listed = new Set<string>();
  for (const f of all.filter((x) => RECORDS.has(basename(x)))) {
    const rec = JSON.parse(await readFile(join(abs, f), 'utf8'));
    for (const l of listedFiles(rec)) {
      const p = join(dirname(f), l);
      if (!p.startsWith('..') && !resolve(abs, p).startsWith('..')) listed.add(p);
    }
    for (const p of patchesOf(rec)) patches.set(p.sha256 ?? p.file, p.file);
    files.push({ rel: f, data: JSON.stringify(scrubJson(rec, ctx), null, 2) + '\n' });
    taken.add(f);
  }
  for (const f of all) {
    if (taken.has(f)) continue;
    const name = basename(f);
    if (!(NAMED.has(name) || PATCH_RE.test(name) || listed.has(f))) continue;
    if (name === 'report.txt' && opts.report != null && f === 'report.txt') continue;
    const st = await lstat(join(abs, f));
    if (st.size > MAX_FILE) { warnings.push(`${f} is ${st.size} bytes: left out`); continue; }
    if (/\.json$/.test(name)) {
      try {
        files.push({ rel: f, data: JSON.stringify(scrubJson(JSON.parse(await readFile(join(abs, f), 'utf8')), ctx), null, 2) + '\n' });
        taken.add(f);
        continue;
      } catch { /* not JSON after all: copy */ }
    }
    files.push({ rel: f, src: join(abs, f) });
    taken.add(f);
  }
  for (const [want, src] of patches) {
    const rel = join('patches', basename(src));
    if (taken.has(rel)) continue;
    try {
      const got = await sha256File(src);
      if (/^[0-9a-f]{64}$/.test(want) && got !== want) { warnings.push(`patch ${basename(src)} changed since the run (sha256 differs): left out`); continue; }
      files.push({ rel, src });
      taken.add(rel);
    } catch {
      warnings.push(`patch ${basename(src)} is no longer at its recorded path: left out`);
    }
  }
  if (opts.report != null) { files.push({ rel: 'report.txt', data: opts.report }); taken.add('report.txt'); }
  files.sort((a, b) => a.rel.localeCompare(b.rel));
  return { files, warnings };
}

export function manifestText(entries: { rel: string; sha256: string }[]): string {
  return entries.map((e) => `${e.sha256}  ${e.rel.split(sep).join('/')}\n`).join('');
}

/** Write the bundle of `dir` to `out` (.tar.gz). */
export async function createBundle(dir: string, out: string, opts: { report?: string | null; scrub?: ScrubContext } = {}): Promise<{ out: string; files: number; warnings: string[] }> {
  const abs = resolve(dir);
  const { files, warnings } = await planBundle(abs, opts);
  const top = basename(abs).replace(/[^\w.+-]/g, '_') || 'bundle';
  const stage = await mkdtemp(join(tmpdir(), 'krepro-bundle-'));
  try {
    const entries: { rel: string; sha256: string }[] = [];
    for (const f of files) {
      const dest = join(stage, top, f.rel);
      await mkdir(dirname(dest), { recursive: true });
      if (f.src) await cp(f.src, dest, { dereference: false });
      else await writeFile(dest, f.data!);
      entries.push({ rel: f.rel, sha256: f.src ? await sha256File(dest) : sha256(f.data!) });
    }
    await writeFile(join(stage, top, MANIFEST), manifestText(entries));
    const outAbs = resolve(out);
    await mkdir(dirname(outAbs), { recursive: true });
    await tar.c({ gzip: true, file: outAbs, cwd: stage, portable: true, mtime: new Date(0), noDirRecurse: false }, [top]);
    return { out: outAbs, files: entries.length + 1, warnings };
  } finally {
    await rmrf(stage);
  }
}

/** A path is safe when it is relative and never climbs out (`..`). */
export function unsafePathReason(p: string): string | null {
  if (p.includes('\0')) return 'contains NUL';
  const norm = p.replace(/\\/g, '/');
  if (norm.startsWith('/') || /^[a-zA-Z]:/.test(norm)) return 'absolute path';
  if (norm.split('/').some((s) => s === '..')) return "climbs out with '..'";
  return null;
}

export interface VerifyResult {
  ok: boolean;
  top: string | null;
  files: { path: string; sha256: string }[];
  problems: string[];
}

/** Check a bundle: safe paths, plain files only, and every file matching MANIFEST. */
export async function verifyBundle(file: string): Promise<VerifyResult> {
  const problems: string[] = [];
  const seen: { path: string; sha256: string }[] = [];
  const tops = new Set<string>();
  let manifest: string | null = null;
  const pending: Promise<void>[] = [];
  try {
    await tar.t({
      file,
      strict: true,
      onReadEntry: (e) => {
        const p = e.path;
        const why = unsafePathReason(p) ?? (e.linkpath ? unsafePathReason(e.linkpath) : null);
        if (why) problems.push(`unsafe entry ${JSON.stringify(p)}: ${why}`);
        const type = e.type;
        if (type !== 'File' && type !== 'OldFile' && type !== 'Directory') problems.push(`entry ${JSON.stringify(p)} is a ${type}, not a plain file`);
        const clean = p.replace(/\/+$/, '');
        tops.add(clean.split('/')[0]);
        if (type === 'Directory') { e.resume(); return; }
        const h = createHash('sha256');
        const chunks: Buffer[] = [];
        const isManifest = clean.split('/').length === 2 && clean.endsWith(`/${MANIFEST}`);
        pending.push(new Promise((res) => {
          e.on('data', (c: Buffer) => { h.update(c); if (isManifest) chunks.push(c); });
          e.on('end', () => {
            if (isManifest) manifest = Buffer.concat(chunks).toString('utf8');
            else seen.push({ path: clean.split('/').slice(1).join('/'), sha256: h.digest('hex') });
            res();
          });
        }));
      },
    });
    await Promise.all(pending);
  } catch (e) {
    problems.push(`cannot read ${file} as a .tar.gz: ${(e as Error).message}`);
  }
  if (tops.size > 1) problems.push(`entries under ${tops.size} top-level dirs (${[...tops].slice(0, 3).join(', ')}); a bundle has one`);
  const top = tops.size === 1 ? [...tops][0] : null;
  if (manifest === null) {
    if (!problems.some((p) => p.startsWith('cannot read'))) problems.push(`no ${MANIFEST} in the bundle`);
  } else {
    const want = new Map<string, string>();
    for (const line of (manifest as string).split('\n')) {
      if (!line.trim()) continue;
      const m = /^([0-9a-f]{64}) {2}(.+)$/.exec(line);
      if (!m) { problems.push(`${MANIFEST}: unreadable line ${JSON.stringify(line.slice(0, 60))}`); continue; }
      want.set(m[2], m[1]);
    }
    for (const s of seen) {
      const w = want.get(s.path);
      if (w === undefined) problems.push(`${s.path}: in the bundle but not in ${MANIFEST}`);
      else if (w !== s.sha256) problems.push(`${s.path}: sha256 ${s.sha256.slice(0, 12)}... does not match ${MANIFEST} (${w.slice(0, 12)}...)`);
    }
    const have = new Set(seen.map((s) => s.path));
    for (const p of want.keys()) if (!have.has(p)) problems.push(`${p}: listed in ${MANIFEST} but missing`);
  }
  return { ok: problems.length === 0, top, files: seen, problems };
}

/**
 * Extract a verified bundle into `dest` (its top-level dir is created
 * there). Refuses, before writing anything, a bundle with an absolute path,
 * a `..`, a link or device entry, or a hash mismatch.
 */
export async function extractBundle(file: string, dest: string): Promise<string> {
  const v = await verifyBundle(file);
  if (!v.ok) throw usageError(`refusing to extract ${file}: ${v.problems[0]}${v.problems.length > 1 ? ` (and ${v.problems.length - 1} more)` : ''}`);
  const destAbs = resolve(dest);
  await mkdir(destAbs, { recursive: true });
  await tar.x({
    file,
    cwd: destAbs,
    strict: true,
    preservePaths: false,
    preserveOwner: false,
    filter: (p, e) => {
      const type = (e as tar.ReadEntry).type;
      return unsafePathReason(p) === null && (type === 'File' || type === 'OldFile' || type === 'Directory');
    },
  });
  const out = join(destAbs, v.top!);
  if (relative(destAbs, out).startsWith('..')) throw usageError(`bundle top dir escapes ${dest}`);
  return out;
}
