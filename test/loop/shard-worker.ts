// Run one shard of a corpus-replay loop in its own process (spawned by
// shard.test.ts). The shard comes from the environment, as on Kubernetes or CI.
import { runLoop } from '../../src/loop/loop.ts';
import { resolveShard } from '../../src/loop/shard.ts';
import { corpusRunner } from './corpus-run.ts';

const [dir, count] = process.argv.slice(2);
const shard = resolveShard(undefined, process.env);
const { record } = await runLoop(
  { run: { kernel: '/nonexistent/bzImage' }, count: Number(count), shard, dir, resultsDir: dir },
  { build: async () => { throw new Error('no build in a --kernel loop'); }, run: corpusRunner(), now: Date.now },
);
process.stdout.write(JSON.stringify({ pid: process.pid, shard, runs: record.runs.map((r) => r.index) }) + '\n');
