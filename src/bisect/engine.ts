import { join, resolve } from 'node:path';
import { readFile, mkdir, writeFile as fsWriteFile } from 'node:fs/promises';
import { git, revParse, isAncestor, commitInfo } from '../source/git.ts';
import { cacheRoot, resultsRoot } from '../util/paths.ts';
import { writeJsonAtomic, writeFileAtomic, exists } from '../util/fs.ts';
import { usageError } from '../util/errors.ts';
import { runBisection, newState, countRuns, describeSignature, short, DEFAULT_CONFIDENCE } from './driver.ts';
import { GitSession, GitTopology } from './git-history.ts';
import { fmtP } from './policy.ts';
import { readBisectState, type BisectEnv, type BisectState, type Signature } from './types.ts';

/**
 * Bisection over a real git tree: validates the range, creates a worktree
 * under the cache dir, drives git bisect through GitSession, tests commits
 * through the given environment, and keeps bisect.json / bisect.log in the
 * results dir. Resumable at any point.
 */
export interface BisectOptions {
  tree: string;
  good: string;
  bad: string;
  fixed?: boolean;
  signature?: string | null; // regex
  title?: string | null; // exact title
  confidence?: number;
  maxRuns?: number;
  stepEpsilon?: number;
  id?: string;
  resultsDir?: string; // parent of bisect-<id>
  cacheDir?: string;
  /** Kept in bisect.json (run options for the real env), returned on resume. */
  envConfig?: Record<string, unknown>;
  /** Trace-evidence titles that count as the bug (clean runs then need a judged trace). */
  evidence?: string[];
  /** Runs at once (VMs on this host). */
  jobs?: number;
  log?: (line: string) => void;
}

export type EnvFactory = (ctx: { tree: string; outDir: string; envConfig: Record<string, unknown> }) => BisectEnv | Promise<BisectEnv>;

export interface StepRow {
  commit: string;
  role: string;
  runs: number;
  matching: number;
  unrelated: number;
  decision: string;
  pBuggy: number | null;
  reason: string;
}

export interface BisectReport {
  dir: string;
  state: BisectState;
  culprit: { hash: string; subject: string; author: string; date: string } | null;
  confidence: number;
  table: StepRow[];
  totalRuns: number;
  commitsTested: number;
  logFile: string;
  text: string;
}

/** Check the tree and the revisions; return full hashes. One-line usage errors. */
export async function validateRange(tree: string, good: string, bad: string, fixed: boolean): Promise<{ good: string; bad: string }> {
  if (!(await exists(tree))) throw usageError(`tree ${tree} does not exist: pass --tree DIR of a git checkout`);
  const top = await git(tree, ['rev-parse', '--is-inside-work-tree'], { reject: false });
  if (top.exitCode !== 0 || top.stdout.trim() !== 'true') {
    throw usageError(`${tree} is not a git tree: pass --tree DIR of a git checkout`);
  }
  const g = await revParse(tree, good);
  const b = await revParse(tree, bad);
  if (g === b) throw usageError(`--good and --bad are the same commit ${short(g)}: give a range`);
  if (!fixed && !(await isAncestor(tree, g, b))) {
    throw usageError(`--good ${good} is not an ancestor of --bad ${bad}: swap them, or add --fixed to look for a fix`);
  }
  if (fixed && !(await isAncestor(tree, b, g))) {
    throw usageError(`with --fixed, --bad ${bad} (still broken) must be an ancestor of --good ${good} (fixed)`);
  }
  return { good: g, bad: b };
}

export function makeId(bad: string, now = new Date()): string {
  const ts = now.toISOString().replace(/[-:]/g, '').replace(/\..*/, '').replace('T', '-');
  return `${ts}-${bad.slice(0, 8)}`;
}

