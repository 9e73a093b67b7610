import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { buildGuestBinaries, type GuestBinaries } from '../../src/image/guest-binaries.ts';
import { elfFacts } from '../../src/image/elf.ts';

// Parse `krepro-hb t=1 spawns=3 ...` / `krepro-done rc=0 ...` lines into numbers.
function fields(line: string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const m of line.matchAll(/(\w+)=(-?[\d.]+)/g)) out[m[1]] = Number(m[2]);
  return out;
}

let cache: string;
let bins: GuestBinaries;

beforeAll(async () => {
  cache = await mkdtemp(join(tmpdir(), 'krepro-image-test-'));
  bins = await buildGuestBinaries({ cacheDir: cache });
}, 120_000);
afterAll(async () => {
  await rm(cache, { recursive: true, force: true });
});

describe('buildGuestBinaries', () => {
  it('compiles static x86-64 executables and caches them by content', async () => {
    expect(bins.cached).toBe(false);
    for (const p of [bins.workload, bins.modload]) {
      const f = elfFacts(await readFile(p));
      expect(f).not.toBeNull();
      expect(f!.interpreter).toBeNull();
      expect(f!.machine).toBe(62);
    }
    const again = await buildGuestBinaries({ cacheDir: cache });
    expect(again).toEqual({ ...bins, cached: true });
  });

  it('a dynamically linked binary is told apart from a static one', async () => {
    const f = elfFacts(await readFile(process.execPath));
    expect(f?.interpreter).toMatch(/ld-linux/);
  });
});

describe('workload on the host', () => {
  it('runs for the duration with heartbeats and growing counters; vsock errors are counted, not fatal', async () => {
    const summary = join(cache, 'summary.txt');
    const t0 = Date.now();
    const r = await execa(bins.workload, ['--duration', '3', '--threads', '4', '--summary', summary], {
      reject: false,
      timeout: 30_000,
    });
    const wall = Date.now() - t0;
    expect(r.exitCode).toBe(0);
    const lines = r.stdout.split('\n');
    const hbs = lines.filter((l) => l.startsWith('krepro-hb ')).map(fields);
    expect(hbs.map((h) => h.t)).toEqual([1, 2, 3]);
    for (const l of lines.filter((l) => l.startsWith('krepro-hb '))) {
      expect(l).toMatch(/^krepro-hb t=\d+ spawns=\d+ forks=\d+ vforks=\d+ threads=\d+ accepts=\d+ connects=\d+ cells=\d+$/);
    }
    for (const k of ['spawns', 'forks', 'vforks', 'threads']) {
      expect(hbs[0][k], k).toBeGreaterThan(0);
      expect(hbs[2][k], k).toBeGreaterThan(hbs[0][k]);
    }
    const done = lines.find((l) => l.startsWith('krepro-done '));
    expect(done).toBeDefined();
    const d = fields(done!);
    expect(d.rc).toBe(0);
    expect(d.spawns).toBeGreaterThanOrEqual(hbs[2].spawns);
    // errors = the sum of the per-kind counts
    const kinds = Object.entries(d).filter(([k]) => k.endsWith('_errors'));
    expect(kinds.length).toBe(7);
    expect(kinds.reduce((s, [, v]) => s + v, 0)).toBe(d.errors);
    expect(d.spawn_errors + d.fork_errors + d.vfork_errors).toBe(0);
    // it stops on time even when vsock connects hang without a transport
    expect(wall).toBeLessThan(8_000);
    expect((await readFile(summary, 'utf8')).trim()).toMatch(/^krepro-done rc=0 /);
  });

  it('--no-vsock runs no listener/client; --child exits at once; bad options exit 2', async () => {
    const r = await execa(bins.workload, ['--duration', '1', '--threads', '2', '--no-vsock'], { reject: false });
    expect(r.exitCode).toBe(0);
    const d = fields(r.stdout.split('\n').find((l) => l.startsWith('krepro-done '))!);
    expect(d.accepts + d.connects + d.connect_errors + d.listen_errors).toBe(0);
    expect((await execa(bins.workload, ['--child'], { reject: false })).exitCode).toBe(0);
    const bad = await execa(bins.workload, ['--threads', 'x'], { reject: false });
    expect(bad.exitCode).toBe(2);
    expect(bad.stderr).toMatch(/bad value for --threads/);
    expect((await execa(bins.workload, ['--frobnicate'], { reject: false })).exitCode).toBe(2);
  });

  it('--conn answers one line on stdin/stdout, like the per-connection child', async () => {
    const r = await execa(bins.workload, ['--conn'], { input: 'ping\n', reject: false });
    expect(r.exitCode).toBe(0);
    expect(r.stdout).toBe('pong');
  });
});

describe('modload', () => {
  it('reports usage and open errors without calling the kernel', async () => {
    const usage = await execa(bins.modload, [], { reject: false });
    expect(usage.exitCode).toBe(2);
    expect(usage.stderr).toMatch(/usage: modload PATH/);
    const missing = await execa(bins.modload, ['/nonexistent/test_lockup.ko', 'time_secs=1'], { reject: false });
    expect(missing.exitCode).toBe(2);
    expect(missing.stdout).toMatch(/open\(\/nonexistent\/test_lockup.ko\): No such file/);
  });

  it('calls finit_module exactly once and reports the refusal of a non-module', async () => {
    // The host kernel rejects a non-ELF file (or the caller lacks CAP_SYS_MODULE).
    const notModule = join(cache, 'not-a-module.ko');
    await writeFile(notModule, 'not an elf');
    const r2 = await execa(bins.modload, [notModule, 'a=1'], { reject: false });
    expect(r2.exitCode).toBe(1);
    const calls = r2.stdout.split('\n').filter((l) => l.includes('finit_module('));
    expect(calls).toHaveLength(1);
    expect(calls[0]).toMatch(/finit_module\(.*not-a-module\.ko, "a=1"\) = -1 \((Exec format error|Operation not permitted|Invalid argument|Function not implemented)\)/);
  });
});
