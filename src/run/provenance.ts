import { readFile } from 'node:fs/promises';
import { basename, join } from 'node:path';
import type { RunOptions } from './options.ts';
import type { KernelIdentity, Provenance } from './types.ts';
import { git } from '../source/git.ts';
import { readDebianTreeInfo } from '../source/debian.ts';
import { readMeta } from '../build/cache.ts';
import { kreproVersion } from '../util/version.ts';
import { sha256 } from '../util/fs.ts';
import { guestDir } from '../util/paths.ts';

/**
 * What a report needs to say where a run came from, in the bots' terms
 * (syzbot: HEAD commit, git tree, compiler, kernel config, reproducer),
 * gathered when the run is made, so `krepro report` on another machine (a
 * bundle) still has it: the tree's public name (its remote URL, Debian's
 * package and version), never a path on the reporter's machine.
 */
export async function collectProvenance(o: RunOptions, k: KernelIdentity, buildDir: string | null, defaults: Defaults): Promise<Provenance> {
  let subject: string | null = null;
  let tree: Provenance['tree'] = { name: k.tree ? basename(k.tree) : 'given bzImage', url: null };
  if (k.tree) {
    const deb = await readDebianTreeInfo(k.tree);
    const series = deb ? /^linux-source-(\d+\.\d+)$/.exec(deb.package)?.[1] : undefined;
    if (deb) tree = { name: `Debian ${deb.package} ${deb.version} (${deb.suite})`, url: null, ...(series ? { spec: `debian:${series}` } : {}) };
    else {
      const remotes = (await git(k.tree, ['remote'], { reject: false })).stdout.split('\n').filter(Boolean);
      const remote = remotes.includes('origin') ? 'origin' : remotes[0];
      const url = remote ? (await git(k.tree, ['remote', 'get-url', remote], { reject: false })).stdout.trim() : '';
      tree = url ? { name: url, url } : { name: `${basename(k.tree)} (a local tree without a remote)`, url: null };
    }
    if (k.commit) {
      const r = await git(k.tree, ['show', '-s', '--format=%s', k.commit], { reject: false });
      if (r.exitCode === 0) subject = r.stdout.trim() || null;
    }
  }
  const meta = buildDir ? await readMeta(buildDir) : null;
  const workloadSrc = join(guestDir(), 'workload.c');
  const workloadSha = await readFile(workloadSrc).then((b) => sha256(b)).catch(() => null);
  return {
    krepro: kreproVersion(),
    head: { commit: k.commit, subject },
    tree,
    compiler: (meta as { compiler?: string } | null)?.compiler ?? null,
    workload: workloadSha ? { file: 'guest/workload.c', sha256: workloadSha } : null,
    reproducer: reproducerLine(o, k, tree, defaults),
  };
}

const q = (s: string) => (/^[A-Za-z0-9_@%+=:,./-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`);

/** The run defaults (RUN_DEFAULTS of run.ts) the line leaves out. */
type Defaults = { cpus: number; memoryMb: number; durationSec: number };

/**
 * The krepro command line that repeats this run: `krepro run --scenario
 * NAME` for a scenario run (the report gives the scenario file's sha256),
 * else the build and run options spelled out; never a path that only
 * exists here (patches by file name, as they travel in the bundle).
 */
export function reproducerLine(o: Pick<RunOptions, 'scenario' | 'build' | 'cpus' | 'memoryMb' | 'durationSec' | 'workload' | 'selfTest' | 'traceEvents' | 'signature' | 'title'>, k: KernelIdentity, tree: Provenance['tree'], defaults: Defaults): string {
  const out = ['krepro', 'run'];
  if (o.scenario) out.push('--scenario', o.scenario.name.replace(/^.*\/scenarios\/|\.json$/g, ''));
  else if (k.tree) {
    const t = tree.spec ?? (o.build?.tree && /^debian:/.test(o.build.tree) ? o.build.tree : tree.url ?? '<your checkout>');
    out.push('--tree', t);
    if (k.commit) out.push('--commit', k.commit.slice(0, 12));
    for (const p of k.patches) out.push(p.reverted ? '--revert' : '--patch', p.commit ? p.commit.slice(0, 12) : basename(p.file));
    if (o.build?.profile && o.build.profile !== 'default') out.push('--profile', o.build.profile);
  } else out.push('--kernel', 'bzImage');
  if (!o.scenario) {
    if (o.cpus !== defaults.cpus) out.push('--cpus', String(o.cpus));
    if (o.memoryMb !== defaults.memoryMb) out.push('--memory', o.memoryMb % 1024 ? String(o.memoryMb) : `${o.memoryMb / 1024}G`);
    if (o.durationSec !== defaults.durationSec) out.push('--duration', String(o.durationSec));
    if (o.workload) out.push('--workload', o.workload);
    if (o.selfTest) out.push('--self-test', o.selfTest);
    for (const e of o.traceEvents ?? []) out.push('--trace', e);
    if (o.signature) out.push('--signature', o.signature);
    if (o.title) out.push('--title', o.title);
  }
  return out.map(q).join(' ');
}
