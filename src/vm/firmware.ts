import { access, constants } from 'node:fs/promises';
import { dirname, join } from 'node:path';

/**
 * Where the qboot firmware of the fast boot path (src/vm/qemu-args.ts) may
 * be, best first: $KREPRO_QBOOT, the data dir beside a QEMU installed under
 * a prefix (<prefix>/bin/qemu-system-x86_64 -> <prefix>/share/qemu), then
 * Debian's qemu-system-data (/usr/share/qemu/qboot.rom).
 */
export function qbootCandidates(qemuBinary: string, env: NodeJS.ProcessEnv = process.env): string[] {
  const c: string[] = [];
  if (env.KREPRO_QBOOT) c.push(env.KREPRO_QBOOT);
  if (qemuBinary.includes('/')) c.push(join(dirname(dirname(qemuBinary)), 'share', 'qemu', 'qboot.rom'));
  c.push('/usr/share/qemu/qboot.rom', '/usr/share/seabios/qboot.rom');
  return [...new Set(c)];
}

/** The first readable qboot image, or null (then only the legacy boot path works). */
export async function findQboot(qemuBinary: string, env: NodeJS.ProcessEnv = process.env): Promise<string | null> {
  for (const p of qbootCandidates(qemuBinary, env)) {
    try {
      await access(p, constants.R_OK);
      return p;
    } catch {
      // next
    }
  }
  return null;
}
