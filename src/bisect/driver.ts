import {
  classPosterior,
  decideBadEndpoint,
  decideGoodEndpoint,
  decideStep,
  defaultSignature,
  probBuggy,
  rateEstimate,
  rateEvidence,
  fmtP,
  UNIFORM_RATE,
  type Counts,
} from './policy.ts';
import type {
  BisectEnv,
  BisectState,
  ClassInfo,
  CommitRecord,
  Mark,
  Next,
  Role,
  RunEntry,
  SearchSession,
  Signature,
  Topology,
} from './types.ts';
import { KreproError } from '../util/errors.ts';

/**
 * The bisection loop, shared by the engine (git bisect + real runs) and the
 * simulator (emulated git bisect + random runs). Every decision comes from
 * policy.ts; this file only sequences them and keeps the state, which is
 * saved after every run so a killed bisection resumes where it stopped.
 */
export interface DriverContext {
  state: BisectState;
  env: BisectEnv;
  session: SearchSession;
  topology: Topology;
  save(state: BisectState): Promise<void>;
  log?(line: string): void;
  /** Consecutive infra errors tolerated on one run before stopping. */
  infraRetries?: number;
}

export function newState(o: {
  id: string;
  bad: string;
  good: string;
  fixed?: boolean;
  signature?: Signature | null;
  confidence?: number;
  maxRuns?: number;
  stepEpsilon?: number;
  endpointCrashes?: number;
  ratePrior?: { alpha: number; beta: number };
  meta?: Record<string, unknown>;
}): BisectState {
  return {
    schema: 'krepro.bisect/1',
    id: o.id,
    fixed: o.fixed ?? false,
    bad: o.bad,
    good: o.good,
    signature: o.signature ?? null,
    confidence: o.confidence ?? 0.95,
    maxRuns: o.maxRuns ?? 60,
    stepEpsilon: o.stepEpsilon ?? 0.1,
    endpointCrashes: o.endpointCrashes ?? 3,
    ratePrior: o.ratePrior ?? { ...UNIFORM_RATE },
    phase: 'bad-endpoint',
    commits: {},
    order: [],
    marks: [],
    revisions: 0,
    answer: null,
    meta: o.meta ?? {},
  };
}

/** Does a title match the signature? With no signature yet, every crash matches. */
export function matchesSignature(sig: Signature | null, title: string): boolean {
  if (!sig) return true;
  if (sig.source === 'regex') return new RegExp(sig.regex).test(title);
  return sig.titles.includes(title);
}

/** Counts of one commit's runs under a signature. */
export function countRuns(runs: RunEntry[], sig: Signature | null): Required<Counts> {
  const c = { matching: 0, clean: 0, unrelated: 0, unusable: 0 };
  for (const r of runs) {
    if (r.kind === 'clean') c.clean++;
    else if (r.kind === 'boot-failed') c.unusable++;
    else {
      const titles = [r.title, ...r.unrelated].filter((t): t is string => !!t);
      if (titles.some((t) => matchesSignature(sig, t))) c.matching++;
      else c.unrelated++;
    }
  }
  return c;
}

/** Mode mapping: which git term a buggy / clean commit gets. */
export function termFor(fixed: boolean, buggy: boolean): 'old' | 'new' {
  // cause: old = good (clean), new = bad (buggy); fix: old = broken (buggy), new = fixed (clean)
  return buggy !== fixed ? 'new' : 'old';
}