export async function startBisect(opts: BisectOptions, envFactory: EnvFactory): Promise<BisectReport> {
  const tree = resolve(opts.tree);
  const fixed = opts.fixed ?? false;
  if (opts.signature && opts.title) throw usageError('give --signature or --title, not both');
  if (opts.signature) {
    try {
      new RegExp(opts.signature);
    } catch (e) {
      throw usageError(`--signature is not a valid regular expression: ${(e as Error).message}`);
    }
  }
  const conf = opts.confidence ?? DEFAULT_CONFIDENCE;
  if (!(conf > 0 && conf < 1)) throw usageError('--confidence must be between 0 and 1, e.g. 0.95');
  if (opts.maxRuns !== undefined && !(opts.maxRuns >= 1)) throw usageError('--max-runs must be at least 1');
  if (opts.jobs !== undefined && !(Number.isInteger(opts.jobs) && opts.jobs >= 1)) throw usageError(`--jobs ${opts.jobs}: give a positive integer (VMs at once)`);
  const { good, bad } = await validateRange(tree, opts.good, opts.bad, fixed);
  const id = opts.id ?? makeId(bad);
  const dir = join(resolve(opts.resultsDir ?? resultsRoot()), `bisect-${id}`);
  if (await exists(join(dir, 'bisect.json'))) throw usageError(`${dir} already holds a bisection: continue it with --resume ${dir}`);
  const worktree = join(resolve(opts.cacheDir ?? cacheRoot()), 'bisect', id);
  const signature: Signature | null = opts.signature
    ? { source: 'regex', regex: opts.signature }
    : opts.title
      ? { source: 'title', titles: [opts.title] }
      : null;
  const state = newState({
    id,
    bad,
    good,
    fixed,
    signature,
    confidence: conf,
    maxRuns: opts.maxRuns,
    stepEpsilon: opts.stepEpsilon,
    evidence: opts.evidence,
    jobs: opts.jobs,
    meta: { tree, worktree, goodRev: opts.good, badRev: opts.bad, env: opts.envConfig ?? {} },
  });
  await mkdir(dir, { recursive: true });
  await writeJsonAtomic(join(dir, 'bisect.json'), state);
  return drive(dir, state, envFactory, opts.log);
}

export async function resumeBisect(dir: string, envFactory: EnvFactory, log?: (l: string) => void, o: { jobs?: number } = {}): Promise<BisectReport> {
  dir = resolve(dir);
  let state: BisectState | null;
  try {
    state = await readBisectState(dir);
  } catch {
    throw usageError(`${dir}/bisect.json is not a krepro bisection state`);
  }
  if (!state) throw usageError(`no bisection to resume in ${dir}: pass the bisect-<id> dir that holds bisect.json`);
  if (o.jobs !== undefined) {
    if (!(Number.isInteger(o.jobs) && o.jobs >= 1)) throw usageError(`--jobs ${o.jobs}: give a positive integer (VMs at once)`);
    state.jobs = o.jobs;
  }
  return drive(dir, state, envFactory, log);
}

async function ensureWorktree(tree: string, worktree: string, at: string): Promise<void> {
  if (await exists(join(worktree, '.git'))) return;
  await git(tree, ['worktree', 'prune'], { reject: false });
  await mkdir(join(worktree, '..'), { recursive: true });
  await git(tree, ['worktree', 'add', '--detach', '--no-checkout', worktree, at]);
}

