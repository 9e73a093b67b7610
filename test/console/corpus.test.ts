import { describe, it, expect } from 'vitest';
import { classify } from '../../src/console/classify.ts';
import { loadCorpus, type CorpusCase } from './corpus.ts';

/**
 * Every log of the syzkaller report corpus (read by path, never copied):
 * each crash-bearing log must yield a report, each crash-free log none, and
 * the exact-title rate (overall and per TYPE) must stay above the floors.
 */
const cases = loadCorpus();

// Floors: raise them as the classifier improves; never lower them to pass.
const FLOOR_EXACT = 0.998;
const FLOOR_BY_TYPE: Record<string, number> = { HANG: 1, WARNING: 1 };
// Agreement of the other fields on logs whose title is exact.
const FLOOR_FIELDS = { altTitles: 0.99, type: 1, corrupted: 0.99, frame: 1 };

interface Outcome {
  c: CorpusCase;
  got: string;
  exact: boolean;
  alt: boolean;
  type: boolean;
  corrupted: boolean;
  frame: boolean;
}

const outcomes: Outcome[] = [];

function sortJoin(xs: string[]): string {
  return [...xs].sort().join('\n');
}

describe('syzkaller report corpus', () => {
  it('has the corpus', () => {
    expect(cases.length).toBeGreaterThanOrEqual(500);
  });

  it.each(cases.map((c) => [c.name, c] as const))('%s', (_name, c) => {
    const reports = classify(c.log);
    const r = reports[0];
    if (c.title === '') {
      // Logs that expect no crash: nothing reported.
      expect(reports.map((x) => x.title)).toEqual([]);
    } else {
      // Crash-bearing logs: always detected, with a usable title.
      expect(r, 'crash not detected').toBeDefined();
      expect(r!.title.length).toBeGreaterThan(0);
      expect(r!.startLine).toBeLessThan(r!.endLine);
    }
    const got = r?.title ?? '';
    const exact = got === c.title;
    outcomes.push({
      c,
      got,
      exact,
      alt: exact && (!r || sortJoin(r.altTitles) === sortJoin(c.alt)),
      type: exact && (!r || r.type === c.type),
      corrupted: exact && (!r || r.corrupted === c.corrupted),
      frame: exact && (!r || !c.frame || r.frame === c.frame),
    });
  });

  it('exact titles above the floors', () => {
    expect(outcomes.length).toBe(cases.length);
    const byType = new Map<string, { ok: number; n: number }>();
    for (const o of outcomes) {
      const k = o.c.title ? o.c.type : '(no crash)';
      const e = byType.get(k) ?? { ok: 0, n: 0 };
      e.n++;
      if (o.exact) e.ok++;
      byType.set(k, e);
    }
    const exact = outcomes.filter((o) => o.exact).length;
    const pct = (a: number, b: number) => `${((100 * a) / b).toFixed(1)}%`;
    const lines = [`exact titles: ${exact}/${outcomes.length} = ${pct(exact, outcomes.length)}`];
    for (const [k, e] of [...byType].sort((a, b) => b[1].n - a[1].n)) lines.push(`  ${k.padEnd(36)} ${String(e.ok).padStart(3)}/${String(e.n).padEnd(3)} ${pct(e.ok, e.n)}`);
    const withTitle = outcomes.filter((o) => o.exact && o.c.title);
    for (const f of ['alt', 'type', 'corrupted', 'frame'] as const) {
      lines.push(`  field ${f}: ${withTitle.filter((o) => o[f]).length}/${withTitle.length} of exact titles agree`);
    }
    for (const o of outcomes.filter((x) => !x.exact)) lines.push(`  MISS ${o.c.name} [${o.c.type}] want "${o.c.title}" got "${o.got}"`);
    console.log(lines.join('\n'));

    expect(exact / outcomes.length).toBeGreaterThanOrEqual(FLOOR_EXACT);
    for (const [t, floor] of Object.entries(FLOOR_BY_TYPE)) {
      const e = byType.get(t)!;
      expect(e.ok / e.n, `exact rate for ${t}`).toBeGreaterThanOrEqual(floor);
    }
    expect(withTitle.filter((o) => o.alt).length / withTitle.length).toBeGreaterThanOrEqual(FLOOR_FIELDS.altTitles);
    expect(withTitle.filter((o) => o.type).length / withTitle.length).toBeGreaterThanOrEqual(FLOOR_FIELDS.type);
    expect(withTitle.filter((o) => o.corrupted).length / withTitle.length).toBeGreaterThanOrEqual(FLOOR_FIELDS.corrupted);
    expect(withTitle.filter((o) => o.frame).length / withTitle.length).toBeGreaterThanOrEqual(FLOOR_FIELDS.frame);
  });
});