export async function runBisection(ctx: DriverContext): Promise<BisectState> {
  const s = ctx.state;
  const log = ctx.log ?? (() => {});
  const retries = ctx.infraRetries ?? 2;

  const record = (commit: string, role: Role): CommitRecord => {
    let r = s.commits[commit];
    if (!r) {
      r = { commit, role, runs: [], decision: null };
      s.commits[commit] = r;
      s.order.push(commit);
    }
    return r;
  };

  /** One run with infra retries; returns false when the commit must be skipped. */
  const runOnce = async (rec: CommitRecord): Promise<{ ok: true } | { ok: false; reason: string }> => {
    for (let attempt = 0; ; attempt++) {
      const out = await ctx.env.test(rec.commit);
      if (out.kind === 'run') {
        const entry: RunEntry = {
          kind: out.bootFailed ? 'boot-failed' : out.crashed ? 'crash' : 'clean',
          title: out.title,
          type: out.type,
          unrelated: out.unrelated.map((u) => u.title),
        };
        if (out.runDir) entry.runDir = out.runDir;
        rec.runs.push(entry);
        await ctx.save(s);
        return { ok: true };
      }
      if (out.kind === 'skip') return { ok: false, reason: out.reason };
      if (out.kind === 'interrupted') {
        await ctx.save(s);
        throw new KreproError('infra', `bisection interrupted (${out.reason}); continue with --resume`);
      }
      log(`infra error on ${short(rec.commit)}: ${out.reason}`);
      if (attempt >= retries) {
        await ctx.save(s);
        throw new KreproError(
          'infra',
          `infrastructure error on ${short(rec.commit)} after ${attempt + 1} attempts (${out.reason}); state saved, fix the host and continue with --resume`,
        );
      }
    }
  };

  // Posterior over candidate classes for the tested commits (cached per tested set).
  let cacheKey = '';
  let cacheClasses: ClassInfo[] = [];
  const posterior = async (extra?: string) => {
    const tested = s.order.filter((c) => s.commits[c].runs.length > 0 || c === extra);
    const key = tested.join(',');
    if (key !== cacheKey) {
      cacheClasses = await ctx.topology.classes(tested);
      cacheKey = key;
    }
    const counts = tested.map((c) => countRuns(s.commits[c].runs, s.signature));
    const post = classPosterior(cacheClasses, counts, s.ratePrior);
    return {
      tested,
      counts,
      classes: cacheClasses,
      post,
      pBuggy: (commit: string) => {
        const i = tested.indexOf(commit);
        return i < 0 ? NaN : probBuggy(cacheClasses, post, i);
      },
    };
  };

  // --- endpoints ---------------------------------------------------------
  if (s.phase === 'bad-endpoint') {
    const rec = record(s.bad, 'bad-endpoint');
    for (;;) {
      const counts = provisionalCounts(rec.runs, s.signature);
      const d = decideBadEndpoint(counts, s.endpointCrashes, s.maxRuns);
      if (d === 'not-reproduced') {
        rec.decision = 'skip';
        rec.reason = `no matching crash in ${rec.runs.length} runs`;
        await ctx.save(s);
        throw new KreproError(
          'usage',
          `the bad endpoint ${short(s.bad)} did not reproduce in ${rec.runs.length} runs: check the signature, raise --max-runs or pick another --bad`,
        );
      }
      if (d === 'reproduced') break;
      const r = await runOnce(rec);
      if (!r.ok) throw new KreproError('usage', `cannot test the bad endpoint ${short(s.bad)}: ${r.reason}`);
    }
    if (!s.signature) {
      const seen = rec.runs.flatMap((r) => (r.kind === 'crash' && r.title ? [{ title: r.title, type: r.type }] : []));
      s.signature = { source: 'bad-endpoint', titles: defaultSignature(seen) };
    }
    const c = countRuns(rec.runs, s.signature);
    rec.decision = 'buggy';
    rec.pBuggy = 1;
    rec.reason = `${c.matching} matching crashes in ${rec.runs.length} runs`;
    s.phase = 'good-endpoint';
    log(`bad endpoint ${short(s.bad)}: ${rec.reason}; signature ${describeSignature(s.signature)}`);
    await ctx.save(s);
  }

  if (s.phase === 'good-endpoint') {
    const rec = record(s.good, 'good-endpoint');
    for (;;) {
      const rate = rateEvidence([countRuns(s.commits[s.bad].runs, s.signature)]);
      const d = decideGoodEndpoint(countRuns(rec.runs, s.signature), rate, s.confidence, s.maxRuns, s.ratePrior);
      if (d.decision === 'reproduces' && s.signature?.source === 'bad-endpoint') {
        // A default-signature title that the good endpoint shows too is
        // background noise, not the bug: drop it, as long as the bad
        // endpoint's crashes still carry another title.
        const seen = new Set(rec.runs.flatMap((r) => (r.kind === 'crash' ? [r.title, ...r.unrelated] : [])));
        const titles = s.signature.titles.filter((t) => !seen.has(t));
        const dropped = s.signature.titles.filter((t) => seen.has(t));
        const narrowed: Signature = { source: 'bad-endpoint', titles };
        const stillMatching = titles.length ? countRuns(s.commits[s.bad].runs, narrowed).matching : 0;
        if (stillMatching > 0) {
          s.signature = narrowed;
          log(`good endpoint ${short(s.good)} shows ${dropped.map((t) => JSON.stringify(t)).join(', ')} too: dropped from the signature, now ${describeSignature(narrowed)}`);
          s.commits[s.bad].reason = `${stillMatching} matching crashes in ${s.commits[s.bad].runs.length} runs`;
          await ctx.save(s);
          continue;
        }
      }
      if (d.decision === 'reproduces') {
        await ctx.save(s);
        throw new KreproError(
          'usage',
          `the good endpoint ${short(s.good)} reproduces the bug too: pick an ${s.fixed ? 'newer' : 'older'} --good`,
        );
      }
      if (d.decision === 'clean' || d.decision === 'capped') {
        rec.decision = 'clean';
        rec.pBuggy = 1 - d.confidence;
        rec.reason = `${rec.runs.length} runs, no matching crash (would have shown with P ${fmtP(d.confidence)})`;
        break;
      }
      const r = await runOnce(rec);
      if (!r.ok) throw new KreproError('usage', `cannot test the good endpoint ${short(s.good)}: ${r.reason}`);
    }
    s.phase = 'search';
    log(`good endpoint ${short(s.good)}: ${rec.reason}`);
    await ctx.save(s);
  }

  // --- search and verification ------------------------------------------
  let next: Next | null = null;
  const restart = async () => {
    next = await ctx.session.restart(s.marks);
    return next;
  };
  if (s.phase === 'search') await restart();

  for (;;) {
    if (s.phase === 'done') return s;
    if (s.phase === 'search') {
      const n = next ?? (await restart());
      if (n.kind === 'test') {
        const rec = record(n.commit, 'step');
        let decided: 'buggy' | 'clean' | 'skip';
        for (;;) {
          const { pBuggy } = await posterior(rec.commit);
          const c = countRuns(rec.runs, s.signature);
          const d = decideStep({ ...c, pBuggy: pBuggy(rec.commit), epsilon: s.stepEpsilon, maxRuns: s.maxRuns });
          if (d.decision !== 'continue') {
            decided = d.decision;
            rec.reason = d.reason;
            rec.pBuggy = pBuggy(rec.commit);
            break;
          }
          const r = await runOnce(rec);
          if (!r.ok) {
            decided = 'skip';
            rec.reason = r.reason;
            break;
          }
        }
        rec.decision = decided;
        const m: Mark = { commit: rec.commit, term: decided === 'skip' ? 'skip' : termFor(s.fixed, decided === 'buggy') };
        s.marks.push(m);
        log(`${short(rec.commit)}: ${decided} (${rec.reason})`);
        await ctx.save(s);
        next = await ctx.session.mark(m);
        continue;
      }
      if (n.kind === 'ambiguous') {
        const p = await posterior();
        const cands = n.candidates.map((commit) => {
          const j = p.classes.findIndex((cl) => cl.has(commit));
          const size = j < 0 ? 1 : Math.max(1, p.classes[j].prior);
          return { commit, p: j < 0 ? 0 : p.post[j] / size };
        });
        cands.sort((a, b) => b.p - a.p);
        s.answer = {
          kind: 'ambiguous',
          commit: cands[0]?.commit ?? null,
          confidence: cands[0]?.p ?? 0,
          candidates: cands,
          rate: rateOf(p.counts, s.ratePrior),
        };
        s.phase = 'done';
        await ctx.save(s);
        continue;
      }
      // done: git named a first bad (first fixed) commit; verify it.
      s.answer = { kind: 'found', commit: n.first, confidence: 0, candidates: [], rate: 0 };
      s.phase = 'verify';
      await ctx.save(s);
      continue;
    }

    // verify
    const answer = s.answer!.commit!;
    const p = await posterior();
    const j = p.classes.findIndex((cl) => cl.has(answer));
    const conf = j < 0 ? 0 : p.post[j];
    s.answer = {
      kind: 'found',
      commit: answer,
      confidence: conf,
      candidates: topCandidates(p.classes, p.post, 5),
      rate: rateOf(p.counts, s.ratePrior),
    };
    if (conf >= s.confidence) {
      s.phase = 'done';
      await ctx.save(s);
      continue;
    }
    // Run again the clean-called commit most likely to carry the bug: it is
    // already built, so this costs runs only.
    let pick: string | null = null;
    let best = 0;
    for (const c of p.tested) {
      const rec = s.commits[c];
      if (rec.decision !== 'clean' || rec.runs.length >= s.maxRuns) continue;
      const pb = p.pBuggy(c);
      if (pb > best) {
        best = pb;
        pick = c;
      }
    }
    if (!pick) {
      s.phase = 'done';
      log(`run cap reached; answer stands with confidence ${fmtP(conf)}`);
      await ctx.save(s);
      continue;
    }
    const rec = s.commits[pick];
    const r = await runOnce(rec);
    if (!r.ok) {
      // A commit that built before does not build now: treat as infra.
      throw new KreproError('infra', `commit ${short(pick)} could not be re-tested (${r.reason}); continue with --resume`);
    }
    rec.verifyRuns = (rec.verifyRuns ?? 0) + 1;
    const c = countRuns(rec.runs, s.signature);
    if (c.matching > 0) {
      if (pick === s.good) {
        await ctx.save(s);
        throw new KreproError(
          'usage',
          `the good endpoint ${short(s.good)} reproduced on run ${rec.runs.length}: pick an ${s.fixed ? 'newer' : 'older'} --good`,
        );
      }
      // A commit called clean carries the bug after all: revise and search again.
      log(`${short(pick)} crashed on verification run ${rec.runs.length}: revising`);
      rec.decision = 'buggy';
      rec.reason = `matching crash on verification run ${rec.runs.length}`;
      s.revisions++;
      await reviseMarks(s, ctx.topology, pick);
      s.answer = null;
      s.phase = 'search';
      await ctx.save(s);
      await restart();
      continue;
    }
    await ctx.save(s);
  }
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

/**
 * On the bad endpoint before a signature is fixed: the most frequent title
 * alone must reach the endpoint's crash count, so a one-off on the side
 * never ends the endpoint early (the signature is widened to that title's
 * kind afterwards, by defaultSignature).
 */
function provisionalCounts(runs: RunEntry[], sig: Signature | null): Required<Counts> {
  if (sig) return countRuns(runs, sig);
  const titles = new Map<string, number>();
  let crashes = 0;
  for (const r of runs) if (r.kind === 'crash') {
    crashes++;
    if (r.title) titles.set(r.title, (titles.get(r.title) ?? 0) + 1);
  }
  const top = Math.max(0, ...titles.values());
  const clean = runs.filter((r) => r.kind === 'clean').length;
  return { matching: top, clean, unrelated: crashes - top, unusable: runs.length - crashes - clean };
}

function rateOf(counts: Counts[], prior: { alpha: number; beta: number }): number {
  const r = rateEvidence(counts);
  return rateEstimate(r.crashes, r.cleanOnBuggy, prior);
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
  return out.sort((a, b) => b.p - a.p).slice(0, n);
}

export function describeSignature(sig: Signature | null): string {
  if (!sig) return '(any crash)';
  if (sig.source === 'regex') return `/${sig.regex}/`;
  return sig.titles.map((t) => JSON.stringify(t)).join(' | ');
}

export function short(c: string): string {
  return /^[0-9a-f]{40}$/.test(c) ? c.slice(0, 12) : c;
}
