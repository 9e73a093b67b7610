/**
 * Real tier for the mmcid tracing:
 * - our 6.12 tracepoint patch applies to the real Debian 6.12 tree, alone and
 *   together with the injected-bug patch in either order (checked against a
 *   scratch index and object dir: the tree is not touched);
 * - a trace.txt from a real run (KREPRO_REAL_TRACE, set by the lead's wiring)
 *   parses, has mmcid events, and shows what the kernel should show:
 *   KREPRO_REAL_EXPECT=clean (normal kernel: zero anomalies) or
 *   KREPRO_REAL_EXPECT=bug (injected CID leak: a cid-leak or cid-exhausted).
 */
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { git } from '../../src/source/git.ts';
import { cacheRoot, PROJECT_ROOT } from '../../src/util/paths.ts';
import { analyzeText } from '../../src/trace/analyze.ts';
import { formatAnalysis } from '../../src/trace/format.ts';

const TREE = process.env.KREPRO_TREE_612 ?? join(cacheRoot(), 'trees', 'debian-linux-source-6.12');
const OURS = join(PROJECT_ROOT, 'patches/6.12/mmcid-tracepoints.patch');
const INJECT = join(PROJECT_ROOT, 'patches/6.12/inject-cid-leak.patch');

describe.skipIf(!existsSync(join(TREE, '.git')))('mmcid-tracepoints.patch on the 6.12 tree', () => {
  /** Apply patches in order to HEAD in a throwaway index; new blobs go to a throwaway object dir. */
  async function applyInOrder(patches: string[]): Promise<string[]> {
    const scratch = mkdtempSync(join(tmpdir(), 'krepro-apply-'));
    mkdirSync(join(scratch, 'objects'));
    const objects = (await git(TREE, ['rev-parse', '--path-format=absolute', '--git-path', 'objects'])).stdout;
    const env = {
      GIT_INDEX_FILE: join(scratch, 'index'),
      GIT_OBJECT_DIRECTORY: join(scratch, 'objects'),
      GIT_ALTERNATE_OBJECT_DIRECTORIES: objects,
    };
    try {
      await git(TREE, ['read-tree', 'HEAD'], { env });
      const errors: string[] = [];
      for (const p of patches) {
        const r = await git(TREE, ['apply', '--cached', p], { env, reject: false });
        if (r.exitCode !== 0) errors.push(`${p}: ${r.stderr}`);
      }
      return errors;
    } finally {
      rmSync(scratch, { recursive: true, force: true });
    }
  }
  it('applies alone', async () => {
    expect(await applyInOrder([OURS])).toEqual([]);
  });
  it('applies before and after the injected-bug patch', async () => {
    expect(await applyInOrder([OURS, INJECT])).toEqual([]);
    expect(await applyInOrder([INJECT, OURS])).toEqual([]);
  });
});

const TRACE = process.env.KREPRO_REAL_TRACE;
const EXPECT = process.env.KREPRO_REAL_EXPECT ?? 'clean';

describe.skipIf(!TRACE)('a trace.txt from a real run (KREPRO_REAL_TRACE)', () => {
  it(`parses, replays and shows the expected findings (${EXPECT})`, () => {
    const r = analyzeText(readFileSync(TRACE!, 'utf8'));
    process.stdout.write(formatAnalysis(r));
    expect(r.mmcidEvents).toBeGreaterThan(0);
    expect(r.design).toBe('6.12');
    if (EXPECT === 'clean') expect(r.anomalies).toEqual([]);
    else expect(r.anomalies.some((a) => a.kind === 'cid-leak' || a.kind === 'cid-exhausted')).toBe(true);
  });
});
