// One contender in the stale-takeover race (test/util/lock.test.ts): wait
// for the start file, try the lock once, print "won" or "lost", hold a winner
// for a moment so a late loser cannot take it after release.
import { existsSync } from 'node:fs';
import { tryLock } from '../../src/util/lock.ts';

const [path, go] = process.argv.slice(2);
while (!existsSync(go)) await new Promise((r) => setTimeout(r, 5));
const lock = await tryLock(path);
process.stdout.write(lock ? 'won\n' : 'lost\n');
if (lock) {
  await new Promise((r) => setTimeout(r, 1500));
  await lock.release();
}
