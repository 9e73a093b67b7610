import { git, isAncestor } from '../source/git.ts';
import { KreproError } from '../util/errors.ts';
import type { ClassInfo, Mark, Next, SearchSession, Topology } from './types.ts';

/**
 * git's own bisect, run in a dedicated worktree with --no-checkout (the
 * build stage checks out what it builds; the bisection only needs git's
 * choice of the next commit and its log). The user's checkout is not touched:
 * bisect state is per worktree.
 */
export class GitSession implements SearchSession {
  constructor(
    readonly worktree: string,
    /** old endpoint: good (cause) or the reproducing one (fix) */
    readonly oldEnd: string,
    readonly newEnd: string,
    readonly fixed: boolean,
  ) {}

  private termName(t: Mark['term']): string {
    if (t === 'skip') return 'skip';
    if (this.fixed) return t === 'old' ? 'broken' : 'fixed';
    return t === 'old' ? 'good' : 'bad';
  }

  async restart(marks: Mark[]): Promise<Next> {
    await git(this.worktree, ['bisect', 'reset'], { reject: false });
    const terms = this.fixed ? ['--term-old=broken', '--term-new=fixed'] : [];
    const r = await git(this.worktree, ['bisect', 'start', '--no-checkout', ...terms, this.newEnd, this.oldEnd], { reject: false });
    let next = await this.parse(r.stdout, r.stderr, r.exitCode, 'start');
    for (const m of marks) next = await this.mark(m);
    return next;
  }

  async mark(m: Mark): Promise<Next> {
    const r = await git(this.worktree, ['bisect', this.termName(m.term), m.commit], { reject: false });
    return this.parse(r.stdout, r.stderr, r.exitCode, `${this.termName(m.term)} ${m.commit}`);
  }

  /** The log `git bisect replay` accepts. */
  async log(): Promise<string> {
    const r = await git(this.worktree, ['bisect', 'log'], { reject: false });
    return r.exitCode === 0 ? r.stdout + '\n' : '';
  }

  async reset(): Promise<void> {
    await git(this.worktree, ['bisect', 'reset'], { reject: false });
  }

  private async parse(stdout: string, stderr: string, code: number, what: string): Promise<Next> {
    const first = /^([0-9a-f]{40}) is the first \S+ commit/m.exec(stdout);
    if (first) return { kind: 'done', first: first[1] };
    if (/only 'skip'ped commits left to test/.test(stdout + stderr)) {
      const text = stdout + '\n' + stderr;
      const after = text.slice(text.indexOf('could be any of'));
      const cands = [...after.matchAll(/^([0-9a-f]{40})$/gm)].map((x) => x[1]);
      return { kind: 'ambiguous', candidates: cands };
    }
    if (code !== 0) {
      const msg = (stderr || stdout).split('\n').find((l) => l.trim()) ?? `exit ${code}`;
      throw new KreproError('infra', `git bisect ${what} failed in ${this.worktree}: ${msg}`);
    }
    const head = await git(this.worktree, ['rev-parse', '--verify', 'BISECT_HEAD'], { reject: false });
    if (head.exitCode !== 0) throw new KreproError('infra', `git bisect ${what}: no commit to test next in ${this.worktree}`);
    return { kind: 'test', commit: head.stdout.trim() };
  }
}

/**
 * Candidates are the commits in old..new (git rev-list); a candidate k
 * would make tested commit c buggy when k is in c's history (cause) or not
 * (fix). Candidates every tested commit treats alike form a class.
 */
export class GitTopology implements Topology {
  private candidates: string[] | null = null;
  private anc = new Map<string, Set<string>>();

  constructor(readonly repo: string, readonly oldEnd: string, readonly newEnd: string, readonly fixed: boolean) {}

  private async revList(tip: string): Promise<string[]> {
    const r = await git(this.repo, ['rev-list', `${this.oldEnd}..${tip}`]);
    return r.stdout.split('\n').filter(Boolean);
  }

  async range(): Promise<string[]> {
    if (!this.candidates) this.candidates = await this.revList(this.newEnd);
    return this.candidates;
  }

  private async ancestors(c: string): Promise<Set<string>> {
    let s = this.anc.get(c);
    if (!s) {
      s = c === this.oldEnd ? new Set() : new Set(await this.revList(c));
      this.anc.set(c, s);
    }
    return s;
  }

  async contains(c: string, k: string): Promise<boolean> {
    if (c === k) return true;
    return isAncestor(this.repo, k, c);
  }

  async classes(tested: string[]): Promise<ClassInfo[]> {
    const cands = await this.range();
    const sets = await Promise.all(tested.map((c) => this.ancestors(c)));
    const groups = new Map<string, string[]>();
    for (const k of cands) {
      const key = sets.map((s) => (s.has(k) !== this.fixed ? '1' : '0')).join('');
      let g = groups.get(key);
      if (!g) groups.set(key, (g = []));
      g.push(k);
    }
    const out: ClassInfo[] = [];
    for (const [key, members] of groups) {
      const set = new Set(members);
      out.push({
        prior: members.length,
        buggyAt: [...key].map((ch) => ch === '1'),
        has: (x) => set.has(x),
        // rev-list lists newest first; the oldest members come last
        members: (limit) => members.slice(-limit).reverse(),
      });
    }
    out.push({ prior: 1, buggyAt: tested.map(() => true), has: () => false, members: () => [] });
    return out;
  }
}
