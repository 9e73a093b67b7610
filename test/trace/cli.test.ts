import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { execa } from 'execa';
import { describe, expect, it } from 'vitest';
import { summarizeAnalysis, analyzeText } from '../../src/trace/analyze.ts';
import { TraceWriter } from './traces.ts';

const KREPRO = fileURLToPath(new URL('../../bin/krepro.mjs', import.meta.url));
const SEED = fileURLToPath(new URL('../../../shared/seeds/000_470b5232869457b7.txt', import.meta.url));
const krepro = (...args: string[]) => execa('node', [KREPRO, ...args], { reject: false });

describe('krepro analyze', () => {
  it('prints the finding on the seed and exits 1', async () => {
    const r = await krepro('analyze', SEED);
    expect(r.exitCode).toBe(1);
    expect(r.stdout).toContain('fixup-missed-task  mm 000000002b3f8459  pid 73  CID 00000003');
  });
  it('--json prints one object with the anomaly fields', async () => {
    const r = await krepro('analyze', '--json', '--cpus', '4', SEED);
    const j = JSON.parse(r.stdout);
    expect(j.anomalies).toHaveLength(1);
    const a = j.anomalies[0];
    for (const k of ['kind', 'mm', 'pid', 'cid', 'cpu', 'time', 'lines', 'message']) expect(a).toHaveProperty(k);
    expect(j.cpusSource).toBe('option');
    expect(j.mms[0].crossUp).toBe(1);
  });
  it('exits 0 on a clean trace and 255 on a missing file', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'krepro-analyze-'));
    const file = join(dir, 'trace.txt');
    const w = new TraceWriter('tracefs');
    w.userAdd(1, 0, 1, 1, '00000000deadbeef').getcid(1, 0, '00000000deadbeef', 0).cpuCid(1, 0, 0, 0, '00000000deadbeef');
    writeFileSync(file, w.text());
    const ok = await krepro('analyze', file);
    expect(ok.exitCode).toBe(0);
    expect(ok.stdout).toContain('no anomalies');
    const bad = await krepro('analyze', join(dir, 'nope.txt'));
    expect(bad.exitCode).toBe(255);
    expect(bad.stderr).toMatch(/^krepro: cannot read .*nope.txt/);
  });
});

describe('summarizeAnalysis', () => {
  it('keeps findings and exercise counts, drops the evidence lines', () => {
    const s = summarizeAnalysis(analyzeText(readFileSync(SEED, 'utf8')));
    expect(s.anomalies).toEqual([expect.objectContaining({ kind: 'fixup-missed-task', pid: 73, cid: 3 })]);
    expect(s.anomalies[0]).not.toHaveProperty('lines');
    expect(s.exercise).toMatchObject({ crossUp: 1, fixupWalks: 1, maxUsers: 5 });
  });
});
