import { describe, it, expect } from 'vitest';
import { mkdtemp, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runLoop, type LoopProgress } from '../../src/loop/loop.ts';
import { parseDuration, formatDuration } from '../../src/loop/duration.ts';
import type { RunOptions } from '../../src/run/options.ts';
import type { BuildResult } from '../../src/build/types.ts';
import { corpusRunner, CORPUS_LOGS } from './corpus-run.ts';

const tmp = () => mkdtemp(join(tmpdir(), 'krepro-loop-'));

describe('runLoop', () => {
  it('builds once, gives every run its own dir and the prebuilt kernel, and keeps loop.json current', async () => {
    const dir = await tmp();
    const replay = corpusRunner();
    const seen: Partial<RunOptions>[] = [];
    let builds = 0;
    const snapshots: number[] = [];
    const fakeBuild = { key: 'k1', commit: 'c0ffee', tree: '/src/linux', kernelRelease: '6.12.117', patches: [] } as unknown as BuildResult;
    const { record } = await runLoop(
      { run: { cpus: 4 }, build: { profile: 'default' }, count: 6, dir, resultsDir: dir,
        onProgress: async () => { snapshots.push(JSON.parse(await readFile(join(dir, 'loop.json'), 'utf8')).runs.length); } },
      { build: async () => { builds++; return fakeBuild; }, run: async (o) => { seen.push(o); return replay(o); }, now: Date.now },
    );
    expect(builds).toBe(1);
    expect(seen.every((o) => o.prebuilt === fakeBuild)).toBe(true);
    expect(new Set(seen.map((o) => o.runDir)).size).toBe(6);
    expect(seen.every((o) => o.runDir!.startsWith(join(dir, 'runs')))).toBe(true);
    expect(record.status).toBe('done');
    expect(record.config.commit).toBe('c0ffee');
    expect(snapshots).toEqual([1, 2, 3, 4, 5, 6]);
    const onDisk = JSON.parse(await readFile(join(dir, 'loop.json'), 'utf8'));
    expect(onDisk.stats.runs).toBe(6);
  });

  it('--stop-on-first stops at the first reproduction', async () => {
    const dir = await tmp();
    // stress-trace.log has no stall; softlockup.log does.
    const { record } = await runLoop(
      { run: { kernel: '/x/bzImage' }, count: 10, stopOnFirst: true, dir, resultsDir: dir },
      { build: async () => { throw new Error('unused'); }, run: corpusRunner(['stress-trace.log', 'stress-trace.log', 'softlockup.log']), now: Date.now },
    );
    expect(record.runs.map((r) => r.verdict)).toEqual(['not-reproduced', 'not-reproduced', 'reproduced']);
    expect(record.status).toBe('stopped-on-first');
  });

  it('--jobs 3: three runs at once in their own dirs, results taken as they finish, --stop-on-first cancels the rest', async () => {
    const dir = await tmp();
    const replay = corpusRunner(['stress-trace.log', 'softlockup.log', 'stress-trace.log', 'stress-trace.log', 'stress-trace.log']);
    let active = 0;
    let peak = 0;
    let n = 0;
    const aborted: string[] = [];
    const { record } = await runLoop(
      { run: { kernel: '/x/bzImage' }, count: 10, stopOnFirst: true, jobs: 3, dir, resultsDir: dir },
      {
        build: async () => { throw new Error('unused'); },
        run: async (o) => {
          const me = n++;
          active++;
          peak = Math.max(peak, active);
          // run 1 reproduces soon; runs 0 and 2 take long and are cancelled by the signal
          const ok = await new Promise<boolean>((res) => {
            const t = setTimeout(() => res(true), me === 1 ? 5 : 300);
            o.signal?.addEventListener('abort', () => { clearTimeout(t); aborted.push(o.runDir!); res(false); });
          });
          active--;
          const rec = await replay(o);
          return ok ? rec : { ...rec, verdict: 'interrupted' };
        },
        now: Date.now,
      },
    );
    expect(peak).toBe(3);
    expect(record.status).toBe('stopped-on-first');
    expect(record.runs.map((r) => r.verdict)).toEqual(['reproduced']);
    expect(aborted).toHaveLength(2);
    expect(new Set([record.runs[0].dir, ...aborted.map((d) => d.slice(dir.length + 1))]).size).toBe(3);
  });

  it('--jobs 2 without a stop: every run counted once, loop.json in finish order', async () => {
    const dir = await tmp();
    const replay = corpusRunner();
    let active = 0;
    let peak = 0;
    let n = 0;
    const { record } = await runLoop(
      { run: { kernel: '/x/bzImage' }, count: 5, jobs: 2, dir, resultsDir: dir },
      {
        build: async () => { throw new Error('unused'); },
        run: async (o) => {
          const me = n++;
          active++;
          peak = Math.max(peak, active);
          await new Promise((res) => setTimeout(res, me % 2 ? 5 : 40));
          active--;
          return replay(o);
        },
        now: Date.now,
      },
    );
    expect(peak).toBe(2);
    expect(record.status).toBe('done');
    expect(record.runs.map((r) => r.index).sort()).toEqual([0, 1, 2, 3, 4]);
    expect(record.runs.map((r) => r.index)).not.toEqual([0, 1, 2, 3, 4]); // run 1 finished before run 0
  });

  it('--until stops at the deadline and reports an ETA', async () => {
    const dir = await tmp();
    let clock = 1_000_000;
    const progress: LoopProgress[] = [];
    const replay = corpusRunner();
    const { record } = await runLoop(
      { run: { kernel: '/x/bzImage' }, untilSec: 100, dir, resultsDir: dir, onProgress: (p) => progress.push(p) },
      { build: async () => { throw new Error('unused'); }, run: async (o) => { clock += 30_000; return replay(o); }, now: () => clock },
    );
    expect(record.runs).toHaveLength(4);       // 30, 60, 90, 120 s: the 4th starts before the deadline
    expect(progress.map((p) => p.etaSec)).toEqual([70, 40, 10, 0]);
    expect(progress[0].planned).toBeNull();
  });

  it('a thrown run is an infra error; three in a row stop the loop', async () => {
    const dir = await tmp();
    const { record } = await runLoop(
      { run: { kernel: '/x/bzImage' }, count: 10, dir, resultsDir: dir },
      { build: async () => { throw new Error('unused'); }, run: async () => { throw new Error('qemu-system-x86_64: cannot allocate memory'); }, now: Date.now },
    );
    expect(record.runs).toHaveLength(3);
    expect(record.status).toBe('infra-error');
    expect(record.stats.infraErrors).toEqual({ count: 3, messages: [{ message: 'qemu-system-x86_64: cannot allocate memory', count: 3 }] });
    expect(record.stats.valid).toBe(0);
    expect(record.stats.rate).toBeNull();
  });

  it('stats count real corpus reproductions', async () => {
    const dir = await tmp();
    const { record } = await runLoop(
      { run: { kernel: '/x/bzImage' }, count: CORPUS_LOGS.length, dir, resultsDir: dir },
      { build: async () => { throw new Error('unused'); }, run: corpusRunner(), now: Date.now },
    );
    // softlockup, rcustall, injected stall, hungtask print a stall; stress-trace and the silent hang do not
    expect(record.stats.reproduced).toBe(4);
    const titles = record.runs.filter((r) => r.verdict === 'reproduced').map((r) => r.title);
    expect(titles.every((t) => /soft lockup|rcu detected stall|task hung/.test(t!))).toBe(true);
    expect(record.stats.titles.reduce((n, t) => n + t.count, 0)).toBe(4);
    expect(record.stats.titles.map((t) => t.title).sort()).toEqual([...new Set(titles)].sort());
    expect(record.stats.ttf.events).toBe(4);
    expect(record.stats.ttf.censored).toBe(2);
  });

  it('asks for --count or --until', async () => {
    await expect(runLoop({ run: {}, resultsDir: '/tmp' }, { build: async () => { throw new Error(); }, run: async () => { throw new Error(); }, now: Date.now })).rejects.toThrow(/--count N or --until/);
  });
});

describe('durations', () => {
  it.each([['90', 90], ['90s', 90], ['15m', 900], ['8h', 28800], ['1h30m', 5400], ['2d', 172800]])('%s = %i s', (s, n) => {
    expect(parseDuration(s)).toBe(n);
  });
  it('rejects junk', () => {
    for (const s of ['', 'abc', '5x', '1h 2']) expect(() => parseDuration(s)).toThrow(/duration/);
  });
  it('formats', () => {
    expect(formatDuration(3725)).toBe('1h02m');
    expect(formatDuration(250)).toBe('4m10s');
    expect(formatDuration(12)).toBe('12s');
  });
});
