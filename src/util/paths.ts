import { homedir } from 'node:os';
import { join, resolve, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { existsSync } from 'node:fs';

/**
 * The krepro checkout (where kconfigs/, guest/ and patches/ live): the first
 * directory above this module with package.json and kconfigs/, so the same
 * answer comes from src/util/ (tsx) and from dist/src/util/ (compiled).
 */
export function findProjectRoot(from: string): string {
  for (let d = from; ; d = dirname(d)) {
    if (existsSync(join(d, 'package.json')) && existsSync(join(d, 'kconfigs'))) return d;
    if (dirname(d) === d) return resolve(from, '..', '..');
  }
}
export const PROJECT_ROOT = findProjectRoot(dirname(fileURLToPath(import.meta.url)));

/**
 * Cache root: unpacked trees, worktrees, build dirs, initramfs images.
 * KREPRO_CACHE overrides; else $XDG_CACHE_HOME/krepro; else ~/.cache/krepro.
 */
export function cacheRoot(env: NodeJS.ProcessEnv = process.env): string {
  if (env.KREPRO_CACHE) return resolve(env.KREPRO_CACHE);
  if (env.XDG_CACHE_HOME) return join(env.XDG_CACHE_HOME, 'krepro');
  return join(homedir(), '.cache', 'krepro');
}

/** Default results dir: KREPRO_RESULTS or <project>/results. */
export function resultsRoot(env: NodeJS.ProcessEnv = process.env): string {
  if (env.KREPRO_RESULTS) return resolve(env.KREPRO_RESULTS);
  return join(PROJECT_ROOT, 'results');
}

export const kconfigDir = () => join(PROJECT_ROOT, 'kconfigs');
export const guestDir = () => join(PROJECT_ROOT, 'guest');
export const patchDir = () => join(PROJECT_ROOT, 'patches');
