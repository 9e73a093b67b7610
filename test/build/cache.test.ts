import { describe, it, expect } from 'vitest';
import { buildKey, inputKey, chooseEvictions } from '../../src/build/cache.ts';
import { progressAt, firstCompilerErrors, progressTracker } from '../../src/build/progress.ts';

describe('build keys', () => {
  const base = { commit: 'a'.repeat(40), configText: 'CONFIG_SMP=y\n', patches: [{ sha256: 'p1' }], compiler: 'gcc 12.2.0' };
  it('change with each ingredient of the build identity and only with them', () => {
    const k = buildKey(base);
    expect(buildKey({ ...base })).toBe(k);
    expect(buildKey({ ...base, commit: 'b'.repeat(40) })).not.toBe(k);
    expect(buildKey({ ...base, configText: 'CONFIG_SMP=n\n' })).not.toBe(k);
    expect(buildKey({ ...base, patches: [{ sha256: 'p2' }] })).not.toBe(k);
    expect(buildKey({ ...base, patches: [] })).not.toBe(k);
    expect(buildKey({ ...base, compiler: 'gcc 13' })).not.toBe(k);
  });
  it('patch order is part of the identity', () => {
    const a = buildKey({ ...base, patches: [{ sha256: 'x' }, { sha256: 'y' }] });
    const b = buildKey({ ...base, patches: [{ sha256: 'y' }, { sha256: 'x' }] });
    expect(a).not.toBe(b);
  });
  it('input keys separate what was asked for', () => {
    const i = { commit: 'c', fragmentsText: 'CONFIG_A=y', patches: [], compiler: 'gcc' };
    expect(inputKey(i)).toBe(inputKey({ ...i }));
    expect(inputKey({ ...i, fragmentsText: 'CONFIG_A=n' })).not.toBe(inputKey(i));
  });
});

describe('eviction policy', () => {
  it('keeps the newest builds up to the count and size caps, never the one just built', () => {
    const b = (dir: string, bytes: number) => ({ dir, bytes });
    expect(chooseEvictions([b('new', 5), b('a', 5), b('b', 5), b('c', 5)], 'new', 3, 1e9)).toEqual(['c']);
    expect(chooseEvictions([b('new', 5), b('a', 5), b('b', 5)], 'new', 10, 12)).toEqual(['b']);
    expect(chooseEvictions([b('new', 50)], 'new', 1, 10)).toEqual([]);
  });
});

describe('build progress', () => {
  it('percent and ETA from steps against the previous build', () => {
    expect(progressAt(500, 1000, 60_000)).toEqual({ percent: 50, etaSec: 60 });
    expect(progressAt(5000, 1000, 60_000).percent).toBe(99);
    expect(progressAt(10, null, 1000)).toEqual({});
  });
  it('the ETA follows the current build\'s rate once it has one', () => {
    expect(progressAt(500, 1000, 60_000, 1 / 1000)).toEqual({ percent: 50, etaSec: 500 });
    // 1000 expected steps: 400 in the first 40 s (ccache hits), then one step every 2 s.
    let t = 0;
    const seen: { percent?: number; etaSec?: number }[] = [];
    const tr = progressTracker(1000, (p) => seen.push({ percent: p.percent, etaSec: p.etaSec }), () => t);
    for (let i = 0; i < 400; i++) { t += 100; tr.line('  CC      a.o'); }
    const early = seen.at(-1)!;
    expect(early.etaSec).toBe(60);                   // 600 left at 10 steps/s
    for (let i = 0; i < 100; i++) { t += 2000; tr.line('  CC      b.o'); }
    const late = seen.at(-1)!;
    // 500 left at the last 120 s's pace (0.5 steps/s): ~1000 s. The average since the start would say 240 s.
    expect(late.etaSec).toBe(1000);
    expect(progressAt(500, 1000, 240_000).etaSec).toBe(240);
  });
  it('counts make steps only', () => {
    let t = 0;
    const seen: number[] = [];
    const tr = progressTracker(4, (p) => seen.push(p.percent!), () => (t += 1000));
    for (const l of ['  CC      kernel/sched/core.o', 'make[2]: Entering directory', '  LD [M]  lib/test_lockup.ko', '  AR      kernel/built-in.a', 'warning: foo']) tr.line(l);
    expect(tr.count()).toBe(3);
    expect(seen.at(-1)).toBe(75);
  });
  it('picks the first compiler errors of a log', () => {
    const log = 'CC a.o\nkernel/sched/core.c:12:3: error: expected ; before }\nmake[3]: *** [scripts/Makefile.build:229: kernel/sched/core.o] Error 1\n';
    expect(firstCompilerErrors(log)).toEqual(['kernel/sched/core.c:12:3: error: expected ; before }', 'make[3]: *** [scripts/Makefile.build:229: kernel/sched/core.o] Error 1']);
  });
});

describe('builds in use are not evicted', () => {
  it('a build with a live user stays; a dead user pins nothing', async () => {
    const { mkdtemp, mkdir, writeFile } = await import('node:fs/promises');
    const { tmpdir } = await import('node:os');
    const { join } = await import('node:path');
    const { evict, holdBuild, buildInUse, writeMeta } = await import('../../src/build/cache.ts');
    const cache = await mkdtemp(join(tmpdir(), 'krepro-evict-'));
    const dirs: string[] = [];
    for (const k of ['aaa', 'bbb', 'ccc']) {
      const d = join(cache, 'builds', k);
      await mkdir(d, { recursive: true });
      await writeMeta(d, { key: k } as never);
      dirs.push(d);
      await new Promise((r) => setTimeout(r, 20)); // distinct mtimes: ccc newest
    }
    const release = await holdBuild(dirs[0]);            // the oldest, in use by this process
    await mkdir(join(dirs[1], '.krepro-users'), { recursive: true });
    await writeFile(join(dirs[1], '.krepro-users', '999999999'), ''); // a dead pid
    expect(await buildInUse(dirs[0])).toBe(true);
    expect(await buildInUse(dirs[1])).toBe(false);
    const gone = await evict(cache, dirs[2], { KREPRO_MAX_BUILDS: '1' });
    expect(gone).toEqual([dirs[1]]);
    await release();
    expect(await buildInUse(dirs[0])).toBe(false);
    expect(await evict(cache, dirs[2], { KREPRO_MAX_BUILDS: '1' })).toEqual([dirs[0]]);
  });
});
