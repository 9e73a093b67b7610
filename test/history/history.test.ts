import { describe, it, expect } from 'vitest';
import { mkdtemp, appendFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { appendHistory, loopHistory, readHistory, type LoopEntry } from '../../src/history/index.ts';
import { formatHistory } from '../../src/history/format.ts';
import { fisherExact, wilson } from '../../src/loop/stats.ts';

function loop(id: string, at: string, commit: string, reproduced: number, valid: number, extra: Partial<LoopEntry> = {}): LoopEntry {
  return {
    schema: 'krepro.history/1', kind: 'loop', id, dir: `/r/${id}`, at, finishedAt: at, status: 'done',
    configKey: 'cfgA', commit, tree: '/src/linux', kernel: null, kernelRelease: '6.12.117', shard: null, mergedFrom: [],
    runs: valid, valid, reproduced, rate: valid ? reproduced / valid : null, ci: wilson(reproduced, valid), medianSec: reproduced ? 20 : null,
    ...extra,
  };
}

describe('history', () => {
  it('flags a significant rate change between consecutive loops of one configuration only', async () => {
    const file = join(await mkdtemp(join(tmpdir(), 'krepro-hist-')), 'history.jsonl');
    await appendHistory(file, [
      loop('l1', '2026-11-01T02:00:00Z', 'aaaa', 0, 20),
      loop('l2', '2026-11-02T02:00:00Z', 'bbbb', 1, 20),       // 0/20 -> 1/20: noise
      loop('l3', '2026-11-03T02:00:00Z', 'cccc', 12, 20),      // 1/20 -> 12/20: a regression
      loop('o1', '2026-11-03T03:00:00Z', 'cccc', 0, 20, { configKey: 'cfgB' }),
      loop('s1', '2026-11-04T02:00:00Z', 'dddd', 0, 5, { shard: { index: 0, count: 4 } }),   // partial: not compared
      loop('l4', '2026-11-05T02:00:00Z', 'eeee', 10, 20),
    ]);
    await appendFile(file, '{"torn line\n');
    const { entries, skipped } = await readHistory(file);
    expect(skipped).toBe(1);
    const groups = loopHistory(entries);
    expect(groups.map((g) => g.configKey)).toEqual(['cfgA', 'cfgB']);
    const a = groups[0].loops;
    expect(a.map((r) => r.id)).toEqual(['l1', 'l2', 'l3', 's1', 'l4']);
    expect(a[0].change).toBeNull();
    expect(a[1].change!.significant).toBe(false);
    expect(a[2].change).toMatchObject({ vs: 'l2', significant: true, direction: 'up' });
    expect(a[2].change!.p).toBeCloseTo(fisherExact(1, 19, 12, 8), 12);
    expect(a[3].partial).toBe(true);
    expect(a[3].change).toBeNull();
    expect(a[4].change).toMatchObject({ vs: 'l3', significant: false });
    expect(groups[1].loops[0].change).toBeNull();      // other configuration: nothing to compare

    const text = formatHistory(groups);
    expect(text.split('\n').filter((l) => l.length > 80)).toEqual([]);
    expect(text).toMatch(/^l3 +cccc .* UP$/m);            // every row names its loop
    expect(text).toMatch(/^s1 +dddd .* part 1\/4$/m);
    expect(text).toMatch(/^l1 +aaaa /m);
    expect(text).toMatch(/! l3: rate up vs l2 \(Fisher p=/);
    // A long flag line wraps between words, never cut mid-word.
    const long = formatHistory(loopHistory([
      loop('loop-20261101-020000-aaaa-with-a-very-long-name-for-wrapping', '2026-11-01T02:00:00Z', 'aaaa', 0, 20),
      loop('loop-20261102-020000-bbbb-with-a-very-long-name-for-wrapping', '2026-11-02T02:00:00Z', 'bbbb', 15, 20),
    ]));
    const bang = long.split('\n').filter((l) => /^  ! |^      /.test(l));
    expect(bang.length).toBeGreaterThan(1);
    expect(bang.join(' ').replace(/\s+/g, ' ')).toContain('rate up vs loop-20261101-020000-aaaa-with-a-very-long-name-for-wrapping (Fisher p=');
  });

  it('a merged loop stands for its shards', () => {
    const groups = loopHistory([
      loop('s1', '2026-11-01T02:00:00Z', 'aaaa', 1, 5, { shard: { index: 0, count: 2 } }),
      loop('s2', '2026-11-01T02:00:01Z', 'aaaa', 2, 5, { shard: { index: 1, count: 2 } }),
      loop('m', '2026-11-01T02:00:00Z', 'aaaa', 3, 10, { mergedFrom: ['s1', 's2'] }),
    ]);
    expect(groups[0].loops.map((l) => l.id)).toEqual(['m']);
  });

  it('an empty index says what to do', async () => {
    const { entries } = await readHistory('/nonexistent/history.jsonl');
    expect(formatHistory(loopHistory(entries))).toMatch(/krepro loop/);
  });
});
