import { readFile, access, constants } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { kconfigDir, patchDir } from '../util/paths.ts';
import { usageError } from '../util/errors.ts';

/**
 * kconfig fragments are plain files in kconfigs/<name>.config; a profile
 * (kconfigs/profiles/<name>) lists fragment names, one per line, and may
 * name patches with `@patch <path under patches/>`. Users add fragment files
 * (`--config FILE`) and single items (`--config CONFIG_X=y`).
 */
export interface Fragment {
  name: string;          // "mmcid", a file path, or "command line"
  path: string | null;   // null for items given on the command line
  text: string;
}

export interface ConfigPlan {
  profile: string;
  fragments: Fragment[];
  profilePatches: string[];  // absolute paths
}

export type Requested = Map<string, string>; // CONFIG_X -> value ("y", "m", "n", "64", "\"str\"")

const ITEM = /^CONFIG_[A-Za-z0-9_]+=.*/;

export async function loadProfile(profile: string, dir = kconfigDir()): Promise<{ fragments: string[]; patches: string[] }> {
  let text: string;
  try {
    text = await readFile(join(dir, 'profiles', profile), 'utf8');
  } catch {
    throw usageError(`unknown profile '${profile}': choose one of the files in kconfigs/profiles/`);
  }
  const fragments: string[] = [];
  const patches: string[] = [];
  for (const raw of text.split('\n')) {
    const l = raw.replace(/#.*/, '').trim();
    if (!l) continue;
    if (l.startsWith('@patch ')) patches.push(join(patchDir(), l.slice(7).trim()));
    else fragments.push(l);
  }
  return { fragments, patches };
}

export async function planConfig(profile: string, extra: string[] = [], dir = kconfigDir()): Promise<ConfigPlan> {
  const p = await loadProfile(profile, dir);
  const fragments: Fragment[] = [];
  for (const name of p.fragments) {
    const path = join(dir, `${name}.config`);
    try {
      fragments.push({ name, path, text: await readFile(path, 'utf8') });
    } catch {
      throw usageError(`profile '${profile}' names fragment '${name}' but kconfigs/${name}.config is missing`);
    }
  }
  const items: string[] = [];
  for (const e of extra) {
    if (ITEM.test(e)) {
      items.push(e);
      continue;
    }
    if (/^CONFIG_/.test(e) || /^[A-Z0-9_]+=/.test(e)) {
      throw usageError(`--config ${e}: write single items as CONFIG_NAME=value (y, m, n, a number or a "string")`);
    }
    // A fragment: a file path, or the name of a fragment in kconfigs/.
    let path = resolve(e);
    try {
      await access(path, constants.R_OK);
    } catch {
      const named = join(dir, `${e}.config`);
      try {
        await access(named, constants.R_OK);
        path = named;
      } catch {
        throw usageError(`cannot read config fragment ${e}: give a readable file, a kconfigs/ fragment name, or CONFIG_X=y`);
      }
    }
    fragments.push({ name: e, path, text: await readFile(path, 'utf8') });
  }
  if (items.length) fragments.push({ name: 'command line', path: null, text: items.join('\n') + '\n' });
  return { profile, fragments, profilePatches: p.patches };
}

/** Symbols a list of fragments sets, later fragments winning, `# CONFIG_X is not set` as n. */
export function requestedSymbols(fragments: Fragment[]): Requested {
  const req: Requested = new Map();
  for (const f of fragments) {
    for (const raw of f.text.split('\n')) {
      const l = raw.trim();
      const unset = /^# (CONFIG_[A-Za-z0-9_]+) is not set$/.exec(l);
      if (unset) {
        req.set(unset[1], 'n');
        continue;
      }
      if (!l || l.startsWith('#')) continue;
      const m = /^(CONFIG_[A-Za-z0-9_]+)=(.*)$/.exec(l);
      if (m) req.set(m[1], m[2].trim());
    }
  }
  return req;
}

/** Parse a .config into symbol -> value ("n" for `is not set`). */
export function parseDotConfig(text: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const raw of text.split('\n')) {
    const unset = /^# (CONFIG_[A-Za-z0-9_]+) is not set/.exec(raw);
    if (unset) {
      out.set(unset[1], 'n');
      continue;
    }
    const m = /^(CONFIG_[A-Za-z0-9_]+)=(.*)$/.exec(raw);
    if (m) out.set(m[1], m[2]);
  }
  return out;
}

/** Fragment text merged in order: what the build identity hashes. */
export function fragmentsDigestText(fragments: Fragment[]): string {
  return fragments.map((f) => `# ${f.path ? f.name : 'command line'}\n${f.text}`).join('\n');
}
