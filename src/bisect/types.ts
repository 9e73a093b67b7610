/** Data that flows between the bisection driver, its environment and bisect.json. */
import { join } from 'node:path';
import { readRecord } from '../util/fs.ts';

/** One run's outcome as the environment reports it. */
export type StepRunOutcome =
  | {
      kind: 'run';
      /** A report was seen: title/type of the first one; others in `unrelated`. */
      crashed: boolean;
      title: string | null;
      type: string | null;
      altTitles?: string[];        // the first report's alternative titles (the signature sees them too)
      unrelated: { title: string; type: string }[];
      bootFailed?: boolean;
      runDir?: string;
      /** The run had a trace that could be judged to its end (evidence runs: a clean run counts only when traced). */
      traced?: boolean;
    }
  | { kind: 'skip'; reason: string } // build failed, patch does not apply: this commit cannot be tested
  | { kind: 'infra'; reason: string } // host problem: retry, then stop with the state saved
  | { kind: 'interrupted'; reason: string };

/**
 * What a bisection needs from the world: test a commit once (build it if
 * needed, boot it, run the workload). The real one builds through the build
 * cache and calls runKernel; tests and the simulator pass fakes.
 */
export interface BisectEnv {
  /** One run; with `signal` aborted the run stops and reports `interrupted` (a cancelled run). */
  test(commit: string, signal?: AbortSignal): Promise<StepRunOutcome>;
}

/**
 * Runs in flight at once (--jobs): the driver launches runs and takes them
 * back in the order they finish; a run it no longer needs is cancelled.
 * envPool (batch.ts) runs them on a BisectEnv; the simulator has a pool on a
 * virtual clock that also measures machine and wall time.
 */
export interface RunPool {
  readonly jobs: number;
  launch(commit: string): number;
  next(): Promise<{ id: number; commit: string; outcome: StepRunOutcome }>;
  cancel(id: number): void;
}

/** A run as stored in bisect.json. */
export interface RunEntry {
  kind: 'crash' | 'clean' | 'boot-failed';
  title: string | null;
  type: string | null;
  altTitles?: string[];
  unrelated: string[];
  /** Report types of `unrelated`, same order (a learnt signature matches by type). */
  unrelatedTypes?: (string | null)[];
  runDir?: string;
  /** false: a clean run without a judgeable trace (with evidence on, it proves nothing). */
  traced?: boolean;
  /**
   * Finished after the commit was decided, out of launch order (--jobs):
   * kept for the record, never counted (counting runs that happened to
   * finish first would favour crashes, which end runs early).
   */
  late?: boolean;
}

export type Role = 'bad-endpoint' | 'good-endpoint' | 'step';
export type CommitDecision = 'buggy' | 'clean' | 'skip';

export interface CommitRecord {
  commit: string;
  role: Role;
  runs: RunEntry[];
  decision: CommitDecision | null;
  reason?: string;
  /** Posterior probability that the commit carries the bug when decided. */
  pBuggy?: number;
  /** Runs added after the decision to firm up the answer. */
  verifyRuns?: number;
}

/** git bisect terms: old/new, mapped to good/bad or broken/fixed by mode. */
export type Term = 'old' | 'new' | 'skip';
export interface Mark {
  commit: string;
  term: Term;
}

export type Signature =
  | { source: 'regex'; regex: string }
  | { source: 'title'; titles: string[] }
  | {
      source: 'bad-endpoint';
      /** Titles seen on the bad endpoint of the bug's report type(s). */
      titles: string[];
      /** The bug's report types: any title of these types is a face of the bug ... */
      kinds?: string[];
      /** ... except titles the good endpoint showed too (background). */
      exclude?: string[];
    };

export type Phase = 'bad-endpoint' | 'good-endpoint' | 'search' | 'verify' | 'done';

export interface BisectAnswer {
  kind: 'found' | 'ambiguous';
  /** The first bad commit (with --fixed: the first fixed commit). */
  commit: string | null;
  /** Posterior probability that `commit` is the one. */
  confidence: number;
  /** Every candidate with its posterior (top ones), for ambiguous endings. */
  candidates: { commit: string; p: number }[];
  /** Posterior mean of the reproduction rate on buggy commits. */
  rate: number;
}

/** The persistent state: bisect.json. Written after every run. */
export interface BisectState {
  schema: 'krepro.bisect/1';
  id: string;
  fixed: boolean;
  /** The endpoint that reproduces (--bad) and the one that does not (--good), as full hashes. */
  bad: string;
  good: string;
  signature: Signature | null;
  confidence: number;
  maxRuns: number;
  stepEpsilon: number;
  endpointCrashes: number;
  /** Trace-evidence titles (--evidence) that always count as the bug; clean runs then need a judged trace. */
  evidence?: string[];
  /** Runs at once (--jobs); absent = 1. */
  jobs?: number;
  /** Beta prior on the reproduction rate. */
  ratePrior: { alpha: number; beta: number };
  phase: Phase;
  commits: Record<string, CommitRecord>;
  /** Commits in the order first tested. */
  order: string[];
  /** Decisions handed to the search, in order (replayed on resume). */
  marks: Mark[];
  /** Times a verification run found the bug on a commit called clean. */
  revisions: number;
  answer: BisectAnswer | null;
  /** Free-form data the engine keeps (tree, worktree, run options). */
  meta: Record<string, unknown>;
}

/** What the search order needs: git bisect, or its emulation in the simulator. */
export type Next =
  | { kind: 'test'; commit: string }
  | { kind: 'done'; first: string }
  | { kind: 'ambiguous'; candidates: string[] };

export interface SearchSession {
  /** Start over from the endpoints and replay the marks; returns what to test next. */
  restart(marks: Mark[]): Promise<Next>;
  mark(m: Mark): Promise<Next>;
}

/** A class of candidate culprits, with membership for naming the answer. */
export interface ClassInfo {
  prior: number;
  buggyAt: boolean[];
  has(commit: string): boolean;
  members(limit: number): string[];
}

/** Which candidates would make which tested commit buggy. */
export interface Topology {
  classes(tested: string[]): Promise<ClassInfo[]>;
  /** True when k is c or an ancestor of c. */
  contains(c: string, k: string): Promise<boolean>;
}

/** bisect.json of a bisection dir, typed (null when there is none; throws on another record). */
export function readBisectState(dir: string): Promise<BisectState | null> {
  return readRecord<BisectState>(join(dir, 'bisect.json'), 'krepro.bisect/1');
}
