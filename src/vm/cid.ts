import { open, readFile, rm, mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { pidAlive } from '../util/lock.ts';

/**
 * vsock guest CIDs must be unique among running VMs on a host. A CID is
 * taken by creating <dir>/<cid> exclusively with our pid in it; a file whose
 * pid is dead is stale and reused. CIDs 0-2 are reserved.
 */
export async function allocateCid(dir: string, first = 3, last = 0xffff): Promise<{ cid: number; release: () => Promise<void> }> {
  await mkdir(dir, { recursive: true });
  const start = first + (process.pid % 1000);
  for (let i = 0; i <= last - first; i++) {
    const cid = first + ((start - first + i) % (last - first + 1));
    const path = join(dir, String(cid));
    try {
      const fh = await open(path, 'wx');
      await fh.writeFile(String(process.pid));
      await fh.close();
      return { cid, release: () => rm(path, { force: true }) };
    } catch {
      const owner = Number((await readFile(path, 'utf8').catch(() => '')).trim());
      if (!owner || !pidAlive(owner)) {
        await rm(path, { force: true });
        i--; // retry this CID
      }
    }
  }
  throw new Error('no free vsock CID');
}
