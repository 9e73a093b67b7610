// One contender in the stale-takeover race (test/util/lock.test.ts): wait
// for the start file, try the lock once, print "lost", or "won <from> <to>"
// with the times it held the lock (the test checks no two holds overlap).
import { existsSync } from 'node:fs';
import { tryLock } from '../../src/util/lock.ts';

const [path, go] = process.argv.slice(2);
while (!existsSync(go)) await new Promise((r) => setTimeout(r, 5));
const lock = await tryLock(path);
if (!lock) process.stdout.write('lost\n');
else {
  const from = Date.now();
  await new Promise((r) => setTimeout(r, 1500));
  const to = Date.now();
  await lock.release();
  process.stdout.write(`won ${from} ${to}\n`);
}
