import { homedir } from 'node:os';
import { join, resolve, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The krepro checkout (where kconfigs/, guest/ and patches/ live). */
export const PROJECT_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');

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
