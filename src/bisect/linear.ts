import type { ClassInfo, Mark, Next, SearchSession, Topology } from './types.ts';

/**
 * A linear history of commits 0..n in memory: commit "0" is the old
 * endpoint, "n" the new one. Used by the simulator; it picks the next commit
 * the way git bisect does on a linear history (the candidate that best
 * halves the remaining range; a skipped commit is replaced by the closest
 * untested one), so the simulated costs are those of the real search.
 */
export class LinearHistory implements SearchSession, Topology {
  private lo = 0;
  private hi: number;
  private skipped = new Set<number>();

  constructor(readonly n: number, readonly fixed = false, readonly outsidePrior = 1) {
    this.hi = n;
  }

  async restart(marks: Mark[]): Promise<Next> {
    this.lo = 0;
    this.hi = this.n;
    this.skipped.clear();
    let next = this.next();
    for (const m of marks) next = this.markNow(m);
    return next;
  }

  async mark(m: Mark): Promise<Next> {
    return this.markNow(m);
  }

  markNow(m: Mark): Next {
    const c = Number(m.commit);
    if (m.term === 'old') this.lo = Math.max(this.lo, c);
    else if (m.term === 'new') this.hi = Math.min(this.hi, c);
    else this.skipped.add(c);
    return this.next();
  }

  next(): Next {
    if (this.hi - this.lo <= 1) return { kind: 'done', first: String(this.hi) };
    const mid = this.lo + Math.floor((this.hi - this.lo) / 2);
    for (let d = 0; d < this.hi - this.lo; d++) {
      for (const c of [mid - d, mid + d]) {
        if (c > this.lo && c < this.hi && !this.skipped.has(c)) return { kind: 'test', commit: String(c) };
      }
    }
    const cands: string[] = [];
    for (let c = this.lo + 1; c <= this.hi; c++) cands.push(String(c));
    return { kind: 'ambiguous', candidates: cands };
  }

  async contains(c: string, k: string): Promise<boolean> {
    return Number(k) <= Number(c);
  }

  /**
   * Candidates are commits 1..n (the first new commit) plus "outside": the
   * old endpoint already has the bug (cause) or the new one still has it (fix).
   * Commits k in (t_i, t_{i+1}] between sorted tested commits form one class.
   */
  async classes(tested: string[]): Promise<ClassInfo[]> {
    const pos = tested.map(Number);
    const cuts = [...new Set(pos.filter((p) => p >= 1 && p <= this.n))].sort((a, b) => a - b);
    if (cuts[cuts.length - 1] !== this.n) cuts.push(this.n);
    const out: ClassInfo[] = [];
    let prev = 0;
    for (const t of cuts) {
      const lo = prev + 1;
      const hi = t;
      prev = t;
      if (hi < lo) continue;
      // culprit k in [lo, hi]: commit c contains it iff c >= k, i.e. c >= hi for the whole class
      const buggyAt = pos.map((c) => (c >= hi) !== this.fixed);
      out.push({
        prior: hi - lo + 1,
        buggyAt,
        has: (x) => Number(x) >= lo && Number(x) <= hi && /^\d+$/.test(x),
        members: (limit) => range(lo, Math.min(hi, lo + limit - 1)).map(String),
      });
    }
    out.push({
      prior: this.outsidePrior,
      buggyAt: pos.map(() => true),
      has: () => false,
      members: () => [],
    });
    return out;
  }
}

function range(a: number, b: number): number[] {
  const r: number[] = [];
  for (let i = a; i <= b; i++) r.push(i);
  return r;
}
