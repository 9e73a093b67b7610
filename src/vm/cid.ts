import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { tryLock } from '../util/lock.ts';

/**
 * vsock guest CIDs must be unique among running VMs on a host. A CID is
 * taken by locking <dir>/<cid>.lock (util/lock.ts: proper-lockfile, stale
 * after a minute without refresh); a CID another krepro holds is skipped,
 * never waited for. CIDs 0-2 are reserved.
 */
export async function allocateCid(dir: string, first = 3, last = 0xffff): Promise<{ cid: number; release: () => Promise<void> }> {
  await mkdir(dir, { recursive: true });
  const span = last - first + 1;
  const start = first + (process.pid % Math.min(1000, span));
  for (let i = 0; i < span; i++) {
    const cid = first + ((start - first + i) % span);
    const lock = await tryLock(join(dir, `${cid}.lock`));
    if (lock) return { cid, release: () => lock.release() };
  }
  throw new Error(`no free vsock CID in ${first}-${last} (${dir})`);
}
