import { describe, it, expect, beforeAll } from 'vitest';
import { execa } from 'execa';
import { mkdtemp, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PROJECT_ROOT } from '../../src/util/paths.ts';
import { buildReport } from '../../src/report/text.ts';
import { createBundle, verifyBundle } from '../../src/artifacts/bundle.ts';
import { cachedBuild, INJECT_PATCH } from '../helpers/real.ts';

// Real loops through the CLI: one build (from the cache), real QEMU boots.
const krepro = (args: string[], env: Record<string, string> = {}) =>
  execa('node', [join(PROJECT_ROOT, 'bin/krepro.mjs'), ...args], { reject: false, env: { ...process.env, ...env }, cwd: PROJECT_ROOT });

let results: string;
beforeAll(async () => {
  results = await mkdtemp(join(tmpdir(), 'krepro-loop-real-'));
  await cachedBuild({});
});

describe('krepro loop on the default kernel', () => {
  it('2 runs: loop.json, stats, report, bundle, history', async () => {
    const r = await krepro(['loop', '--count', '2', '--duration', '15', '--results', results, '--json']);
    console.log(r.stdout, r.stderr.slice(-2000));
    expect(r.exitCode).toBe(0);
    const out = JSON.parse(r.stdout.trim().split('\n').pop()!);
    expect(out.stats.runs).toBe(2);
    expect(out.stats.valid).toBe(2);
    expect(out.stats.reproduced).toBe(0);
    expect(out.stats.ci[0]).toBe(0);
    expect(out.stats.ci[1]).toBeCloseTo(1.96 ** 2 / (2 + 1.96 ** 2), 3); // Wilson upper bound for 0 of 2: z²/(n+z²) = 0.6576
    const loop = JSON.parse(await readFile(join(out.dir, 'loop.json'), 'utf8'));
    expect(loop.runs.every((x: { timeSec: number }) => x.timeSec > 10)).toBe(true);
    const text = await buildReport(out.dir);
    console.log(text);
    expect(text.split('\n').filter((l) => l.length > 80)).toEqual([]);
    const b = join(results, 'loop.tar.gz');
    await createBundle(out.dir, b, { report: text });
    expect((await verifyBundle(b)).ok).toBe(true);
    const h = await krepro(['history', '--results', results]);
    expect(h.stdout).toContain(loop.config.commit.slice(0, 12));
  });

  it('two shards in parallel processes merge into one loop', async () => {
    const shard = (k: number) => krepro(['loop', '--count', '2', '--duration', '10', '--results', results, '--dir', join(results, `shard${k}`), '--json'],
      { JOB_COMPLETION_INDEX: String(k), KREPRO_SHARD_COUNT: '2' });
    const [a, b] = await Promise.all([shard(0), shard(1)]);
    expect([a.exitCode, b.exitCode]).toEqual([0, 0]);
    const m = await krepro(['merge', join(results, 'shard0'), join(results, 'shard1'), '-o', join(results, 'merged'), '--results', results, '--json']);
    console.log(m.stdout, m.stderr);
    const merged = JSON.parse(m.stdout);
    expect(merged.stats.runs).toBe(2);
    expect(merged.warnings).toEqual([]);
  });
});

describe('krepro loop --jobs on one host', () => {
  it('--jobs 2: two VMs at once, each with its own run dir, QMP socket and vsock CID', async () => {
    const r = await krepro(['loop', '--count', '2', '--jobs', '2', '--cpus', '2', '--duration', '10', '--results', results, '--no-history', '--json']);
    console.log(r.stdout, r.stderr.slice(-1500));
    expect(r.exitCode).toBe(0);
    const out = JSON.parse(r.stdout.trim().split('\n').pop()!);
    const loop = JSON.parse(await readFile(join(out.dir, 'loop.json'), 'utf8'));
    expect(loop.runs).toHaveLength(2);
    expect(loop.runs.map((x: { verdict: string }) => x.verdict)).toEqual(['not-reproduced', 'not-reproduced']);
    const runs = await Promise.all(loop.runs.map(async (x: { dir: string }) => JSON.parse(await readFile(join(out.dir, x.dir, 'run.json'), 'utf8'))));
    expect(new Set(loop.runs.map((x: { dir: string }) => x.dir)).size).toBe(2);
    // they ran at the same time: each started before the other ended
    const span = (x: { startedAt: string; timeSec: number }) => [Date.parse(x.startedAt), Date.parse(x.startedAt) + x.timeSec * 1000];
    const [a, b] = loop.runs.map(span);
    console.log('overlap s', (Math.min(a[1], b[1]) - Math.max(a[0], b[0])) / 1000);
    expect(a[0]).toBeLessThan(b[1]);
    expect(b[0]).toBeLessThan(a[1]);
    const qmp = runs.map((x: { qemu: { argv: string[] } }) => x.qemu.argv[x.qemu.argv.indexOf('-qmp') + 1]);
    expect(qmp[0]).not.toBe(qmp[1]);
    const cids = runs.map((x: { qemu: { argv: string[] } }) => x.qemu.argv.find((v) => v.startsWith('vhost-vsock-pci,')) ?? null);
    if (runs[0].host.vhostVsock) expect(cids[0]).not.toBe(cids[1]);
  });
});

describe('krepro loop on the injected-bug kernel', () => {
  it('sees reproductions: rate, interval and a time-to-failure median', async () => {
    await cachedBuild({ patches: [INJECT_PATCH] });
    const r = await krepro(['loop', '--count', '2', '--duration', '60', '--patch', INJECT_PATCH, '--append', 'mmcid_leak_pct=100', '--results', results, '--json']);
    console.log(r.stdout, r.stderr.slice(-2000));
    const out = JSON.parse(r.stdout.trim().split('\n').pop()!);
    expect(out.stats.reproduced).toBeGreaterThan(0);
    expect(out.stats.ttf.median).toBeGreaterThan(0);
    console.log(await buildReport(out.dir));
  });
});
