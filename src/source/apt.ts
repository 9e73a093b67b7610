import { execa } from 'execa';
import { mkdir, readFile, readdir, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { envError } from '../util/errors.ts';

/**
 * The one place krepro runs apt. Kernel sources newer than the host's
 * release (linux-source-7.2 in sid, 7.3 in trixie-backports) come through a
 * private apt configuration under the cache: the host's own mirrors and
 * keyrings, other suites, its own lists and archives, the host's dpkg
 * status read-only. Nothing under /etc/apt or /var/lib/apt is written.
 */

export interface AptSourceEntry {
  types: string[];       // deb, deb-src
  uris: string[];
  suites: string[];
  components: string[];
  signedBy?: string;
}

/** The suites the private configuration asks for, newest design first. */
export const NEWER_SUITES = ['sid', 'experimental', 'trixie', 'trixie-updates', 'trixie-backports'];

/** Parse one-line `.list` entries (`deb [signed-by=...] URI suite comp...`). */
export function parseOneLineSources(text: string): AptSourceEntry[] {
  const out: AptSourceEntry[] = [];
  for (const raw of text.split('\n')) {
    const line = raw.replace(/#.*$/, '').trim();
    if (!line) continue;
    const m = /^(deb|deb-src)\s+(?:\[([^\]]*)\]\s+)?(\S+)\s+(\S+)\s*(.*)$/.exec(line);
    if (!m) continue;
    const opts = Object.fromEntries((m[2] ?? '').split(/\s+/).filter(Boolean).map((kv) => kv.split('=') as [string, string]));
    out.push({ types: [m[1]], uris: [m[3]], suites: [m[4]], components: m[5].split(/\s+/).filter(Boolean), signedBy: opts['signed-by'] });
  }
  return out;
}

/** Parse deb822 `.sources` stanzas (Types/URIs/Suites/Components/Signed-By; `Enabled: no` skipped). */
export function parseDeb822Sources(text: string): AptSourceEntry[] {
  const out: AptSourceEntry[] = [];
  for (const stanza of text.split(/\n\s*\n/)) {
    const fields: Record<string, string> = {};
    let last: string | null = null;
    for (const raw of stanza.split('\n')) {
      if (/^\s*#/.test(raw) || !raw.trim()) continue;
      if (/^\s/.test(raw) && last) {
        fields[last] += '\n' + raw.trim();
        continue;
      }
      const m = /^([A-Za-z-]+):\s*(.*)$/.exec(raw);
      if (!m) continue;
      last = m[1].toLowerCase();
      fields[last] = m[2].trim();
    }
    if (!fields.types || !fields.uris || !fields.suites) continue;
    if (/^(no|false)$/i.test(fields.enabled ?? '')) continue;
    const words = (s?: string) => (s ?? '').split(/\s+/).filter(Boolean);
    const signed = fields['signed-by'];
    out.push({
      types: words(fields.types),
      uris: words(fields.uris),
      suites: words(fields.suites),
      components: words(fields.components),
      // An inline key block is not a path: keep only paths.
      signedBy: signed && !signed.includes('\n') && signed.startsWith('/') ? signed : undefined,
    });
  }
  return out;
}

/** Debian archive entries only (not security, not third-party repositories). */
export function debianMirrors(entries: AptSourceEntry[]): { uri: string; signedBy?: string }[] {
  const seen = new Map<string, string | undefined>();
  for (const e of entries) {
    if (!e.types.includes('deb')) continue;
    for (const uri of e.uris) {
      const u = uri.replace(/\/+$/, '');
      if (!/\/debian$/.test(u)) continue;           // debian-security, ports and others are not the archive
      if (!e.suites.some((s) => /^(bookworm|trixie|forky|sid|stable|testing|unstable|oldstable)/.test(s))) continue;
      if (!seen.has(u)) seen.set(u, e.signedBy);
    }
  }
  return [...seen].map(([uri, signedBy]) => ({ uri, signedBy }));
}

/** The private sources file (deb822), built from the host's mirrors. */
export function privateSources(mirrors: { uri: string; signedBy?: string }[], suites = NEWER_SUITES): string {
  return mirrors.map((m) => [
    'Types: deb',
    `URIs: ${m.uri}`,
    `Suites: ${suites.join(' ')}`,
    'Components: main',
    `Signed-By: ${m.signedBy ?? '/usr/share/keyrings/debian-archive-keyring.gpg'}`,
  ].join('\n')).join('\n\n') + '\n';
}

/** apt.conf for the private state: own lists, archives and sources; the host's dpkg status read-only. */
export function privateAptConf(dir: string): string {
  return [
    `Dir::State "${dir}/state";`,
    `Dir::State::Lists "${dir}/state/lists";`,
    'Dir::State::status "/var/lib/dpkg/status";',
    `Dir::Cache "${dir}/cache";`,
    `Dir::Cache::Archives "${dir}/cache/archives";`,
    'Dir::Etc::SourceList "/dev/null";',
    `Dir::Etc::SourceParts "${dir}/sources.list.d";`,
    'Dir::Etc::Preferences "/dev/null";',
    `Dir::Etc::PreferencesParts "${dir}/preferences.d";`,
    'Debug::NoLocking "true";',
    'APT::Sandbox::User "root";',
    'Acquire::Languages "none";',
    '',
  ].join('\n');
}

/** Read the host's own source entries (both formats). */
export async function hostSourceEntries(etc = '/etc/apt'): Promise<AptSourceEntry[]> {
  const out: AptSourceEntry[] = [];
  const list = await readFile(join(etc, 'sources.list'), 'utf8').catch(() => '');
  out.push(...parseOneLineSources(list));
  const names = await readdir(join(etc, 'sources.list.d')).catch(() => [] as string[]);
  for (const n of names.sort()) {
    const text = await readFile(join(etc, 'sources.list.d', n), 'utf8').catch(() => '');
    if (n.endsWith('.sources')) out.push(...parseDeb822Sources(text));
    else if (n.endsWith('.list')) out.push(...parseOneLineSources(text));
  }
  return out;
}

export interface PrivateApt {
  dir: string;
  env: Record<string, string>;
}

const LISTS_MAX_AGE_MS = 12 * 3600 * 1000;

/** Write the private configuration under `<cache>/apt` and refresh its lists when older than 12 h. */
export async function privateApt(cacheDir: string, log: (s: string) => void = () => {}): Promise<PrivateApt> {
  const dir = join(cacheDir, 'apt');
  const mirrors = debianMirrors(await hostSourceEntries());
  if (!mirrors.length) throw envError('no Debian mirror in /etc/apt/sources.list{,.d}: add one, or pass --tree with a kernel checkout instead of debian:X.Y');
  for (const d of ['state/lists/partial', 'cache/archives/partial', 'sources.list.d', 'preferences.d']) await mkdir(join(dir, d), { recursive: true });
  await writeFile(join(dir, 'sources.list.d', 'krepro-newer.sources'), privateSources(mirrors));
  await writeFile(join(dir, 'apt.conf'), privateAptConf(dir));
  const env = { APT_CONFIG: join(dir, 'apt.conf'), LC_ALL: 'C' };
  const stamp = join(dir, 'state', 'krepro-updated');
  const age = await stat(stamp).then((s) => Date.now() - s.mtimeMs).catch(() => Infinity);
  if (age > LISTS_MAX_AGE_MS) {
    log(`apt-get update (private configuration ${dir}, suites ${NEWER_SUITES.join(' ')} from ${mirrors.map((m) => m.uri).join(' ')})`);
    const r = await execa('apt-get', ['update', '-q'], { env, reject: false, timeout: 600_000 });
    // A suite that a mirror lacks is a warning (W:), a mirror we cannot reach is an error (E:).
    const errs = String(r.stdout + '\n' + r.stderr).split('\n').filter((l) => /^(E|Err):/.test(l.trim()));
    if (r.exitCode !== 0 && errs.length) {
      if (age !== Infinity) log(`apt-get update failed (${errs[0].trim()}): using the lists from ${(age / 3600_000).toFixed(1)} h ago`);
      else throw envError(`cannot reach the Debian mirror (${errs[0].trim()}): check the network, or pass --tree with a kernel checkout instead of debian:X.Y`);
    } else {
      await writeFile(stamp, new Date().toISOString() + '\n');
    }
  }
  return { dir, env };
}

export interface PackageVersion {
  version: string;
  suite: string;
}

/** `apt-cache madison` output -> versions, in apt's order (newest first). */
export function parseMadison(text: string): PackageVersion[] {
  const out: PackageVersion[] = [];
  for (const line of text.split('\n')) {
    const f = line.split('|').map((s) => s.trim());
    if (f.length < 3 || !f[1]) continue;
    const suite = /\s(\S+)\/\S+\s+\S+\s+Packages$/.exec(' ' + f[2])?.[1] ?? f[2];
    out.push({ version: f[1], suite });
  }
  return out;
}

export async function packageVersions(apt: PrivateApt, name: string): Promise<PackageVersion[]> {
  const r = await execa('apt-cache', ['madison', name], { env: apt.env, reject: false });
  return parseMadison(String(r.stdout));
}

/** Every linux-source-X.Y any configured suite carries (host and private lists). */
export async function linuxSourceSeries(apt: PrivateApt): Promise<string[]> {
  const r = await execa('apt-cache', ['pkgnames', 'linux-source-'], { env: apt.env, reject: false });
  const series = String(r.stdout).split('\n').map((l) => /^linux-source-(\d+\.\d+)$/.exec(l.trim())?.[1]).filter((s): s is string => !!s);
  return [...new Set(series)].sort((a, b) => {
    const [x1, y1] = a.split('.').map(Number);
    const [x2, y2] = b.split('.').map(Number);
    return x1 - x2 || y1 - y2;
  });
}

/** Download one .deb into `dest` (never installed). Returns its path. */
export async function downloadDeb(apt: PrivateApt, name: string, version: string, dest: string): Promise<string> {
  await mkdir(dest, { recursive: true });
  const r = await execa('apt-get', ['download', '-q', `${name}=${version}`], { cwd: dest, env: apt.env, reject: false, timeout: 1800_000 });
  if (r.exitCode !== 0) {
    const why = String(r.stderr).split('\n').find((l) => /^(E|Err):/.test(l.trim())) ?? `apt-get download exited ${r.exitCode}`;
    throw envError(`cannot download ${name} ${version} (${why.trim()}): check the network, or pass --tree with a kernel checkout`);
  }
  const names = await readdir(dest);
  const deb = names.find((n) => n.startsWith(`${name}_`) && n.endsWith('.deb'));
  if (!deb) throw envError(`apt-get download of ${name} ${version} left no .deb in ${dest}`);
  return join(dest, deb);
}

/** Unpack a .deb's files (not its scripts) into dir, as dpkg-deb -x does. */
export async function extractDeb(deb: string, dir: string): Promise<void> {
  await mkdir(dir, { recursive: true });
  const r = await execa('dpkg-deb', ['-x', deb, dir], { reject: false });
  if (r.exitCode !== 0) throw envError(`cannot unpack ${deb}: ${String(r.stderr).split('\n')[0]}`);
}

/**
 * Install a package the host's release does not carry (virtme-ng: sid has
 * it, Debian 12 not): the newest .deb from the private configuration's
 * suites, installed by the host's own apt, which takes every dependency
 * from the host's suites (a dependency they cannot satisfy fails the
 * install with apt's own message; nothing newer is pulled in). Skipped
 * when that version is already installed. Returns the version.
 */
export async function installNewerDeb(cacheDir: string, name: string, log: (s: string) => void = () => {}): Promise<string> {
  const apt = await privateApt(cacheDir, log);
  const versions = await packageVersions(apt, name);
  if (!versions.length) throw envError(`no Debian suite carries ${name} (private lists under ${apt.dir}): check the network and run again`);
  const { version, suite } = versions[0];
  const installed = await execa('dpkg-query', ['-W', '-f=${Status} ${Version}', name], { reject: false });
  if (installed.exitCode === 0 && String(installed.stdout) === `install ok installed ${version}`) {
    log(`${name} ${version} already installed`);
    return version;
  }
  const deb = await downloadDeb(apt, name, version, join(apt.dir, 'debs'));
  log(`installing ${name} ${version} (from ${suite}) with its dependencies from the host's suites`);
  const r = await execa('apt-get', ['install', '-y', '-q', '--no-install-recommends', deb], {
    env: { DEBIAN_FRONTEND: 'noninteractive', LC_ALL: 'C' },
    reject: false,
    timeout: 1800_000,
  });
  if (r.exitCode !== 0) {
    const out = String(r.stdout + '\n' + r.stderr).split('\n');
    const why = out.find((l) => /^(E:| .* but .* is to be installed| Depends:)/.test(l)) ?? `apt-get install exited ${r.exitCode}`;
    throw envError(`cannot install ${name} ${version}: ${why.trim()} (run as root, after apt-get update)`);
  }
  return version;
}
