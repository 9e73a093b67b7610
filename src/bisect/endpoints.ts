import { decideBadEndpoint, decideStep, fmtP, MIN_CLEAN_RUNS } from './policy.ts';
import { cleanRunsToEpsilon } from './search.ts';
import { bugRecurs, countRuns, describeSignature, learnSignature, provisionalCounts, runMatches } from './signature.ts';
import { Bisection, short } from './context.ts';
import type { Signature } from './types.ts';
import { KreproError } from '../util/errors.ts';

/**
 * Phase 1: the bad endpoint (the old one with --fixed) must reproduce.
 * Runs go on until `endpointCrashes` crashes of the bug's kind, which also
 * gives the first estimate of the rate and, without --signature/--title,
 * the signature (signature.ts: every face of the bug's report type).
 */
export async function badEndpointPhase(b: Bisection): Promise<void> {
  const s = b.s;
  const rec = b.record(s.bad, 'bad-endpoint');
  // At the run cap the signature's report type is decided with what there is (bugKinds).
  const atCap = () => rec.runs.filter((r) => !r.late).length >= s.maxRuns;
  const counts = () => provisionalCounts(rec.runs, s.signature, { evidence: b.evidence, final: atCap() });
  // A signature still to be learnt needs a title that came back (bugRecurs);
  // until then the endpoint runs on, and at the run cap one crash of the
  // bug's kind is accepted as before. Evidence titles are the bug by the
  // user's word: with them nothing has to recur.
  const want = () => (s.signature || b.evidence.length || bugRecurs(rec.runs, b.evidence) ? s.endpointCrashes : Infinity);
  const decide = () => decideBadEndpoint(counts(), want(), s.maxRuns);
  for (;;) {
    const d = decide();
    if (d === 'not-reproduced') {
      rec.decision = 'skip';
      rec.reason = `no matching crash in ${rec.runs.length} runs`;
      await b.save();
      throw new KreproError(
        'usage',
        `the bad endpoint ${short(s.bad)} did not reproduce in ${rec.runs.length} runs: check the signature, raise --max-runs or pick another --bad`,
      );
    }
    if (d === 'reproduced') break;
    const r = await b.batch(rec, {
      done: () => decide() !== 'continue',
      needed: () => Math.max(1, s.endpointCrashes - counts().matching),
    });
    if (!r.ok) throw new KreproError('usage', `cannot test the bad endpoint ${short(s.bad)}: ${r.reason}`);
  }
  if (!s.signature) {
    s.signature = learnSignature(rec.runs, b.evidence, atCap());
  }
  const c = b.counts(rec);
  rec.decision = 'buggy';
  rec.pBuggy = 1;
  rec.reason = `${c.matching} matching crashes in ${rec.runs.length} runs`;
  s.phase = 'good-endpoint';
  b.log(`bad endpoint ${short(s.bad)}: ${rec.reason}; signature ${describeSignature(s.signature)}`);
  await b.save();
}

/**
 * Phase 2: the good endpoint must not reproduce. It is decided like any
 * step (decideStep): clean once its posterior probability of carrying the
 * bug is at most the step epsilon, after 3 clean runs at the least. That
 * probability is the "outside the range" class's: a prior of one commit
 * against the range's, so 3 clean runs usually do. Its runs only matter to
 * the answer through that class, and verification runs it again when it is
 * the commit most likely to be wrong (the answer is the first commit after
 * it). It used to be held to P(bug) <= epsilon with a 50/50 prior, as if
 * the culprit were as likely before the range as in it: 8.4 runs at p=0.3
 * where 3 change nothing the posterior does not already say (measured:
 * 0.13 machine hours of 1.92 at p=0.3, same accuracy).
 *
 * A learnt-signature title it shows is background: it leaves the signature
 * as long as the bad endpoint's crashes still match.
 */
