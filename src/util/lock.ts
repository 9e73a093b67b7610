import lockfile from 'proper-lockfile';
import { mkdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { KreproError } from './errors.ts';

/**
 * Cross-process locks on the shared cache, by proper-lockfile: the lock is a
 * directory made with mkdir (atomic), its mtime refreshed every UPDATE_MS
 * while held; a lock not refreshed for STALE_MS belongs to a dead krepro
 * (SIGKILL, power loss) and is taken over, and proper-lockfile's takeover
 * is a compare-and-remove of that directory, not a read-then-rm of a pid
 * file that two waiters can both win. Locks are released on exit and on
 * SIGINT/SIGTERM (signal-exit). A second krepro wanting the same lock waits,
 * saying once who holds it (the pid is kept beside the lock, for that
 * message only); so does a second caller in the same process.
 *
 * Lock paths are the ones the pid locks used (tree-X.lock, build-K.lock,
 * <tree>.lock), so a krepro from before this change and this one still
 * exclude each other while both run on one cache: a pid file found at the
 * path is honoured as a lock while its pid is alive.
 */
export interface Lock {
  release(): Promise<void>;
}

/** A held lock not refreshed for this long is stale. Long, because TCG guests can starve the event loop on 2 cores. */
export const STALE_MS = 60_000;
const UPDATE_MS = 10_000;
/** The guard is held for a few milliseconds; one left by a SIGKILL in that window is stale after this. */
const GUARD_STALE_MS = 10_000;

/** Is a process with this pid alive (EPERM: alive, not ours)? */
export function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

const ownerFile = (path: string) => `${path}.pid`;

async function ownerOf(path: string): Promise<number | null> {
  const n = Number((await readFile(ownerFile(path), 'utf8').catch(() => '')).trim());
  return Number.isInteger(n) && n > 0 ? n : null;
}

/** A pid-file lock of an older krepro at this path: held while its pid lives; removed when it is dead. */
async function oldStyleHeld(path: string): Promise<boolean> {
  const s = await stat(path).catch(() => null);
  if (!s?.isFile()) return false;
  const pid = Number((await readFile(path, 'utf8').catch(() => '')).trim());
  if (Number.isInteger(pid) && pid > 0 && pid !== process.pid && pidAlive(pid)) return true;
  await rm(path, { force: true });
  return false;
}

const lockOpts = (stale: number, onCompromised: (e: Error) => void) => ({ realpath: false, stale, update: Math.min(UPDATE_MS, stale / 2), retries: 0, onCompromised });

/**
 * One attempt: the release function, or null when another process holds
 * the lock (or is taking it right now). proper-lockfile's own stale
 * takeover is a stat, then an rmdir: a second taker that stat'ed the stale
 * lock before the first one replaced it would rmdir the first one's fresh
 * lock and take it too. So every attempt first takes a short-lived guard
 * (<path>.guard, mkdir, stale after GUARD_STALE_MS) and only its holder may
 * judge and remove a stale lock; a taker that finds the guard held has lost
 * this attempt and polls again.
 */
export async function tryLock(path: string, opts: { onCompromised?: (e: Error) => void } = {}): Promise<Lock | null> {
  if (await oldStyleHeld(path)) return null;
  const warn = opts.onCompromised ?? ((e: Error) => process.stderr.write(`krepro: warning: lock ${path} was taken over by another krepro (${e.message})\n`));
  let releaseGuard: (() => Promise<void>) | null = null;
  try {
    // (its own key: proper-lockfile keys held locks by the file name, in-process)
    releaseGuard = await lockfile.lock(`${path}.guard`, { ...lockOpts(GUARD_STALE_MS, () => {}), lockfilePath: `${path}.guard` });
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ELOCKED') return null;
    throw e;
  }
  try {
    // A lock we hold that another krepro took over (our refresh came too late): warn, never crash the run.
    const release = await lockfile.lock(path, { ...lockOpts(STALE_MS, warn), lockfilePath: path });
    await writeFile(ownerFile(path), String(process.pid)).catch(() => {});
    return {
      release: async () => {
        await rm(ownerFile(path), { force: true }).catch(() => {});
        await release().catch(() => { /* already released or taken over */ });
      },
    };
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ELOCKED') return null;
    // An older krepro wrote its pid file between our check and our mkdir.
    if (code === 'ENOTDIR') return (await oldStyleHeld(path)) ? null : tryLock(path, opts);
    throw e;
  } finally {
    await releaseGuard().catch(() => {});
  }
}

export async function acquireLock(
  path: string,
  opts: { onWait?: (owner: string) => void; signal?: AbortSignal; pollMs?: number } = {},
): Promise<Lock> {
  await mkdir(dirname(path), { recursive: true });
  let told = false;
  for (;;) {
    const lock = await tryLock(path);
    if (lock) return lock;
    const owner = (await ownerOf(path)) ?? (Number((await readFile(path, 'utf8').catch(() => '')).trim()) || null);
    if (!told) {
      // Another part of this process (parallel runs) waits the same way.
      opts.onWait?.(owner === process.pid ? 'this krepro' : owner ? `pid ${owner}` : 'another krepro');
      told = true;
    }
    if (opts.signal?.aborted) throw new KreproError('infra', `interrupted while waiting for ${path}${owner ? ` (held by pid ${owner})` : ''}`);
    await new Promise((r) => setTimeout(r, opts.pollMs ?? 500));
  }
}
