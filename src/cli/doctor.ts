import type { CommandModule } from 'yargs';
import { collectFacts, type Fact } from '../doctor/facts.ts';
import { cacheRoot } from '../util/paths.ts';

const cmd: CommandModule = {
  command: 'doctor',
  describe: 'Check the host: QEMU, KVM or TCG, vhost-vsock, ccache, gcc, cores, disk, kernel source',
  builder: (y) => y.option('json', { type: 'boolean', default: false, describe: 'print one JSON object' }),
  handler: async (a) => {
    const json = (a as { json?: boolean }).json;
    // Each fact is printed as soon as it is known; --json prints one object at the end.
    const print = (f: Fact) => {
      const mark = f.ok ? 'ok  ' : f.required ? 'FAIL' : 'note';
      process.stdout.write(`${mark} ${f.name.padEnd(15)} ${f.value}\n`);
      if (f.hint && !f.ok) process.stdout.write(`     ${''.padEnd(15)} -> ${f.hint}\n`);
    };
    const facts = await collectFacts(cacheRoot(), json ? {} : { onFact: print });
    const ok = facts.every((f) => f.ok || !f.required);
    if (json) process.stdout.write(JSON.stringify({ ok, facts }) + '\n');
    process.exitCode = ok ? 0 : 255;
  },
};
export default cmd;
