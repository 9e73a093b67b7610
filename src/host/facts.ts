import { access, constants, statfs, mkdir } from 'node:fs/promises';
import { envError } from '../util/errors.ts';

/**
 * Facts of the host that every stage may ask, cheap and without side
 * effects: free disk, /dev/vhost-vsock. (What `krepro doctor` prints is
 * src/doctor/facts.ts; whether KVM starts a guest is src/vm/kvm.ts.)
 */
export async function vhostVsockUsable(): Promise<boolean> {
  try {
    await access('/dev/vhost-vsock', constants.R_OK | constants.W_OK);
    return true;
  } catch {
    return false;
  }
}

export async function freeBytes(dir: string): Promise<number | null> {
  try {
    await mkdir(dir, { recursive: true });
    const s = await statfs(dir);
    return s.bavail * s.bsize;
  } catch {
    return null;
  }
}

/**
 * Refuse to start work that cannot finish for lack of disk: a tree unpack
 * needs ~2 GiB, a tiny build dir ~1 GiB. KREPRO_MIN_FREE_GB overrides.
 */
export async function requireFreeSpace(dir: string, what: string, gib = Number(process.env.KREPRO_MIN_FREE_GB ?? 3)): Promise<void> {
  const free = await freeBytes(dir);
  if (free !== null && free < gib * 2 ** 30) {
    throw envError(`only ${(free / 2 ** 30).toFixed(1)} GiB free in ${dir}, ${what} needs ${gib} GiB: free space or set KREPRO_CACHE to a bigger disk`);
  }
}
