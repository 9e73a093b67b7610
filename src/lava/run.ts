import { execa } from 'execa';
import { createWriteStream } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { envError } from '../util/errors.ts';

/**
 * The one module that runs LAVA's `lava-run` (Debian 12's lava-dispatcher):
 * a job definition on a local device dictionary, the way tuxrun runs LAVA
 * without a server. Its stdout is the job log (one record per line), kept
 * in `logPath` as it arrives. KREPRO_LAVA_RUN names another lava-run.
 */
export async function lavaRun(o: { job: string; device: string; outputDir: string; logPath: string; jobId?: string; timeoutMs?: number }): Promise<{ exitCode: number | null; ms: number }> {
  await mkdir(o.outputDir, { recursive: true });
  const log = createWriteStream(o.logPath);
  const t0 = Date.now();
  const prog = process.env.KREPRO_LAVA_RUN ?? 'lava-run';
  const p = execa(prog, ['--job-id', o.jobId ?? String(process.pid), '--output-dir', o.outputDir, '--device', o.device, o.job], {
    reject: false, buffer: false, stdout: 'pipe', stderr: 'pipe', timeout: o.timeoutMs ?? 3_600_000, cleanup: true,
  });
  p.stdout!.pipe(log);
  p.stderr!.pipe(log);
  const r = await p;
  await new Promise<void>((res) => log.end(() => res()));
  if ((r as { code?: string }).code === 'ENOENT') {
    throw envError(`${prog} not found: install Debian's lava-dispatcher (apt-get install --no-install-recommends lava-dispatcher; scripts/setup does), or set KREPRO_LAVA_RUN=/path/to/lava-run`);
  }
  return { exitCode: r.exitCode ?? null, ms: Date.now() - t0 };
}

export const lavaOutputDir = (runDir: string) => join(runDir, 'lava-output');
