import { classPosterior, probBuggy, type Counts } from './policy.ts';
import { countRuns } from './signature.ts';
import { runBatch, type BatchResult, type BatchWant } from './batch.ts';
import type { BisectEnv, BisectState, ClassInfo, CommitRecord, Role, RunPool, SearchSession, Topology } from './types.ts';

/** What runBisection is given: the state, where runs come from, the search order. */
export interface DriverContext {
  state: BisectState;
  env: BisectEnv;
  session: SearchSession;
  topology: Topology;
  save(state: BisectState): Promise<void>;
  log?(line: string): void;
  /** Consecutive infra errors tolerated on one run before stopping. */
  infraRetries?: number;
  /** Runs in flight (default: envPool over env with state.jobs). */
  pool?: RunPool;
}

export interface Posterior {
  tested: string[];
  counts: Required<Counts>[];
  classes: ClassInfo[];
  post: number[];
  pBuggy(commit: string): number;
}

/** One bisection in progress: the state and the helpers every phase uses. */
export class Bisection {
  readonly s: BisectState;
  readonly log: (line: string) => void;
  private cacheKey = '';
  private cacheClasses: ClassInfo[] = [];
  /** Bumped on every save (every run, every decision): memoized posteriors older than it are stale. */
  private version = 0;
  private memo = new Map<string, Posterior>();

  constructor(readonly ctx: DriverContext, readonly pool: RunPool) {
    this.s = ctx.state;
    this.log = ctx.log ?? (() => {});
  }

  get evidence(): string[] {
    return this.s.evidence ?? [];
  }

  save(): Promise<void> {
    this.touch();
    return this.ctx.save(this.s);
  }

  /** The runs or the signature changed. */
  touch(): void {
    this.version++;
    this.memo.clear();
  }

  record(commit: string, role: Role): CommitRecord {
    let r = this.s.commits[commit];
    if (!r) {
      r = { commit, role, runs: [], decision: null };
      this.s.commits[commit] = r;
      this.s.order.push(commit);
    }
    return r;
  }

  counts(rec: CommitRecord): Required<Counts> {
    return countRuns(rec.runs, this.s.signature, { evidence: this.evidence });
  }

  batch(rec: CommitRecord, want: BatchWant): Promise<BatchResult> {
    return runBatch(
      { pool: this.pool, maxRuns: this.s.maxRuns, infraRetries: this.ctx.infraRetries ?? 2, save: () => this.save(), log: this.log, short },
      rec,
      want,
    );
  }

  /**
   * Posterior over candidate classes given every counted run; `extra` adds
   * a commit about to be tested, `hypo` pretends `clean` more clean runs on
   * one commit (to plan how many runs could still matter).
   */
  async posterior(extra?: string, hypo?: { commit: string; clean: number }): Promise<Posterior> {
    const s = this.s;
    const mkey = `${this.version}|${extra ?? ''}|${hypo ? `${hypo.commit}:${hypo.clean}` : ''}`;
    const hit = this.memo.get(mkey);
    if (hit) return hit;
    const tested = s.order.filter((c) => s.commits[c].runs.length > 0 || c === extra);
    const key = tested.join(',');
    if (key !== this.cacheKey) {
      this.cacheClasses = await this.ctx.topology.classes(tested);
      this.cacheKey = key;
    }
    const classes = this.cacheClasses;
    const counts = tested.map((c) => {
      const k = this.counts(s.commits[c]);
      return hypo && hypo.commit === c ? { ...k, clean: k.clean + hypo.clean } : k;
    });
    const post = classPosterior(classes, counts, s.ratePrior);
    const res: Posterior = {
      tested,
      counts,
      classes,
      post,
      pBuggy: (commit: string) => {
        const i = tested.indexOf(commit);
        return i < 0 ? NaN : probBuggy(classes, post, i);
      },
    };
    this.memo.set(mkey, res);
    return res;
  }

  /** Smallest n in 1..limit for which `ok(n)` holds (ok is monotone in n); limit when none. */
  static async leastRuns(limit: number, ok: (n: number) => Promise<boolean> | boolean): Promise<number> {
    if (limit <= 1) return Math.max(1, limit);
    let lo = 1;
    let hi = limit;
    if (!(await ok(hi))) return limit;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (await ok(mid)) hi = mid;
      else lo = mid + 1;
    }
    return lo;
  }
}

export function short(c: string): string {
  return /^[0-9a-f]{40}$/.test(c) ? c.slice(0, 12) : c;
}
