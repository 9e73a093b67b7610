import type { Counts } from './policy.ts';
import type { RunEntry, Signature } from './types.ts';
import { titlesMatch } from '../verdict/verdict.ts';

/**
 * Which crashes are the bug: the signature, and the counts of a commit's
 * runs under it. A learnt signature (no --signature / --title) matches by
 * report type: one stall shows several faces from run to run (on the 7.2
 * stall: silent hangs in mm_get_cid and in try_to_wake_up, soft lockups in
 * smp_call_function, RCU stalls, all HANG), and a face the bad endpoint
 * happened not to show must still count as the bug. Matching only the
 * titles seen there made every run with an unseen face "unrelated", and a
 * commit that showed only that face was called clean: with faces 60/30/10
 * at p=0.3 the named commit was right 87% of the time when the endpoint had
 * shown one face, while the policy stated 95%. Titles of that type the good
 * endpoint shows too are background and stay out.
 */

/** The report type runs that show trace evidence carry (real-env.ts). */
export const EVIDENCE_TYPE = 'EVIDENCE';

export function matchesSignature(sig: Signature | null, title: string, type: string | null = null, evidence: readonly string[] = []): boolean {
  if (evidence.includes(title)) return true;
  if (!sig) return true;
  if (sig.source === 'regex') return titlesMatch([title], sig);
  if (sig.titles.includes(title)) return true;
  if (sig.source === 'bad-endpoint' && sig.kinds && type !== null && sig.kinds.includes(type)) return !(sig.exclude ?? []).includes(title);
  return false;
}

export interface CountOptions {
  /** Evidence titles: always the bug; a clean run then counts only with a judged trace. */
  evidence?: readonly string[];
}

/** Counts of one commit's runs under a signature (late runs are not counted). */
export function countRuns(runs: RunEntry[], sig: Signature | null, o: CountOptions = {}): Required<Counts> {
  const c = { matching: 0, clean: 0, unrelated: 0, unusable: 0 };
  const ev = o.evidence ?? [];
  for (const r of runs) {
    if (r.late) continue;
    if (r.kind === 'clean') {
      if (ev.length && r.traced === false) c.unusable++;
      else c.clean++;
    } else if (r.kind === 'boot-failed') c.unusable++;
    else if (runMatches(r, sig, ev)) c.matching++;
    else c.unrelated++;
  }
  return c;
}

export function runMatches(r: RunEntry, sig: Signature | null, evidence: readonly string[] = []): boolean {
  if (r.kind !== 'crash') return false;
  // The first report under its title and its alternative titles, then each unrelated one.
  const items: [string | null, string | null][] = [[r.title, r.type], ...(r.altTitles ?? []).map((t): [string, string | null] => [t, r.type]), ...r.unrelated.map((t, i): [string, string | null] => [t, r.unrelatedTypes?.[i] ?? null])];
  return items.some(([t, ty]) => !!t && matchesSignature(sig, t, ty, evidence));
}

/**
 * The bug's report type(s) on the bad endpoint: the type of its most
 * frequent title. Chosen by title, not by type: background crashes are
 * many different titles (counted together, ten WARNINGs at 0.2% each
 * outnumbered a 10% stall on the bad endpoint and became "the bug"), a
 * stall's faces are a few. Ties give several types (`final`: see below).
 */
export function bugKinds(runs: RunEntry[], evidence: readonly string[] = [], final = false): string[] {
  const { count, typeOf } = titleCounts(runs, evidence);
  const top = Math.max(0, ...count.values());
  if (top === 0) return [];
  const tied = [...new Set([...count].filter(([, n]) => n === top).map(([t]) => typeOf.get(t)!))].sort();
  if (!final || tied.length < 2) return tied;
  // At the run cap no more runs can break the tie: the type with the most
  // crashes is the best guess (a stall seen once under each of three faces
  // against one WARNING); a tie on that too stays ambiguous.
  const perType = new Map<string, number>();
  for (const [t, n] of count) perType.set(typeOf.get(t)!, (perType.get(typeOf.get(t)!) ?? 0) + n);
  const most = Math.max(...tied.map((k) => perType.get(k)!));
  return tied.filter((k) => perType.get(k) === most);
}

