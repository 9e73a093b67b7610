import { describe, it, expect, beforeAll } from 'vitest';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { runKernel } from '../../src/run/run.ts';
import { cachedBuild, touchSchedPatch } from '../helpers/real.ts';
import { PROJECT_ROOT } from '../../src/util/paths.ts';
import type { BuildResult } from '../../src/build/types.ts';

/** Concurrency half of the hardening matrix: two krepro at once on one machine. */
let kernel: BuildResult;
beforeAll(async () => {
  kernel = await cachedBuild({});
});

describe('two krepro at once', () => {
  it('two runs share no run dir and both finish with their own verdict', async () => {
    const results = await mkdtemp(join(tmpdir(), 'krepro-conc-'));
    const [a, b] = await Promise.all([
      runKernel({ prebuilt: kernel, durationSec: 10, cpus: 2, resultsDir: results }),
      runKernel({ prebuilt: kernel, durationSec: 10, cpus: 2, resultsDir: results }),
    ]);
    console.log('concurrent runs', a.verdict, b.verdict, a.dir, b.dir);
    expect(a.dir).not.toBe(b.dir);
    expect(a.verdict).toBe('not-reproduced');
    expect(b.verdict).toBe('not-reproduced');
    // Each QEMU had its own QMP socket and artifact file.
    expect(a.qemu.argv.join(' ')).not.toBe(b.qemu.argv.join(' '));
  });

  it('a second build of the same key waits for the first instead of sharing its dir', async () => {
    const d = await mkdtemp(join(tmpdir(), 'krepro-conc-build-'));
    const p = await touchSchedPatch(d, `concurrency test ${Date.now()}`);
    const build = () => execa('node', [join(PROJECT_ROOT, 'bin/krepro.mjs'), 'build', '--patch', p, '--json'], { reject: false, cwd: PROJECT_ROOT });
    const first = build();
    await new Promise((r) => setTimeout(r, 1500));
    const second = build();
    const [r1, r2] = await Promise.all([first, second]);
    expect(r1.exitCode, r1.stderr).toBe(0);
    expect(r2.exitCode, r2.stderr).toBe(0);
    const j1 = JSON.parse(r1.stdout);
    const j2 = JSON.parse(r2.stdout);
    console.log('concurrent builds', { first: { cached: j1.cached, s: j1.seconds }, second: { cached: j2.cached, s: j2.seconds } });
    expect(j1.key).toBe(j2.key);
    expect([j1.cached, j2.cached].sort()).toEqual([false, true]);
    expect(r2.stderr + r1.stderr).toMatch(/waiting for pid \d+, which is using the checkout/);
  });
});
