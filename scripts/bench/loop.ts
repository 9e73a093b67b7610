/**
 * Loop machinery costs, without QEMU: each run replays a real console from
 * ../shared/corpus/qemu-6.12 into its run dir, so what is measured is the
 * loop's own overhead (run dir, loop.json rewrite, statistics), merging,
 * bundling, verifying, the text report and the statistics themselves.
 */
import { mkdtemp, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { runLoop } from '../../src/loop/loop.ts';
import { mergeLoops } from '../../src/loop/merge.ts';
import { loopStats } from '../../src/loop/summary.ts';
import { createBundle, verifyBundle } from '../../src/artifacts/bundle.ts';
import { buildReport } from '../../src/report/text.ts';
import { rmrf } from '../../src/util/fs.ts';
import { corpusRunner } from '../../test/loop/corpus-run.ts';

const ms = (t0: bigint) => Number(process.hrtime.bigint() - t0) / 1e6;

export async function bench(): Promise<Record<string, number | string>> {
  const root = await mkdtemp(join(tmpdir(), 'krepro-bench-loop-'));
  try {
    const N = 60;
    const deps = { build: async () => { throw new Error('unused'); }, run: corpusRunner(), now: Date.now };
    let t = process.hrtime.bigint();
    const { record } = await runLoop({ run: { kernel: '/x/bzImage' }, count: N, dir: join(root, 'single'), resultsDir: root }, deps);
    const loopMs = ms(t);
    for (const k of [0, 1, 2]) {
      await runLoop({ run: { kernel: '/x/bzImage' }, count: N, shard: { index: k, count: 3 }, dir: join(root, `s${k}`), resultsDir: root }, deps);
    }
    t = process.hrtime.bigint();
    await mergeLoops([0, 1, 2].map((k) => join(root, `s${k}`)), join(root, 'merged'));
    const mergeMs = ms(t);
    t = process.hrtime.bigint();
    const b = join(root, 'loop.tar.gz');
    await createBundle(join(root, 'single'), b);
    const bundleMs = ms(t);
    t = process.hrtime.bigint();
    const v = await verifyBundle(b);
    const verifyMs = ms(t);
    t = process.hrtime.bigint();
    await buildReport(join(root, 'single'));
    const reportMs = ms(t);
    const many = Array.from({ length: 10_000 }, (_, i) => ({ ...record.runs[i % record.runs.length], index: i }));
    t = process.hrtime.bigint();
    loopStats(many);
    const statsMs = ms(t);
    return {
      'loop.overhead_ms_per_run': +(loopMs / N).toFixed(2),
      'loop.merge_ms_3x20_runs': +mergeMs.toFixed(1),
      'loop.bundle_ms_60_runs': +bundleMs.toFixed(1),
      'loop.bundle_bytes_60_runs': (await stat(b)).size,
      'loop.verify_ms_60_runs': +verifyMs.toFixed(1),
      'loop.verify_ok': v.ok ? 'yes' : 'no',
      'loop.report_ms': +reportMs.toFixed(1),
      'loop.stats_ms_10000_runs': +statsMs.toFixed(1),
    };
  } finally {
    await rmrf(root);
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) {
  console.log(await bench());
}
