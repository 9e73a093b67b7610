import { decideStep, rateEstimate, rateEvidence, type Counts } from './policy.ts';
import { runMatches } from './signature.ts';
import { Bisection, short } from './context.ts';
import type { Mark, Next } from './types.ts';

/** Mode mapping: which git term a buggy / clean commit gets. */
export function termFor(fixed: boolean, buggy: boolean): 'old' | 'new' {
  // cause: old = good (clean), new = bad (buggy); fix: old = broken (buggy), new = fixed (clean)
  return buggy !== fixed ? 'new' : 'old';
}

/**
 * Phase 3, one step: git bisect (or its emulation) named a commit to test,
 * or ended. A tested commit runs until decideStep says buggy, clean or
 * skip; its mark goes to the search. An end with a named commit moves to
 * verification; an end among skipped commits is the ambiguous answer.
 * Returns what the search says next, or null when the phase changed.
 */
export async function searchStep(b: Bisection, n: Next): Promise<Next | null> {
  const s = b.s;
  if (n.kind === 'test') {
    const rec = b.record(n.commit, 'step');
    const decide = async () => {
      const p = await b.posterior(rec.commit);
      const pb = p.pBuggy(rec.commit);
      return { ...decideStep({ ...b.counts(rec), pBuggy: pb, epsilon: s.stepEpsilon, maxRuns: s.maxRuns }), pb };
    };
    let d = await decide();
    let skipReason: string | null = null;
    while (d.decision === 'continue') {
      const r = await b.batch(rec, {
        done: async () => (d = await decide()).decision !== 'continue',
        needed: () => cleanRunsToEpsilon(b, rec.commit),
        decisive: (e) => runMatches(e, s.signature, b.evidence),
      });
      if (!r.ok) {
        skipReason = r.reason;
        break;
      }
      d = await decide();
    }
    const decided = skipReason !== null ? 'skip' : (d.decision as 'buggy' | 'clean' | 'skip');
    rec.reason = skipReason ?? d.reason;
    rec.pBuggy = d.pb;
    rec.decision = decided;
    const m: Mark = { commit: rec.commit, term: decided === 'skip' ? 'skip' : termFor(s.fixed, decided === 'buggy') };
    s.marks.push(m);
    b.log(`${short(rec.commit)}: ${decided} (${rec.reason})`);
    await b.save();
    return b.ctx.session.mark(m);
  }
  if (n.kind === 'ambiguous') {
    const p = await b.posterior();
    const cands = n.candidates.map((commit) => {
      const j = p.classes.findIndex((cl) => cl.has(commit));
      const size = j < 0 ? 1 : Math.max(1, p.classes[j].prior);
      return { commit, p: j < 0 ? 0 : p.post[j] / size };
    });
    cands.sort((x, y) => y.p - x.p);
    s.answer = { kind: 'ambiguous', commit: cands[0]?.commit ?? null, confidence: cands[0]?.p ?? 0, candidates: cands, rate: rateOf(p.counts, s.ratePrior) };
    s.phase = 'done';
    await b.save();
    return null;
  }
  // git named a first bad (first fixed) commit: verify it.
  s.answer = { kind: 'found', commit: n.first, confidence: 0, candidates: [], rate: 0 };
  s.phase = 'verify';
  await b.save();
  return null;
}

/** The fewest more clean runs that would bring this commit's P(bug) to the step epsilon. */
export function cleanRunsToEpsilon(b: Bisection, commit: string): Promise<number> {
  const s = b.s;
  const left = Math.max(1, s.maxRuns - b.counts(s.commits[commit]).clean);
  return Bisection.leastRuns(left, async (n) => (await b.posterior(commit, { commit, clean: n })).pBuggy(commit) <= s.stepEpsilon);
}

export function rateOf(counts: Counts[], prior: { alpha: number; beta: number }): number {
  const r = rateEvidence(counts);
  return rateEstimate(r.crashes, r.cleanOnBuggy, prior);
}
