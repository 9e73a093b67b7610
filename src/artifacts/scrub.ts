import { homedir, userInfo } from 'node:os';
import { cacheRoot } from '../util/paths.ts';

/**
 * What a bundle must not carry from the host: environment variables and
 * paths outside the run. JSON artifacts are rewritten before they are packed:
 *   - keys that hold environment or host identity (env, environment,
 *     hostname, user, username) are dropped;
 *   - the bundled dir's own absolute path becomes ".", the cache root
 *     becomes "$KREPRO_CACHE", the home dir "~", and the user name "<user>".
 * Console logs, trace and .config come from the guest and the kernel build
 * and are packed as they are.
 */
export interface ScrubContext {
  dir: string;
  cache?: string;
  home?: string;
  user?: string;
}

const DROP_KEYS = new Set(['env', 'environment', 'hostname', 'user', 'username']);

export function defaultScrubContext(dir: string): ScrubContext {
  let user: string | undefined;
  try { user = userInfo().username; } catch { user = undefined; }
  return { dir, cache: cacheRoot(), home: homedir(), user };
}

function escapeRe(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

export function scrubString(s: string, ctx: ScrubContext): string {
  const rules: [string | undefined, string][] = [
    [ctx.dir, '.'],
    [ctx.cache, '$KREPRO_CACHE'],
    [ctx.home && ctx.home !== '/' ? ctx.home : undefined, '~'],
  ];
  let out = s;
  for (const [from, to] of rules) {
    if (!from) continue;
    out = out.replace(new RegExp(`${escapeRe(from.replace(/\/+$/, ''))}(?=/|$|[^\\w.-])`, 'g'), to);
  }
  if (ctx.user && ctx.user.length >= 3 && ctx.user !== 'root') {
    out = out.replace(new RegExp(`(?<![\\w-])${escapeRe(ctx.user)}(?![\\w-])`, 'g'), '<user>');
  }
  return out;
}

export function scrubJson(value: unknown, ctx: ScrubContext): unknown {
  if (typeof value === 'string') return scrubString(value, ctx);
  if (Array.isArray(value)) return value.map((v) => scrubJson(v, ctx));
  if (value && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) {
      if (DROP_KEYS.has(k.toLowerCase())) continue;
      out[k] = scrubJson(v, ctx);
    }
    return out;
  }
  return value;
}
