import { describe, it, expect } from 'vitest';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { classify, classifyLines } from '../../src/console/classify.ts';
import { LineDetector } from '../../src/console/detect.ts';
import { decodeLog, splitLines } from '../../src/console/normalize.ts';
import { QEMU_DIR, loadCorpus } from './corpus.ts';

/**
 * Mutated real logs: truncated, interleaved, sprinkled with random bytes,
 * NULs and carriage returns, cut lines, one huge line. The classifier core
 * (not the catch-all wrapper) must not throw, must keep its invariants, and
 * must stay linear in the input size.
 */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const logs: Buffer[] = [
  ...loadCorpus().map((c) => Buffer.from(c.log)),
  ...readdirSync(QEMU_DIR).map((f) => readFileSync(join(QEMU_DIR, f))),
];

function mutate(r: () => number, a: Buffer, b: Buffer): Buffer {
  const pick = (n: number) => Math.floor(r() * n);
  let out = a;
  const ops = 1 + pick(3);
  for (let k = 0; k < ops; k++) {
    switch (pick(7)) {
      case 0: // truncate
        out = out.subarray(0, pick(out.length + 1));
        break;
      case 1: {
        // interleave two logs line by line (two CPUs printing at once)
        const la = out.toString('latin1').split('\n');
        const lb = b.toString('latin1').split('\n');
        const merged: string[] = [];
        while (la.length || lb.length) merged.push(((r() < 0.5 && la.length) || !lb.length ? la : lb).shift()!);
        out = Buffer.from(merged.join('\n'), 'latin1');
        break;
      }
      case 2: {
        // random bytes, NULs, \r, high bytes
        const bytes = Buffer.from(out);
        for (let i = 0, n = 1 + pick(64); i < n && bytes.length; i++) bytes[pick(bytes.length)] = [0, 13, 255, 0xc3, pick(256)][pick(5)]!;
        out = bytes;
        break;
      }
      case 3: {
        // one huge line in the middle
        const at = pick(out.length + 1);
        const filler = [Buffer.alloc(200_000, 'A'), Buffer.alloc(200_000, ' at x.c:1 f+'), Buffer.alloc(100_000, 'BUG: WARNING: ')][pick(3)]!;
        out = Buffer.concat([out.subarray(0, at), filler, out.subarray(at)]);
        break;
      }
      case 4: {
        // lines cut by other output: split random lines in two
        const lines = out.toString('latin1').split('\n');
        for (let i = 0, n = 1 + pick(20); i < n && lines.length; i++) {
          const j = pick(lines.length);
          const l = lines[j]!;
          const c = pick(l.length + 1);
          lines.splice(j, 1, l.slice(0, c), l.slice(c));
        }
        out = Buffer.from(lines.join('\n'), 'latin1');
        break;
      }
      case 5: // concatenate another log
        out = Buffer.concat([out, b]);
        break;
      default: {
        // drop a random block of lines
        const lines = out.toString('latin1').split('\n');
        const i = pick(lines.length);
        lines.splice(i, pick(40));
        out = Buffer.from(lines.join('\n'), 'latin1');
      }
    }
  }
  return out;
}

const PRINTABLE = /^[\x20-\x7e]*$/;

describe('classifier fuzz', () => {
  it('thousands of mutated logs: no throw, sane reports', () => {
    const r = rng(20260227);
    const N = 2000;
    let reports = 0;
    for (let i = 0; i < N; i++) {
      const a = logs[Math.floor(r() * logs.length)]!;
      const b = logs[Math.floor(r() * logs.length)]!;
      const input = mutate(r, a, b);
      const lines = splitLines(decodeLog(input));
      const reps = classifyLines(lines); // the core, without the catch-all wrapper
      reports += reps.length;
      let prev = -1;
      for (const rep of reps) {
        expect(rep.title.length).toBeGreaterThan(0);
        expect(rep.title.length).toBeLessThanOrEqual(120);
        expect(rep.title).toMatch(PRINTABLE);
        expect(rep.type.length).toBeGreaterThan(0);
        expect(rep.startLine).toBeGreaterThan(prev);
        expect(rep.endLine).toBeGreaterThan(rep.startLine);
        expect(rep.endLine).toBeLessThanOrEqual(lines.length);
        prev = rep.startLine;
      }
      // the live detector fires on every report start (and, unlike the
      // classifier, cannot look ahead for a replayed line)
      if (i % 10 === 0) {
        const d = new LineDetector();
        const fired = new Set(lines.flatMap((l, k) => (d.push(l) ? [k] : [])));
        for (const x of reps) expect(fired.has(x.startLine)).toBe(true);
      }
    }
    expect(reports).toBeGreaterThan(N / 2);
  });

  it('odd inputs', () => {
    for (const x of ['', '\n', '\r\r\r', '\0\0\0', 'BUG:', 'WARNING:\n', '[ 1.0] ', 'INFO: task', 'Call Trace:\n ? \n', '\u{1F600}BUG: x']) {
      expect(() => classifyLines(splitLines(decodeLog(x)))).not.toThrow();
    }
    expect(classify(new Uint8Array([0xff, 0xfe, 0x42, 0x55, 0x47, 0x3a, 0x0a]))).toHaveLength(1);
  });

  it('linear time: 4x input takes well under 16x time', () => {
    const base = Buffer.concat(logs.slice(0, 200));
    // the fastest of 5 runs: least disturbed by other load on the machine
    const best = (f: () => void) => {
      let m = Infinity;
      for (let i = 0; i < 5; i++) {
        const t0 = performance.now();
        f();
        m = Math.min(m, performance.now() - t0);
      }
      return m;
    };
    const inputs: [string, (k: number) => string][] = [
      ['corpus logs', (k) => Buffer.concat(Array(k).fill(base)).toString('latin1')],
      ['one huge line', (k) => 'BUG: soft lockup '.repeat(k * 60_000)],
      ['many report headers', (k) => '[ 1.0] WARNING: CPU: 0 PID: 1 at a.c:1 f+0x1/0x2 at b.c:2 g+\n'.repeat(k * 36_000)],
      ['many frames', (k) => ('[ 1.0] INFO: task a:1 blocked for more than 5 seconds.\n[ 1.0] Call Trace:\n' + '[ 1.0]  f+0x1/0x2\n'.repeat(3000)).repeat(k * 16)],
      ['pathological title text', (k) => ('[ 1.0] WARNING: ' + ' at '.repeat(300) + 'x'.repeat(200) + '\n').repeat(k * 600)],
    ];
    for (const [name, make] of inputs) {
      const small = make(1);
      const big = make(4);
      classify(small); // warm up the JIT
      const t1 = best(() => classify(small));
      const t4 = best(() => classify(big));
      const ratio = t4 / Math.max(t1, 1);
      console.log(`${name}: ${(small.length / 1e6).toFixed(1)} MB ${t1.toFixed(0)} ms, 4x ${t4.toFixed(0)} ms, ratio ${ratio.toFixed(1)}`);
      // linear is 4; allow GC and noise from a loaded machine, catch quadratic (16)
      expect(ratio, name).toBeLessThan(12);
    }
  });
});