async function drive(dir: string, state: BisectState, envFactory: EnvFactory, log?: (l: string) => void): Promise<BisectReport> {
  const tree = state.meta.tree as string;
  const worktree = state.meta.worktree as string;
  const oldEnd = state.fixed ? state.bad : state.good;
  const newEnd = state.fixed ? state.good : state.bad;
  await ensureWorktree(tree, worktree, state.bad);
  const session = new GitSession(worktree, oldEnd, newEnd, state.fixed);
  const topology = new GitTopology(tree, oldEnd, newEnd, state.fixed);
  const env = await envFactory({ tree, outDir: dir, envConfig: (state.meta.env as Record<string, unknown>) ?? {} });
  const logFile = join(dir, 'bisect.log');
  const origMark = session.mark.bind(session);
  // Keep bisect.log current after every decision.
  session.mark = async (m) => {
    const n = await origMark(m);
    await writeFileAtomic(logFile, await session.log());
    return n;
  };
  try {
    await runBisection({
      state,
      env,
      session,
      topology,
      save: (s) => writeJsonAtomic(join(dir, 'bisect.json'), s),
      log,
    });
  } finally {
    const l = await session.log();
    if (l) await writeFileAtomic(logFile, l);
  }
  const report = await buildReport(dir, state, tree, logFile);
  await fsWriteFile(join(dir, 'summary.txt'), report.text + '\n');
  await session.reset();
  await git(tree, ['worktree', 'remove', '--force', worktree], { reject: false });
  return report;
}

export function stepTable(state: BisectState): StepRow[] {
  return state.order.map((c) => {
    const rec = state.commits[c];
    const k = countRuns(rec.runs, state.signature, { evidence: state.evidence });
    return {
      commit: c,
      role: rec.role,
      runs: rec.runs.length,
      matching: k.matching,
      unrelated: k.unrelated,
      decision: rec.decision ?? 'undecided',
      pBuggy: rec.pBuggy ?? null,
      reason: rec.reason ?? '',
    };
  });
}

async function buildReport(dir: string, state: BisectState, tree: string, logFile: string): Promise<BisectReport> {
  const a = state.answer;
  const culprit = a?.commit && /^[0-9a-f]{40}$/.test(a.commit) ? await commitInfo(tree, a.commit) : null;
  const table = stepTable(state);
  const totalRuns = table.reduce((s, r) => s + r.runs, 0);
  const subjects = new Map<string, string>();
  for (const r of table) subjects.set(r.commit, (await commitInfo(tree, r.commit)).subject);
  const what = state.fixed ? 'first fixed commit' : 'first bad commit';
  const lines: string[] = [];
  if (a?.kind === 'found' && culprit) {
    lines.push(`${what}: ${culprit.hash}`);
    lines.push(`  ${culprit.subject}`);
    lines.push(`  author ${culprit.author}, ${culprit.date}`);
    lines.push(`confidence ${(a.confidence * 100).toFixed(1)}% (posterior given all runs; reproduction rate ~${a.rate.toFixed(2)})`);
  } else if (a) {
    lines.push(`inconclusive: the ${what} could be any of (skipped commits):`);
    for (const c of a.candidates) lines.push(`  ${c.commit}  P ${fmtP(c.p)}`);
  }
  lines.push(`signature: ${describeSignature(state.signature)}`);
  lines.push(`${table.length} commits tested, ${totalRuns} runs, ${state.revisions} revision(s)`);
  lines.push('');
  const head = ['commit', 'role', 'runs', 'match', 'unrel', 'decision', 'P(bug)', 'subject'];
  const rows = [head, ...table.map((r) => [
    short(r.commit),
    r.role,
    String(r.runs),
    String(r.matching),
    String(r.unrelated),
    state.fixed && r.decision !== 'skip' && r.decision !== 'undecided' ? (r.decision === 'buggy' ? 'broken' : 'fixed') : r.decision === 'buggy' ? 'bad' : r.decision === 'clean' ? 'good' : r.decision,
    r.pBuggy === null ? '' : fmtP(r.pBuggy),
    (subjects.get(r.commit) ?? '').slice(0, 50),
  ])];
  const w = head.map((_, i) => Math.max(...rows.map((r) => r[i].length)));
  for (const r of rows) lines.push(r.map((c, i) => c.padEnd(w[i])).join('  ').trimEnd());
  lines.push('');
  lines.push(`bisect.log (git bisect replay): ${logFile}`);
  return {
    dir,
    state,
    culprit,
    confidence: a?.confidence ?? 0,
    table,
    totalRuns,
    commitsTested: table.length,
    logFile,
    text: lines.join('\n'),
  };
}

