import type { CommandModule } from 'yargs';
import { collectFacts } from '../doctor/facts.ts';
import { cacheRoot } from '../util/paths.ts';

const cmd: CommandModule = {
  command: 'doctor',
  describe: 'Check the host: QEMU, KVM or TCG, vhost-vsock, ccache, gcc, cores, disk, kernel source',
  builder: (y) => y.option('json', { type: 'boolean', default: false, describe: 'print one JSON object' }),
  handler: async (a) => {
    const facts = await collectFacts(cacheRoot());
    const ok = facts.every((f) => f.ok || !f.required);
    if ((a as { json?: boolean }).json) {
      process.stdout.write(JSON.stringify({ ok, facts }) + '\n');
    } else {
      for (const f of facts) {
        const mark = f.ok ? 'ok  ' : f.required ? 'FAIL' : 'note';
        process.stdout.write(`${mark} ${f.name.padEnd(15)} ${f.value}\n`);
        if (f.hint && !f.ok) process.stdout.write(`     ${''.padEnd(15)} -> ${f.hint}\n`);
      }
    }
    process.exitCode = ok ? 0 : 255;
  },
};
export default cmd;
