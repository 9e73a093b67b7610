import { describe, expect, it } from 'vitest';
import { evidenceOf, evidenceTitle, foundKinds, parseEvidenceKinds, showsEvidence, signatureWithEvidence } from '../../src/verdict/evidence.ts';
import { withEvidence } from '../../src/bisect/real-env.ts';
import { loopStats } from '../../src/loop/summary.ts';
import { parseWorkloadSpec, workloadSpecText, workloadArgv, guestCmdline } from '../../src/image/guest-cmdline.ts';
import type { TraceSummary } from '../../src/trace/analyze.ts';
import type { RunSummary } from '../../src/loop/types.ts';

const exercise = { mms: 3, sharedMms: 2, maxUsers: 9, crossUp: 5, crossDown: 4, crossUpWithVfork: 2, crossDownWithVfork: 1, vforkChildren: 7, fixupWalks: 5, walksWithVfork: 2, walksMissed: 1, span: 60 };
const summary = (kinds: string[]): TraceSummary => ({
  design: '6.19', cpus: 4, accel: 'tcg', mmcidEvents: 100, replayFrom: null, truncated: true, exercise, excused: {},
  anomalies: kinds.map((kind, i) => ({ kind: kind as 'cid-leak', mm: 'm', time: i, message: '' })),
});

describe('bug evidence', () => {
  it('counts findings by kind and the trigger totals', () => {
    const e = evidenceOf(summary(['fixup-missed-task', 'fixup-missed-task', 'cid-leak']));
    expect(e).toEqual({ traced: true, truncated: true, kinds: { 'fixup-missed-task': 2, 'cid-leak': 1 }, triggers: { crossUp: 5, crossUpWithVfork: 2, fixupWalks: 5, walksWithVfork: 2, walksMissed: 1, traceSeconds: 60 } });
    expect(showsEvidence(foundKinds(e), ['fixup-missed-task'])).toBe(true);
    expect(showsEvidence(foundKinds(e), ['cid-exhausted'])).toBe(false);
  });
  it('a run without a trace says nothing either way', () => {
    const e = evidenceOf(null);
    expect(e.traced).toBe(false);
    expect(showsEvidence(foundKinds(e), ['fixup-missed-task'])).toBeNull();
  });
  it('rejects unknown kinds', () => {
    expect(parseEvidenceKinds(['fixup-missed-task,cid-leak'])).toEqual(['fixup-missed-task', 'cid-leak']);
    expect(() => parseEvidenceKinds('missed')).toThrow(/unknown evidence kind "missed"/);
  });
  it('a signature with evidence accepts the evidence title and still the stall titles', () => {
    const re = new RegExp(signatureWithEvidence('soft lockup|rcu.*stall', ['fixup-missed-task'])!);
    expect(re.test(evidenceTitle('fixup-missed-task'))).toBe(true);
    expect(re.test('BUG: soft lockup in mm_get_cid')).toBe(true);
    expect(re.test(evidenceTitle('cid-leak'))).toBe(false);
    expect(signatureWithEvidence(null, ['fixup-missed-task'])).toBeNull();
    expect(signatureWithEvidence('x', [])).toBe('x');
  });
});

describe('evidence as a bisection signal', () => {
  const clean = { kind: 'run' as const, crashed: false, title: null, type: null, unrelated: [] };
  it('a clean run with the evidence is a bad run carrying the evidence title', () => {
    expect(withEvidence(clean, ['fixup-missed-task'], ['fixup-missed-task'])).toMatchObject({ crashed: true, title: 'mmcid evidence: fixup-missed-task' });
  });
  it('a stall keeps its title; the evidence joins the unrelated list where a signature sees it', () => {
    const out = withEvidence({ ...clean, crashed: true, title: 'BUG: soft lockup in mm_get_cid', type: 'HANG' }, ['fixup-missed-task'], ['fixup-missed-task']);
    expect(out).toMatchObject({ title: 'BUG: soft lockup in mm_get_cid', unrelated: [{ title: 'mmcid evidence: fixup-missed-task' }] });
  });
  it('without --evidence, or without the kind, nothing changes', () => {
    expect(withEvidence(clean, ['fixup-missed-task'], [])).toBe(clean);
    expect(withEvidence(clean, ['cid-leak'], ['fixup-missed-task'])).toBe(clean);
    expect(withEvidence(clean, null, ['fixup-missed-task'])).toBe(clean);
  });
});

