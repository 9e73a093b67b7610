import { KreproError } from './errors.ts';
import { open, readFile, rm, mkdir } from 'node:fs/promises';
import { dirname } from 'node:path';

/**
 * A cross-process lock file holding the owner's pid. A lock whose owner is
 * dead is stale and taken over, so a SIGKILLed krepro never wedges the cache.
 * A second krepro wanting the same lock waits (printing once) rather than
 * sharing a worktree or build dir.
 */
export interface Lock {
  release(): Promise<void>;
}

/** Is a process with this pid alive (EPERM: alive, not ours)? */
export function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

export async function acquireLock(
  path: string,
  opts: { onWait?: (ownerPid: number) => void; signal?: AbortSignal; pollMs?: number } = {},
): Promise<Lock> {
  await mkdir(dirname(path), { recursive: true });
  let told = false;
  for (;;) {
    try {
      const fh = await open(path, 'wx');
      await fh.writeFile(String(process.pid));
      await fh.close();
      return {
        release: async () => {
          try {
            const owner = Number((await readFile(path, 'utf8')).trim());
            if (owner === process.pid) await rm(path, { force: true });
          } catch {
            /* already gone */
          }
        },
      };
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
    }
    let owner = NaN;
    try {
      owner = Number((await readFile(path, 'utf8')).trim());
    } catch {
      continue;
    }
    if (!Number.isFinite(owner) || owner <= 0 || !pidAlive(owner)) {
      // Stale: the owner died. Remove and retry (another waiter may win).
      await rm(path, { force: true });
      continue;
    }
    if (owner === process.pid) throw new Error(`lock ${path} already held by this process`);
    if (!told) {
      opts.onWait?.(owner);
      told = true;
    }
    if (opts.signal?.aborted) throw new KreproError('infra', `interrupted while waiting for ${path} (held by pid ${owner})`);
    await new Promise((r) => setTimeout(r, opts.pollMs ?? 500));
  }
}
