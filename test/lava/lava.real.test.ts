import { describe, it, expect, beforeAll } from 'vitest';
import { execa } from 'execa';
import { mkdtemp, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PROJECT_ROOT } from '../../src/util/paths.ts';
import { cachedBuild } from '../helpers/real.ts';
import type { BuildResult } from '../../src/build/types.ts';

// `krepro lava-job --run`: the job definition run by Debian's lava-run
// (lava-dispatcher 2023.01, which scripts/setup installs) on a local qemu
// device dictionary, its log judged by krepro import-lava.
const krepro = (args: string[], env: Record<string, string> = {}) =>
  execa('node', [join(PROJECT_ROOT, 'bin/krepro.mjs'), ...args], { reject: false, env: { ...process.env, ...env }, cwd: PROJECT_ROOT });

let kernel: BuildResult;
let dir: string;
beforeAll(async () => {
  const v = await execa('lava-run', ['--help'], { reject: false });
  expect(v.exitCode, 'lava-run missing: run scripts/setup (apt-get install lava-dispatcher)').toBe(0);
  kernel = await cachedBuild({});
  dir = await mkdtemp(join(tmpdir(), 'krepro-lava-real-'));
});

const last = (s: string) => JSON.parse(s.trim().split('\n').pop()!);

describe('LAVA jobs through lava-run', () => {
  it('the soft-lockup self-test kernel: LAVA boots it, our verdict is reproduced', async () => {
    const t0 = Date.now();
    const r = await krepro(['lava-job', '--kernel', kernel.bzImage, '--self-test', 'soft-lockup', '--cpus', '2', '-o', join(dir, 'lockup', 'job.yaml'), '--run', '--results', dir, '--json']);
    console.log(r.stderr.slice(-1000));
    const out = last(r.stdout);
    console.log(JSON.stringify({ ...out, wallMs: Date.now() - t0 }));
    expect(r.exitCode).toBe(1);
    expect(out.verdict).toBe('reproduced');
    expect(out.title).toMatch(/^BUG: soft lockup/);
    const log = await readFile(join(out.dir, 'lava.log'), 'utf8');
    expect(log).toMatch(/"case": "execute-qemu"/);             // LAVA itself started QEMU
    expect(log).toMatch(/ok: start string found, lava test monitoring started/);
  });

  it('a clean run: the workload ends, guest/init powers off, LAVA\'s monitor sees the end, not reproduced', async () => {
    const t0 = Date.now();
    const r = await krepro(['lava-job', '--kernel', kernel.bzImage, '--duration', '5', '--cpus', '2', '-o', join(dir, 'clean', 'job.yaml'), '--run', '--results', dir, '--json']);
    const out = last(r.stdout);
    console.log(JSON.stringify({ ...out, wallMs: Date.now() - t0 }));
    expect(r.exitCode, r.stderr).toBe(0);
    expect(out.verdict).toBe('not-reproduced');
    const rec = JSON.parse(await readFile(join(out.dir, 'run.json'), 'utf8'));
    expect(rec.workload.heartbeats).toBeGreaterThanOrEqual(4);
    expect(await readFile(join(out.dir, 'lava.log'), 'utf8')).toMatch(/ok: end string found, lava test monitoring stopped/);
  });

  it('bad input: lava-run missing, a log that is not LAVA\'s', async () => {
    const miss = await krepro(['lava-job', '--kernel', kernel.bzImage, '--duration', '5', '-o', join(dir, 'm', 'job.yaml'), '--run', '--results', dir], { KREPRO_LAVA_RUN: '/nonexistent/lava-run' });
    expect(miss.exitCode).toBe(255);
    expect(miss.stderr.trim().split('\n').pop()).toMatch(/^krepro: \/nonexistent\/lava-run not found: install Debian's lava-dispatcher/);
    const notLava = await krepro(['import-lava', join(PROJECT_ROOT, 'README.md'), '--results', dir]);
    expect(notLava.exitCode).toBe(255);
    expect(notLava.stderr.trim().split('\n')).toHaveLength(1);
    expect(notLava.stderr).toMatch(/is not a LAVA job log/);
  });
});
