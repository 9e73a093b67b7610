// Started by vng.real.test.ts: boots one vng guest through startVng and
// prints `pid <n>` once the guest's init marker is seen, then waits to be
// SIGKILLed. argv: <plan.json> <console.log>
import { readFile } from 'node:fs/promises';
import { startVng } from '../../src/vm/vng-process.ts';

const [planFile, consoleLog] = process.argv.slice(2);
const plan = JSON.parse(await readFile(planFile, 'utf8')) as { argv: string[] };
const q = startVng(plan.argv, consoleLog, (line) => {
  if (line.includes('krepro-init: started')) process.stdout.write(`init ${q.pid}\n`);
});
await q.exited;
process.stdout.write('exited\n');