export async function goodEndpointPhase(b: Bisection): Promise<void> {
  const s = b.s;
  const rec = b.record(s.good, 'good-endpoint');
  const decide = async () => {
    const c = b.counts(rec);
    if (c.matching > 0) return { decision: 'reproduces' as const, pb: 1 };
    const pb = (await b.posterior(s.good)).pBuggy(s.good);
    const d = decideStep({ ...c, pBuggy: pb, epsilon: s.stepEpsilon, maxRuns: s.maxRuns });
    return { decision: d.decision, pb };
  };
  for (;;) {
    const d = await decide();
    if (d.decision === 'reproduces' && s.signature?.source === 'bad-endpoint' && narrow(b)) continue;
    if (d.decision === 'reproduces' || d.decision === 'buggy') {
      await b.save();
      throw new KreproError('usage', `the good endpoint ${short(s.good)} reproduces the bug too: pick an ${s.fixed ? 'newer' : 'older'} --good`);
    }
    if (d.decision === 'clean' || d.decision === 'skip') {
      // skip: the cap came with no usable runs or a P(bug) above 1/2; the
      // posterior still holds what they say, and verification returns here
      // when this endpoint is the most likely to be wrong.
      rec.decision = 'clean';
      rec.pBuggy = d.pb;
      rec.reason = `${rec.runs.length} runs, no matching crash (P(bug present) ${fmtP(d.pb)})`;
      break;
    }
    const r = await b.batch(rec, {
      done: async () => (await decide()).decision !== 'continue',
      needed: async () => Math.max(MIN_CLEAN_RUNS - b.counts(rec).clean, await cleanRunsToEpsilon(b, s.good)),
      decisive: (e) => runMatches(e, s.signature, b.evidence),
    });
    if (!r.ok) throw new KreproError('usage', `cannot test the good endpoint ${short(s.good)}: ${r.reason}`);
  }
  s.phase = 'search';
  b.log(`good endpoint ${short(s.good)}: ${rec.reason}`);
  await b.save();
}

/** Drop the titles the good endpoint shows from a learnt signature; false when nothing of the bug would be left. */
function narrow(b: Bisection): boolean {
  const s = b.s;
  const sig = s.signature as Extract<Signature, { source: 'bad-endpoint' }>;
  const rec = s.commits[s.good];
  const seen = new Set(rec.runs.flatMap((r) => (r.kind === 'crash' ? [r.title, ...r.unrelated] : [])).filter((t): t is string => !!t && !b.evidence.includes(t)));
  const dropped = [...seen].filter((t) => countRuns([{ kind: 'crash', title: t, type: typeOf(rec.runs, t), unrelated: [] }], sig).matching > 0);
  if (!dropped.length) return false;
  // Crashes of the bug's type happen without the bug: from now on a title
  // of that type the bad endpoint did not show is not taken for a face of
  // the bug (only the titles seen there stay).
  const byKindOnly = new Set(dropped.map((t) => typeOf(rec.runs, t)));
  const narrowed: Signature = {
    ...sig,
    titles: sig.titles.filter((t) => !seen.has(t)),
    kinds: (sig.kinds ?? []).filter((k) => !byKindOnly.has(k)),
    exclude: [...new Set([...(sig.exclude ?? []), ...dropped])].sort(),
  };
  const still = countRuns(s.commits[s.bad].runs, narrowed, { evidence: b.evidence }).matching;
  if (still === 0) return false;
  s.signature = narrowed;
  b.touch();
  b.log(`good endpoint ${short(s.good)} shows ${dropped.map((t) => JSON.stringify(t)).join(', ')} too: dropped from the signature, now ${describeSignature(narrowed)}`);
  s.commits[s.bad].reason = `${still} matching crashes in ${s.commits[s.bad].runs.length} runs`;
  return true;
}

function typeOf(runs: { title: string | null; type: string | null; unrelated: string[]; unrelatedTypes?: (string | null)[] }[], t: string): string | null {
  for (const r of runs) {
    if (r.title === t) return r.type;
    const i = r.unrelated.indexOf(t);
    if (i >= 0) return r.unrelatedTypes?.[i] ?? null;
  }
  return null;
}
