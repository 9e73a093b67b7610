import type { Counts } from './policy.ts';
import type { RunEntry, Signature } from './types.ts';

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
  if (sig.source === 'regex') return new RegExp(sig.regex).test(title);
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
  const items: [string | null, string | null][] = [[r.title, r.type], ...r.unrelated.map((t, i): [string, string | null] => [t, r.unrelatedTypes?.[i] ?? null])];
  return items.some(([t, ty]) => !!t && matchesSignature(sig, t, ty, evidence));
}

/**
 * On the bad endpoint before a signature is fixed: the crashes of the most
 * frequent report type (evidence-only runs count with it when evidence is
 * on) must reach the endpoint's crash count, so a one-off of another kind
 * never ends the endpoint early.
 */
export function provisionalCounts(runs: RunEntry[], sig: Signature | null, o: CountOptions = {}): Required<Counts> {
  if (sig) return countRuns(runs, sig, o);
  const ev = o.evidence ?? [];
  const byType = new Map<string, number>();
  let crashes = 0;
  let evidenceOnly = 0;
  for (const r of runs) {
    if (r.late || r.kind !== 'crash') continue;
    crashes++;
    if (r.type === EVIDENCE_TYPE || (r.title && ev.includes(r.title))) {
      evidenceOnly++;
      continue;
    }
    const k = r.type ?? '';
    byType.set(k, (byType.get(k) ?? 0) + 1);
  }
  const top = Math.max(0, ...byType.values()) + (ev.length ? evidenceOnly : 0);
  const { clean, unusable } = countRuns(runs.filter((r) => r.kind !== 'crash'), null, o);
  return { matching: top, clean, unrelated: crashes - top, unusable };
}

/**
 * The learnt signature: the report type(s) of the bad endpoint's most
 * frequent kind of crash, with the titles seen there. Evidence titles are
 * matched on their own (state.evidence) and stay out of the kinds.
 */
export function learnSignature(bad: { title: string; type: string | null }[]): Extract<Signature, { source: 'bad-endpoint' }> {
  const count = new Map<string, number>();
  for (const r of bad) {
    if (r.type === EVIDENCE_TYPE) continue;
    const k = r.type ?? '';
    count.set(k, (count.get(k) ?? 0) + 1);
  }
  const top = Math.max(0, ...count.values());
  const kinds = [...count].filter(([, n]) => n === top && top > 0).map(([k]) => k).sort();
  const titles = [...new Set(bad.filter((r) => kinds.includes(r.type ?? '')).map((r) => r.title))].sort();
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
