import type { AnomalyKind, TraceSummary } from '../trace/analyze.ts';

/**
 * Bug evidence: what a run's mmcid trace shows about the bug whether or not
 * the machine stalled. A fixup walk that missed a task holding a task-owned
 * CID is this bug's mechanism itself; the stall only follows when a CPU then
 * needs a CID while the missed task is off the CPU. Pure: reads run.json's
 * analysis, returns data.
 */
export const EVIDENCE_KINDS: readonly AnomalyKind[] = ['fixup-missed-task', 'cid-duplicate', 'cid-leak', 'users-mismatch', 'cid-exhausted'];

export interface RunEvidence {
  /** The run had an mmcid trace with events to replay. */
  traced: boolean;
  /** The trace stopped before the kernel did (a stall's dump, a cut transfer). */
  truncated: boolean;
  /** Findings by kind (only kinds found). */
  kinds: Partial<Record<AnomalyKind, number>>;
  /** How often the trace exercised the trigger (from the replay's totals). */
  triggers: RunTriggers;
}

export interface RunTriggers {
  crossUp: number;           // users of an mm went above the CPU count
  crossUpWithVfork: number;  // ... while a vfork child of the mm was a user
  fixupWalks: number;        // task-to-CPU fixup walks
  walksWithVfork: number;    // walks that started while a vfork child was a user
  walksMissed: number;       // walks that missed a task holding a CID
  traceSeconds: number;      // trace time the counts cover (first to last replayed event)
}

export const NO_TRIGGERS: RunTriggers = { crossUp: 0, crossUpWithVfork: 0, fixupWalks: 0, walksWithVfork: 0, walksMissed: 0, traceSeconds: 0 };

/** Counts per minute of trace (the traceSeconds field becomes 60). */
export function perMinute(t: RunTriggers): RunTriggers {
  const f = t.traceSeconds > 0 ? 60 / t.traceSeconds : 0;
  return {
    crossUp: t.crossUp * f, crossUpWithVfork: t.crossUpWithVfork * f, fixupWalks: t.fixupWalks * f,
    walksWithVfork: t.walksWithVfork * f, walksMissed: t.walksMissed * f, traceSeconds: t.traceSeconds > 0 ? 60 : 0,
  };
}

export function evidenceOf(analysis: TraceSummary | null | undefined): RunEvidence {
  if (!analysis) return { traced: false, truncated: false, kinds: {}, triggers: { ...NO_TRIGGERS } };
  const kinds: Partial<Record<AnomalyKind, number>> = {};
  for (const a of analysis.anomalies) kinds[a.kind] = (kinds[a.kind] ?? 0) + 1;
  const x = analysis.exercise;
  return {
    traced: analysis.mmcidEvents > 0,
    truncated: analysis.truncated,
    kinds,
    triggers: {
      crossUp: x.crossUp,
      crossUpWithVfork: x.crossUpWithVfork,
      fixupWalks: x.fixupWalks,
      walksWithVfork: x.walksWithVfork ?? 0,
      walksMissed: x.walksMissed ?? 0,
      traceSeconds: x.span ?? 0,
    },
  };
}

/** What loops rate and what --evidence means when not given: this bug's own mechanism. */
export const DEFAULT_EVIDENCE_KINDS: readonly AnomalyKind[] = ['fixup-missed-task'];

/** The finding kinds a run's trace showed; null when it had no trace (it says nothing either way). */
export function foundKinds(e: RunEvidence | null | undefined): string[] | null {
  return e?.traced ? Object.keys(e.kinds) : null;
}

/** Do these found kinds include any of `kinds`? null: no trace to tell. */
export function showsEvidence(found: readonly string[] | null | undefined, kinds: readonly string[]): boolean | null {
  if (!found) return null;
  return kinds.some((k) => found.includes(k));
}

/**
 * The title a run that shows evidence (but maybe no stall) carries where a
 * bisection or a signature needs one: "mmcid evidence: fixup-missed-task".
 */
export function evidenceTitle(kind: string): string {
  return `mmcid evidence: ${kind}`;
}

export const escapeRegex = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/** A signature regex that also accepts the evidence titles of `kinds`. */
export function signatureWithEvidence(signature: string | null, kinds: readonly string[]): string | null {
  if (!kinds.length) return signature;
  const ev = kinds.map((k) => '^' + escapeRegex(evidenceTitle(k)) + '$').join('|');
  return signature ? `(?:${signature})|${ev}` : null;
}

export function parseEvidenceKinds(v: string | string[] | null | undefined): AnomalyKind[] {
  const items = (Array.isArray(v) ? v : v ? [v] : []).flatMap((s) => s.split(',')).map((s) => s.trim()).filter(Boolean);
  for (const k of items) {
    if (!EVIDENCE_KINDS.includes(k as AnomalyKind)) {
      throw new RangeError(`unknown evidence kind ${JSON.stringify(k)}: use ${EVIDENCE_KINDS.join(', ')}`);
    }
  }
  return items as AnomalyKind[];
}
