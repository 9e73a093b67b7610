import { describe, it, expect } from 'vitest';
import { titlesMatch, matches } from '../../src/verdict/verdict.ts';
import { countRuns } from '../../src/bisect/driver.ts';
import type { CrashReport } from '../../src/console/types.ts';

describe('one signature test for runs and bisections', () => {
  it.each<[string, string[], Parameters<typeof titlesMatch>[1], boolean]>([
    ['no signature', ['x'], null, true],
    ['regex on the title', ['INFO: silent hang in mm_get_cid'], { regex: 'mm_get_cid|soft lockup' }, true],
    ['regex on an alternative title only', ['BUG: soft lockup in smp_call_function', 'INFO: rcu detected stall in mm_get_cid'], { regex: 'stall in mm_get_cid' }, true],
    ['exact title among the alternatives', ['A', 'B'], { titles: ['B'] }, true],
    ['no title matches', ['A', 'B'], { titles: ['C'] }, false],
    ['invalid regex matches nothing', ['A'], { regex: '(' }, false],
  ])('%s', (_n, titles, sig, want) => {
    expect(titlesMatch(titles, sig)).toBe(want);
  });

  it('a run and a bisection agree on a report whose alternative title matches', () => {
    const r = { title: 'BUG: soft lockup in smp_call_function', altTitles: ['INFO: rcu detected stall in mm_get_cid'] } as CrashReport;
    expect(matches(r, 'stall in mm_get_cid', null)).toBe(true);
    const runs = [{ kind: 'crash' as const, title: r.title, type: 'HANG', altTitles: r.altTitles, unrelated: [] }];
    expect(countRuns(runs, { source: 'regex', regex: 'stall in mm_get_cid' }).matching).toBe(1);
    expect(countRuns([{ ...runs[0], altTitles: undefined }], { source: 'regex', regex: 'stall in mm_get_cid' }).matching).toBe(0);
  });
});