/**
 * Has a title of the bug's kind come back? The bug reproduces: its main
 * face shows again and again on the bad endpoint, while background crashes
 * are spread over many titles, each rare. Until some title is seen twice,
 * crashes of one type prove nothing (three different WARNINGs, each a one-
 * off, were taken for the bug at p=0.1 with 2% unrelated crashes: the
 * bisection then chased the background).
 */
export function bugRecurs(runs: RunEntry[], evidence: readonly string[] = []): boolean {
  const { count } = titleCounts(runs, evidence);
  return Math.max(0, ...count.values()) >= 2;
}

function titleCounts(runs: RunEntry[], evidence: readonly string[]): { count: Map<string, number>; typeOf: Map<string, string> } {
  const count = new Map<string, number>();
  const typeOf = new Map<string, string>();
  for (const r of runs) {
    if (r.late || r.kind !== 'crash' || !r.title || r.type === EVIDENCE_TYPE || evidence.includes(r.title)) continue;
    count.set(r.title, (count.get(r.title) ?? 0) + 1);
    typeOf.set(r.title, r.type ?? '');
  }
  return { count, typeOf };
}

/**
 * On the bad endpoint before a signature is fixed: crashes of the bug's
 * report type (bugKinds; evidence-only runs count with them when evidence
 * is on) must reach the endpoint's crash count, and the most frequent
 * titles must agree on one type, so a one-off of another kind never ends
 * the endpoint early or becomes part of the signature.
 */
export function provisionalCounts(runs: RunEntry[], sig: Signature | null, o: CountOptions & { final?: boolean } = {}): Required<Counts> {
  if (sig) return countRuns(runs, sig, o);
  const ev = o.evidence ?? [];
  const kinds = bugKinds(runs, ev, o.final);
  let crashes = 0;
  let matching = 0;
  for (const r of runs) {
    if (r.late || r.kind !== 'crash') continue;
    crashes++;
    const evOnly = r.type === EVIDENCE_TYPE || (!!r.title && ev.includes(r.title));
    if (evOnly ? ev.length > 0 : kinds.length === 1 && kinds.includes(r.type ?? '')) matching++;
  }
  const { clean, unusable } = countRuns(runs.filter((r) => r.kind !== 'crash'), null, o);
  return { matching, clean, unrelated: crashes - matching, unusable };
}

/**
 * The learnt signature: the bug's report type(s) (bugKinds) with the
 * titles of those types seen on the bad endpoint. Evidence titles are
 * matched on their own (state.evidence) and stay out of the kinds.
 */
export function learnSignature(runs: RunEntry[], evidence: readonly string[] = [], final = false): Extract<Signature, { source: 'bad-endpoint' }> {
  const kinds = bugKinds(runs, evidence, final);
  const titles = [...new Set(runs.filter((r) => !r.late && r.kind === 'crash' && r.title && kinds.includes(r.type ?? '') && r.type !== EVIDENCE_TYPE).map((r) => r.title!))].sort();
  return { source: 'bad-endpoint', titles, kinds: kinds.filter((k) => k !== ''), exclude: [] };
}

export function describeSignature(sig: Signature | null): string {
  if (!sig) return '(any crash)';
  if (sig.source === 'regex') return `/${sig.regex}/`;
  const t = sig.titles.map((x) => JSON.stringify(x)).join(' | ');
  if (sig.source === 'bad-endpoint' && sig.kinds?.length) {
    const ex = sig.exclude?.length ? ` except ${sig.exclude.map((x) => JSON.stringify(x)).join(', ')}` : '';
    return `any ${sig.kinds.join('/')} report (seen: ${t})${ex}`;
  }
  return t;
}
