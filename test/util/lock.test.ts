import { describe, it, expect } from 'vitest';
import { mkdtemp, mkdir, utimes, writeFile, readdir } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { acquireLock, tryLock, STALE_MS } from '../../src/util/lock.ts';
import { allocateCid } from '../../src/vm/cid.ts';
import { PROJECT_ROOT } from '../../src/util/paths.ts';

const tmp = () => mkdtemp(join(tmpdir(), 'krepro-lock-'));
const ageLock = async (p: string, ms: number) => {
  const t = new Date(Date.now() - ms);
  await utimes(p, t, t);
};

describe('locks (proper-lockfile)', () => {
  it('a second taker waits for the release, saying once who holds it', async () => {
    const d = await tmp();
    const p = join(d, 'locks', 'build-k.lock');
    const a = await acquireLock(p);
    const said: string[] = [];
    let got = false;
    const b = acquireLock(p, { onWait: (w) => said.push(w), pollMs: 20 }).then((l) => { got = true; return l; });
    await new Promise((r) => setTimeout(r, 150));
    expect(got).toBe(false);
    expect(said).toEqual(['this krepro']);
    await a.release();
    const lb = await b;
    expect(got).toBe(true);
    await lb.release();
    expect(existsSync(p)).toBe(false);
  });

  it('a lock not refreshed for longer than STALE_MS (its holder died) is taken over; a fresh one is not', async () => {
    const d = await tmp();
    const p = join(d, 'x.lock');
    await mkdir(p);
    expect(await tryLock(p)).toBeNull();
    await ageLock(p, STALE_MS + 5_000);
    const l = await tryLock(p);
    expect(l).not.toBeNull();
    await l!.release();
  });

  it('an abort while waiting is an infra error naming the lock', async () => {
    const d = await tmp();
    const p = join(d, 'y.lock');
    const a = await acquireLock(p);
    const ac = new AbortController();
    const w = acquireLock(p, { signal: ac.signal, pollMs: 10 });
    ac.abort();
    await expect(w).rejects.toThrow(/interrupted while waiting for .*y\.lock/);
    await a.release();
  });

  it('a pid-file lock of an older krepro is honoured while its pid lives, taken once it is dead', async () => {
    const d = await tmp();
    const p = join(d, 'old.lock');
    const sleeper = execa('sleep', ['30']);
    await writeFile(p, String(sleeper.pid));
    expect(await tryLock(p)).toBeNull();
    sleeper.kill('SIGKILL');
    await sleeper.catch(() => {});
    const l = await tryLock(p);
    expect(l).not.toBeNull();
    await l!.release();
  });

  it('of 6 processes racing for one stale lock, one holds it at a time', async () => {
    const d = await tmp();
    const p = join(d, 'race.lock');
    const go = join(d, 'go');
    await mkdir(p);
    await ageLock(p, STALE_MS * 2);
    const workers = Array.from({ length: 6 }, () =>
      execa('node', [join(PROJECT_ROOT, 'bin/run-ts.mjs'), join(PROJECT_ROOT, 'test/util/lock-worker.ts'), p, go], { reject: false }));
    // Let every worker start and poll for the go file, then release them together.
    await new Promise((r) => setTimeout(r, 4000));
    await writeFile(go, '');
    const res = await Promise.all(workers);
    const outs = res.map((r) => r.stdout.trim());
    expect(res.filter((r) => r.exitCode !== 0).map((r) => r.stderr)).toEqual([]);
    // One takes the stale lock over; a worker the loaded host started late may take it after the release.
    const holds = outs.filter((o) => o.startsWith('won ')).map((o) => o.split(' ').slice(1).map(Number)).sort((x, y) => x[0] - y[0]);
    expect(holds.length).toBeGreaterThanOrEqual(1);
    expect(holds.length + outs.filter((o) => o === 'lost').length).toBe(6);
    for (let i = 1; i < holds.length; i++) expect(holds[i][0], 'two holds overlap').toBeGreaterThanOrEqual(holds[i - 1][1]);
  }, 60_000);
});

describe('vsock CIDs', () => {
  it('are unique among live holders, reused after release, and a stale holder\'s CID is taken over', async () => {
    const d = await tmp();
    const a = await allocateCid(d, 3, 5);
    const b = await allocateCid(d, 3, 5);
    expect(a.cid).not.toBe(b.cid);
    await a.release();
    const c = await allocateCid(d, 3, 5);
    expect(c.cid).not.toBe(b.cid);
    const e = await allocateCid(d, 3, 5);
    expect(new Set([b.cid, c.cid, e.cid]).size).toBe(3);
    await expect(allocateCid(d, 3, 5)).rejects.toThrow(/no free vsock CID in 3-5/);
    await Promise.all([b.release(), c.release(), e.release()]);
    expect((await readdir(d)).filter((f) => f.endsWith('.lock'))).toEqual([]);
    // Locks left by a dead krepro (not refreshed for minutes) are stale.
    for (const cid of [3, 4, 5]) {
      await mkdir(join(d, `${cid}.lock`));
      await ageLock(join(d, `${cid}.lock`), STALE_MS * 3);
    }
    const f = await allocateCid(d, 3, 5);
    expect([3, 4, 5]).toContain(f.cid);
    await f.release();
  });
});
