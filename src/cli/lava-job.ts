import type { CommandModule } from 'yargs';
import { writeFile, mkdir } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { runOptions, toRunOptions } from './run-options.ts';
import { resolveRunOptions, newRunId } from '../run/run.ts';
import { planLavaJob } from '../lava/plan.ts';
import { lavaRun, lavaOutputDir } from '../lava/run.ts';
import { importLavaLog } from '../lava/import.ts';
import { EXIT_FOR_VERDICT } from '../verdict/verdict.ts';
import { resultsRoot } from '../util/paths.ts';
import { printLavaVerdict } from './import-lava.ts';

const cmd: CommandModule = {
  command: 'lava-job',
  describe: 'Write a LAVA job (qemu device type) that boots what krepro run would, with our detectors as a test monitor; --run runs it with lava-run and judges the log',
  builder: (y) =>
    runOptions(y)
      .option('o', { alias: 'out', type: 'string', demandOption: true, describe: 'the job definition to write (job.yaml)' })
      .option('device-out', { type: 'string', describe: 'also write a qemu device dictionary for a local lava-run (default with --run: device.yaml beside the job)' })
      .option('kernel-url', { type: 'string', describe: 'URL the lab downloads the bzImage from (default file:// of the local path)' })
      .option('initrd-url', { type: 'string', describe: 'URL the lab downloads the initramfs from (default file:// of the local path)' })
      .option('run', { type: 'boolean', default: false, describe: 'run the job here with Debian\'s lava-run and print our verdict (as krepro import-lava)' })
      .option('json', { type: 'boolean', default: false }),
  handler: async (argv) => {
    const a = argv as unknown as Parameters<typeof toRunOptions>[0] & { o: string; 'device-out'?: string; 'kernel-url'?: string; 'initrd-url'?: string; run: boolean; json: boolean };
    const o = resolveRunOptions(toRunOptions(a));
    const plan = await planLavaJob(o, { kernel: a['kernel-url'], initrd: a['initrd-url'] });
    const jobPath = resolve(a.o);
    await mkdir(dirname(jobPath), { recursive: true });
    await writeFile(jobPath, plan.job);
    const devicePath = a['device-out'] ? resolve(a['device-out']) : a.run ? join(dirname(jobPath), 'device.yaml') : null;
    if (devicePath) await writeFile(devicePath, plan.device);
    if (!a.run) {
      process.stdout.write(a.json ? JSON.stringify({ job: jobPath, device: devicePath, kernel: plan.kernel, initrd: plan.initrd, append: plan.append }) + '\n' : `job: ${jobPath}${devicePath ? `\ndevice: ${devicePath}` : ''}\n`);
      return;
    }
    const runDir = join(resolve(o.resultsDir ?? resultsRoot()), newRunId());
    await mkdir(runDir, { recursive: true });
    const logPath = join(runDir, 'lava.log');
    process.stderr.write(`krepro: lava-run ${jobPath} on ${devicePath} (log ${logPath})\n`);
    const r = await lavaRun({ job: jobPath, device: devicePath!, outputDir: lavaOutputDir(runDir), logPath });
    const rec = await importLavaLog(logPath, { resultsDir: o.resultsDir, runDir, signature: o.signature ?? null, title: o.title ?? null });
    printLavaVerdict(rec, a.json, { lavaRunExit: r.exitCode, lavaRunMs: r.ms });
    process.exitCode = EXIT_FOR_VERDICT[rec.verdict];
  },
};
export default cmd;
