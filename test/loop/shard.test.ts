import { describe, it, expect, beforeAll } from 'vitest';
import { execa } from 'execa';
import { mkdtemp, readFile, readdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PROJECT_ROOT } from '../../src/util/paths.ts';
import { runLoop } from '../../src/loop/loop.ts';
import { mergeLoops } from '../../src/loop/merge.ts';
import { loopStats, summarizeRun } from '../../src/loop/summary.ts';
import { parseShard, resolveShard, shardIndexes } from '../../src/loop/shard.ts';
import type { LoopRecord } from '../../src/loop/types.ts';
import type { RunRecord } from '../../src/run/types.ts';
import { corpusRunner } from './corpus-run.ts';

const COUNT = 14;
const deps = {
  build: async () => { throw new Error('no build in a --kernel loop'); },
  run: corpusRunner(),
  now: Date.now,
};

describe('shard selection', () => {
  it('parses K/N (1-based) and rejects nonsense', () => {
    expect(parseShard('2/4')).toEqual({ index: 1, count: 4 });
    for (const bad of ['0/4', '5/4', '4', 'a/b', '1/0']) expect(() => parseShard(bad)).toThrow(/--shard/);
  });

  it('reads Kubernetes, CI matrix and GitLab variables, flag first', () => {
    expect(resolveShard(undefined, { JOB_COMPLETION_INDEX: '2', KREPRO_SHARD_COUNT: '5' })).toEqual({ index: 2, count: 5 });
    expect(resolveShard(undefined, { KREPRO_SHARD_INDEX: '0', KREPRO_SHARD_COUNT: '2' })).toEqual({ index: 0, count: 2 });
    expect(resolveShard(undefined, { CI_NODE_INDEX: '3', CI_NODE_TOTAL: '3' })).toEqual({ index: 2, count: 3 });
    expect(resolveShard('1/2', { JOB_COMPLETION_INDEX: '2', KREPRO_SHARD_COUNT: '5' })).toEqual({ index: 0, count: 2 });
    expect(resolveShard(undefined, {})).toBeNull();
    expect(() => resolveShard(undefined, { JOB_COMPLETION_INDEX: '1' })).toThrow(/KREPRO_SHARD_COUNT/);
    expect(() => resolveShard(undefined, { JOB_COMPLETION_INDEX: '5', KREPRO_SHARD_COUNT: '5' })).toThrow(/outside/);
  });

  it('every index belongs to exactly one shard', () => {
    const all = [0, 1, 2].flatMap((k) => shardIndexes(COUNT, { index: k, count: 3 })).sort((a, b) => a - b);
    expect(all).toEqual([...Array(COUNT).keys()]);
  });
});

describe('split over processes, then merge', () => {
  let root: string;
  let single: LoopRecord;
  let merged: LoopRecord;
  let workers: { pid: number; runs: number[] }[];
  let warnings: string[];

  beforeAll(async () => {
    root = await mkdtemp(join(tmpdir(), 'krepro-shard-'));
    const base = { ...process.env };
    for (const k of ['JOB_COMPLETION_INDEX', 'KREPRO_SHARD_INDEX', 'KREPRO_SHARD_COUNT', 'CI_NODE_INDEX', 'CI_NODE_TOTAL']) delete base[k];
    const envs = [
      { KREPRO_SHARD_INDEX: '0', KREPRO_SHARD_COUNT: '3' },       // CI matrix
      { JOB_COMPLETION_INDEX: '1', KREPRO_SHARD_COUNT: '3' },     // Kubernetes Indexed Job
      { CI_NODE_INDEX: '3', CI_NODE_TOTAL: '3' },                 // GitLab parallel
    ];
    const procs = envs.map((env, k) =>
      execa('node', [join(PROJECT_ROOT, 'bin/run-ts.mjs'), join(PROJECT_ROOT, 'test/loop/shard-worker.ts'), join(root, `shard${k}`), String(COUNT)], {
        env: { ...base, ...env }, extendEnv: false, cwd: PROJECT_ROOT,
      }));
    const outs = await Promise.all(procs);
    workers = outs.map((o) => JSON.parse(o.stdout.trim().split('\n').pop()!));
    single = (await runLoop({ run: { kernel: '/nonexistent/bzImage' }, count: COUNT, dir: join(root, 'single'), resultsDir: root }, deps)).record;
    const m = await mergeLoops([join(root, 'shard0'), join(root, 'shard1'), join(root, 'shard2')], join(root, 'merged'));
    merged = m.record;
    warnings = m.warnings;
  });

  it('ran in three processes with disjoint shares', () => {
    expect(new Set(workers.map((w) => w.pid)).size).toBe(3);
    expect(workers.map((w) => w.runs)).toEqual([0, 1, 2].map((k) => shardIndexes(COUNT, { index: k, count: 3 })));
  });

  it('merged statistics equal those of all runs together and of one unsharded loop', async () => {
    // Independently: read every run.json the shards wrote and compute the stats once.
    const all: ReturnType<typeof summarizeRun>[] = [];
    for (const k of [0, 1, 2]) {
      const runsDir = join(root, `shard${k}`, 'runs');
      for (const d of await readdir(runsDir)) {
        const rec = JSON.parse(await readFile(join(runsDir, d, 'run.json'), 'utf8')) as RunRecord;
        all.push(summarizeRun(rec, Number(d), join('runs', d)));
      }
    }
    expect(all).toHaveLength(COUNT);
    expect(merged.stats).toEqual(loopStats(all));
    expect(merged.stats).toEqual(single.stats);
    expect(merged.stats.reproduced).toBeGreaterThan(0);
    expect(merged.stats.reproduced).toBeLessThan(COUNT);
    expect(merged.runs.map((r) => r.index)).toEqual([...Array(COUNT).keys()]);
    expect(warnings).toEqual([]);
    // the merged dir is self-contained: run dirs were copied
    expect((await readdir(join(root, 'merged', 'runs'))).length).toBe(COUNT);
    const onDisk = JSON.parse(await readFile(join(root, 'merged', 'loop.json'), 'utf8'));
    expect(onDisk.stats).toEqual(merged.stats);
  });

  it('survives the deploy path: bundle each shard, verify, extract, merge', async () => {
    const { createBundle, verifyBundle, extractBundle } = await import('../../src/artifacts/bundle.ts');
    for (const k of [0, 1, 2]) {
      const b = join(root, 'bundles', `shard-${k}.tar.gz`);
      await createBundle(join(root, `shard${k}`), b);
      expect((await verifyBundle(b)).ok).toBe(true);
      await extractBundle(b, join(root, 'extracted', `shard-${k}`));
    }
    const m = await mergeLoops([join(root, 'extracted')], join(root, 'merged-from-bundles'));
    expect(m.record.stats).toEqual(single.stats);
  });

  it('refuses a shard given twice and warns about a missing one', async () => {
    await expect(mergeLoops([join(root, 'shard0'), join(root, 'shard0')], join(root, 'dup'))).rejects.toThrow(/both/);
    const part = await mergeLoops([join(root, 'shard0'), join(root, 'shard2')], join(root, 'part'));
    expect(part.warnings.join('\n')).toMatch(/missing/);
  });

  it('refuses shards of different configurations', async () => {
    const other = await runLoop({ run: { kernel: '/nonexistent/bzImage', cpus: 2 }, count: 2, shard: { index: 1, count: 3 }, dir: join(root, 'other'), resultsDir: root }, deps);
    expect(other.record.configKey).not.toBe(single.configKey);
    await expect(mergeLoops([join(root, 'shard0'), join(root, 'other')], join(root, 'mixed'))).rejects.toThrow(/configuration/);
  });
});