describe('loop statistics of evidence', () => {
  const run = (i: number, verdict: RunSummary['verdict'], evidence: string[] | null, t?: number): RunSummary => ({
    index: i, dir: `runs/${i}`, verdict, title: verdict === 'reproduced' ? 'BUG: soft lockup in mm_get_cid' : null, type: null, unrelated: [],
    timeSec: 30, commit: null, startedAt: '', evidence, triggers: evidence ? { crossUp: 4, crossUpWithVfork: 2, fixupWalks: 4, walksWithVfork: 2, walksMissed: evidence.length ? 1 : 0, traceSeconds: 30 } : null,
    stallAfterSec: t,
  });
  it('rates evidence separately from stalls, over traced valid runs', () => {
    const s = loopStats([
      run(0, 'reproduced', ['fixup-missed-task'], 6), run(1, 'reproduced', [], 10), run(2, 'not-reproduced', ['fixup-missed-task']),
      run(3, 'not-reproduced', null), run(4, 'infra-error', ['fixup-missed-task']),
    ]);
    expect(s.rate).toBe(2 / 4);
    expect(s.evidence).toMatchObject({ kinds: ['fixup-missed-task'], traced: 3, withEvidence: 2, rate: 2 / 3 });
    expect(s.evidence.ci[0]).toBeGreaterThan(0);
    expect(s.triggers.runs).toBe(3);
    expect(s.triggers.mean.walksMissed).toBeCloseTo(2 / 3, 9);
    // 3 traced runs of 30 s of trace: 2 missed walks in 90 s = 1.33 per minute, 12 walks = 8 per minute
    expect(s.triggers.perMinute.walksMissed).toBeCloseTo(2 / 1.5, 9);
    expect(s.triggers.perMinute.fixupWalks).toBeCloseTo(8, 9);
    expect(s.stallAfter).toEqual({ median: 8, values: [6, 10] });
  });
});

describe('workload spec', () => {
  it('parses the cells mode and prints it canonically for the guest', () => {
    const s = parseWorkloadSpec('mode=cells, cell-threads=6,linger-us=2000');
    expect(s).toEqual({ mode: 'cells', cellThreads: 6, lingerUs: 2000 });
    expect(workloadSpecText(s)).toBe('mode=cells,cell-threads=6,linger-us=2000');
    // what guest/init makes of krepro.workload=, and what the vng guest script passes
    expect(workloadArgv(s)).toEqual(['--mode', 'cells', '--cell-threads', '6', '--linger-us', '2000']);
    expect(guestCmdline({ workload: s })).toEqual(['krepro.workload=mode=cells,cell-threads=6,linger-us=2000']);
    expect(guestCmdline({ workload: { mode: 'wave' } })).toEqual([]);
  });
  it('says what is wrong with bad input', () => {
    expect(() => parseWorkloadSpec('mode=burst')).toThrow(/mode is wave or cells/);
    expect(() => parseWorkloadSpec('mode=cells,cells=0')).toThrow(/cells must be an integer 1\.\.1024, got "0"/);
    expect(() => parseWorkloadSpec('mode=cells,forks=3')).toThrow(/unknown key forks/);
    expect(() => parseWorkloadSpec('cells=3')).toThrow(/need mode=cells/);
    expect(() => parseWorkloadSpec('cells')).toThrow(/key=value/);
  });
});
