/**
 * Real tier for the mmcid tracing:
 * - our 6.12 tracepoint patch applies to the real Debian 6.12 tree, alone and
 *   together with the injected-bug patch in either order (checked against a
 *   scratch index and object dir: the tree is not touched);
 * - real runs of `--profile mmcid`: the events fire and replay clean on the
 *   normal kernel; with the injected CID leak the stall's ftrace dump is cut
 *   from the console and the analysis finds a cid-leak or cid-exhausted.
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it, beforeAll } from 'vitest';
import { ensureDebianTree } from '../../src/source/debian.ts';
import { runKernel } from '../../src/run/run.ts';
import { cachedBuild } from '../helpers/real.ts';
import { git } from '../../src/source/git.ts';
import { cacheRoot, PROJECT_ROOT } from '../../src/util/paths.ts';
import { analyzeText } from '../../src/trace/analyze.ts';
import { formatAnalysis } from '../../src/trace/format.ts';

const TREE = process.env.KREPRO_TREE_612 ?? join(cacheRoot(), 'trees', 'debian-linux-source-6.12');
const OURS = join(PROJECT_ROOT, 'patches/6.12/mmcid-tracepoints.patch');
const INJECT = join(PROJECT_ROOT, 'patches/6.12/inject-cid-leak.patch');

describe('mmcid-tracepoints.patch on the 6.12 tree', () => {
  beforeAll(async () => {
    await ensureDebianTree(cacheRoot());
  });
  /** Apply patches in order to HEAD in a throwaway index; new blobs go to a throwaway object dir. */
  async function applyInOrder(patches: string[]): Promise<string[]> {
    const scratch = mkdtempSync(join(tmpdir(), 'krepro-apply-'));
    mkdirSync(join(scratch, 'objects'));
    const objects = (await git(TREE, ['rev-parse', '--path-format=absolute', '--git-path', 'objects'])).stdout;
    const env = {
      GIT_INDEX_FILE: join(scratch, 'index'),
      GIT_OBJECT_DIRECTORY: join(scratch, 'objects'),
      GIT_ALTERNATE_OBJECT_DIRECTORIES: objects,
    };
    try {
      await git(TREE, ['read-tree', 'HEAD'], { env });
      const errors: string[] = [];
      for (const p of patches) {
        const r = await git(TREE, ['apply', '--cached', p], { env, reject: false });
        if (r.exitCode !== 0) errors.push(`${p}: ${r.stderr}`);
      }
      return errors;
    } finally {
      rmSync(scratch, { recursive: true, force: true });
    }
  }
  it('applies alone', async () => {
    expect(await applyInOrder([OURS])).toEqual([]);
  });
  it('applies before and after the injected-bug patch', async () => {
    expect(await applyInOrder([OURS, INJECT])).toEqual([]);
    expect(await applyInOrder([INJECT, OURS])).toEqual([]);
  });
});

describe('mmcid events from real runs of the 6.12 kernel with our tracepoint patch', () => {
  const runWith = async (patches: string[], append: string, durationSec: number) => {
    const build = await cachedBuild({ profile: 'mmcid', patches });
    const results = mkdtempSync(join(tmpdir(), 'krepro-mmcid-'));
    return runKernel({ prebuilt: build, durationSec, append, traceEvents: ['mmcid:*', 'sched:sched_process_fork'], traceBufferKb: 4096, resultsDir: results });
  };

  it('the normal kernel: events fire, trace.txt replays with zero anomalies', async () => {
    const rec = await runWith([], '', 15);
    expect(rec.verdict).toBe('not-reproduced');
    // judged as the run judged it: on the accelerator it ran on (its late-stamp window)
    const r = analyzeText(readFileSync(join(rec.dir, 'trace.txt'), 'utf8'), { cpus: 4, accel: rec.qemu.accel });
    process.stdout.write(formatAnalysis(r).split('\n').slice(0, 12).join('\n') + '\n');
    expect(r.mmcidEvents).toBeGreaterThan(1000);
    // the whole buffer arrived (gzip over ttyS1), and the values read as 6.12's design
    expect(r.truncated).toBe(false);
    expect(rec.analysis?.truncated).toBe(false);
    expect(r.design).toBe('6.12');
    expect(r.anomalies).toEqual([]);
    expect(rec.analysis?.anomalies).toEqual([]);
  });

  it('the injected CID-leak kernel: the stall dumps the trace and the analysis finds the leak', async () => {
    const rec = await runWith([INJECT], 'mmcid_leak_pct=100', 60);
    expect(rec.verdict).toBe('reproduced');
    // judged as the run judged it: on the accelerator it ran on (its late-stamp window)
    const r = analyzeText(readFileSync(join(rec.dir, 'trace.txt'), 'utf8'), { cpus: 4, accel: rec.qemu.accel });
    process.stdout.write(formatAnalysis(r).split('\n').slice(0, 12).join('\n') + '\n');
    expect(r.mmcidEvents).toBeGreaterThan(0);
    expect(r.anomalies.some((a) => a.kind === 'cid-leak' || a.kind === 'cid-exhausted')).toBe(true);
  });
});
