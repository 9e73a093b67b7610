import { fmtP } from './policy.ts';
import { runMatches } from './signature.ts';
import { Bisection, short, type Posterior } from './context.ts';
import { rateOf, termFor } from './search.ts';
import type { BisectState, ClassInfo, Mark, Topology } from './types.ts';
import { KreproError } from '../util/errors.ts';

/**
 * Phase 4: the search named a commit; its posterior is the confidence.
 * Below the target, run again the clean-called commit most likely to carry
 * the bug after all (already built: runs only). A matching crash there
 * revises the marks and goes back to the search. Returns true when the
 * search must restart.
 */
export async function verifyStep(b: Bisection): Promise<boolean> {
  const s = b.s;
  const answer = s.answer!.commit!;
  const p = await b.posterior();
  const conf = confidenceOf(p, answer);
  s.answer = { kind: 'found', commit: answer, confidence: conf, candidates: topCandidates(p.classes, p.post, 5), rate: rateOf(p.counts, s.ratePrior) };
  const pick = pickClean(b, p);
  if (conf >= s.confidence && !(pick && (await worthAnotherRun(b, p, pick, answer, conf)))) {
    s.phase = 'done';
    await b.save();
    return false;
  }
  if (!pick) {
    s.phase = 'done';
    b.log(`run cap reached; answer stands with confidence ${fmtP(conf)}`);
    await b.save();
    return false;
  }
  const rec = s.commits[pick];
  const before = rec.runs.length;
  // One round: as many runs as there are jobs, fewer when that would reach the target.
  const planned = b.pool.jobs === 1 ? 1 : await Bisection.leastRuns(b.pool.jobs, async (n) => confidenceOf(await b.posterior(undefined, { commit: pick, clean: n }), answer) >= s.confidence);
  const r = await b.batch(rec, {
    done: () => b.counts(rec).matching > 0 || rec.runs.length - before >= planned,
    needed: () => planned - (rec.runs.length - before),
    decisive: (e) => runMatches(e, s.signature, b.evidence),
  });
  if (!r.ok) {
    // A commit that built before does not build now: treat as infra.
    throw new KreproError('infra', `commit ${short(pick)} could not be re-tested (${r.reason}); continue with --resume`);
  }
  rec.verifyRuns = (rec.verifyRuns ?? 0) + rec.runs.slice(before).filter((x) => !x.late).length;
  if (b.counts(rec).matching === 0) {
    await b.save();
    return false;
  }
  if (pick === s.good) {
    await b.save();
    throw new KreproError('usage', `the good endpoint ${short(s.good)} reproduced on run ${rec.runs.length}: pick an ${s.fixed ? 'newer' : 'older'} --good`);
  }
  // A commit called clean carries the bug after all: revise and search again.
  b.log(`${short(pick)} crashed on verification run ${rec.runs.length}: revising`);
  rec.decision = 'buggy';
  rec.reason = `matching crash on verification run ${rec.runs.length}`;
  s.revisions++;
  await reviseMarks(s, b.ctx.topology, pick);
  s.answer = null;
  s.phase = 'search';
  await b.save();
  return true;
}

/**
 * Past the target, runs go on while the floor (a thirtieth of the allowed
 * error) is within reach of ten more: while the error one run leaves,
 * repeated ten times, would be down to the floor (after/err)^10 <= floor/err.
 * Ten runs on one commit is what syzkaller spends as a matter of course;
 * where each run says much (frequent bugs: p=0.5 removes ~30% of the
 * remaining error a run, after the posterior's caution about p) that buys
 * an answer as sure as syzkaller's, where it says little (p <= 0.3, where
 * a run removes 15% or less) the bisection stops at the target. The ratio
 * is the posterior's own: the error with one more clean run on the most
 * suspect commit over the error now.
 */
export const RUNS_PAST_TARGET = 10;

async function worthAnotherRun(b: Bisection, p: Posterior, pick: string, answer: string, conf: number): Promise<boolean> {
  const err = 1 - conf;
  const floor = (1 - b.s.confidence) / 30;
  if (err <= floor) return false;
  const after = 1 - confidenceOf(await b.posterior(undefined, { commit: pick, clean: 1 }), answer);
  return Math.pow(after / err, RUNS_PAST_TARGET) <= floor / err;
}

function confidenceOf(p: Posterior, answer: string): number {
  const j = p.classes.findIndex((cl) => cl.has(answer));
  return j < 0 ? 0 : p.post[j];
}

/** The clean-called commit under its run cap most likely to carry the bug. */
function pickClean(b: Bisection, p: Posterior): string | null {
  let pick: string | null = null;
  let best = 0;
  for (const c of p.tested) {
    const rec = b.s.commits[c];
    if (rec.decision !== 'clean' || rec.runs.filter((r) => !r.late).length >= b.s.maxRuns) continue;
    const pb = p.pBuggy(c);
    if (pb > best) {
      best = pb;
      pick = c;
    }
  }
  return pick;
}

/** Replace the mark of a commit found buggy, and fix marks it contradicts. */
async function reviseMarks(s: BisectState, topo: Topology, buggy: string): Promise<void> {
  const buggyTerm = termFor(s.fixed, true);
  const cleanTerm = termFor(s.fixed, false);
  const out: Mark[] = [];
  for (const m of s.marks) {
    if (m.commit === buggy) {
      out.push({ commit: buggy, term: buggyTerm });
      continue;
    }
    if (m.term === cleanTerm) {
      // cause: a descendant of a buggy commit is buggy; fix: an ancestor is.
      const implied = s.fixed ? await topo.contains(buggy, m.commit) : await topo.contains(m.commit, buggy);
      if (implied) {
        s.commits[m.commit].decision = 'buggy';
        s.commits[m.commit].reason = `implied by ${short(buggy)}`;
        out.push({ commit: m.commit, term: buggyTerm });
        continue;
      }
    }
    out.push(m);
  }
  if (!out.some((m) => m.commit === buggy)) out.push({ commit: buggy, term: buggyTerm });
  s.marks = out;
}

function topCandidates(classes: ClassInfo[], post: number[], n: number): { commit: string; p: number }[] {
  const out: { commit: string; p: number }[] = [];
  classes.forEach((cl, j) => {
    if (post[j] <= 0) return;
    const members = cl.members(3);
    const size = Math.max(1, cl.prior);
    if (members.length === 0) out.push({ commit: '(outside the range)', p: post[j] });
    for (const m of members) out.push({ commit: m, p: post[j] / size });
  });
  return out.sort((a, c) => c.p - a.p).slice(0, n);
}
