import { UNIFORM_RATE } from './policy.ts';
import { envPool } from './batch.ts';
import { Bisection, type DriverContext } from './context.ts';
import { badEndpointPhase, goodEndpointPhase } from './endpoints.ts';
import { searchStep } from './search.ts';
import { verifyStep } from './verify.ts';
import type { BisectState, Next, Signature } from './types.ts';

export type { DriverContext } from './context.ts';
export { short } from './context.ts';
export { termFor } from './search.ts';
export { matchesSignature, countRuns, describeSignature } from './signature.ts';

/**
 * The bisection loop, shared by the engine (git bisect + real runs) and the
 * simulator (emulated git bisect + random runs). Every decision comes from
 * policy.ts; the phases (endpoints.ts, search.ts, verify.ts) only sequence
 * them and keep the state, which is saved after every run so a killed
 * bisection resumes where it stopped. Runs go through a RunPool, up to
 * state.jobs at once (batch.ts).
 */
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
  evidence?: string[];
  jobs?: number;
  meta?: Record<string, unknown>;
}): BisectState {
  const s: BisectState = {
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
  if (o.evidence?.length) s.evidence = o.evidence;
  if (o.jobs && o.jobs > 1) s.jobs = o.jobs;
  return s;
}

export async function runBisection(ctx: DriverContext): Promise<BisectState> {
  const b = new Bisection(ctx, ctx.pool ?? envPool(ctx.env, ctx.state.jobs ?? 1));
  const s = b.s;
  if (s.phase === 'bad-endpoint') await badEndpointPhase(b);
  if (s.phase === 'good-endpoint') await goodEndpointPhase(b);
  let next: Next | null = s.phase === 'search' ? await ctx.session.restart(s.marks) : null;
  for (;;) {
    if (s.phase === 'done') return s;
    if (s.phase === 'search') {
      next = await searchStep(b, next ?? (await ctx.session.restart(s.marks)));
      continue;
    }
    if (await verifyStep(b)) next = await ctx.session.restart(s.marks);
  }
}
