import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { mkdtemp, writeFile, mkdir, symlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { PROJECT_ROOT } from '../../src/util/paths.ts';
import { kreproIn, kernelishRepo } from '../helpers/cli.ts';

/**
 * The bad-input half of the hardening matrix: every case runs the real CLI
 * and expects one line on stderr naming the problem and the fix, and the
 * documented exit code. The table is printed at the end.
 */
const table: { case: string; expected: string; got: string }[] = [];
let tmp: string;
let kernelish: string;
let tiny: string;
let tinyMounted = false;

let krepro: ReturnType<typeof kreproIn>;

beforeAll(async () => {
  tmp = await mkdtemp(join(tmpdir(), 'krepro-bad-'));
  krepro = kreproIn(tmp);
  kernelish = await kernelishRepo(join(tmp, 'linux'));
  await writeFile(join(tmp, 'notes.txt'), 'hello, not a patch\n');
  // A 4 MB disk, for the no-space cases (root only; skipped with a reason otherwise).
  tiny = join(tmp, 'tiny');
  await mkdir(tiny);
  tinyMounted = (await execa('mount', ['-t', 'tmpfs', '-o', 'size=4m', 'tmpfs', tiny], { reject: false })).exitCode === 0;
  // A PATH with node and git but no make.
  await mkdir(join(tmp, 'bin'));
  await symlink(process.execPath, join(tmp, 'bin', 'node'));
  await symlink((await execa('sh', ['-c', 'command -v git'])).stdout.trim(), join(tmp, 'bin', 'git'));
});

afterAll(async () => {
  if (tinyMounted) await execa('umount', [tiny], { reject: false });
  const w = Math.max(...table.map((r) => r.case.length));
  console.log(['case'.padEnd(w) + '  expected  got', ...table.map((r) => `${r.case.padEnd(w)}  ${r.expected.padEnd(8)}  ${r.got}`)].join('\n'));
});

const cases: [string, () => string[], number, RegExp, Record<string, string>?][] = [
  ['tree does not exist', () => ['build', '--tree', join(tmp, 'nope')], 255, /does not exist: pass --tree/],
  ['tree is not a git repo', () => ['build', '--tree', tmp], 255, /is not a git repository/],
  ['tree is not a kernel', () => ['build', '--tree', PROJECT_ROOT], 255, /does not look like a Linux kernel tree/],
  ['unknown revision', () => ['build', '--tree', kernelish, '--commit', 'v9.99'], 255, /unknown revision 'v9\.99'/],
  ['missing patch', () => ['build', '--tree', kernelish, '--patch', join(tmp, 'missing.patch')], 255, /cannot read patch .*mbox/],
  ['patch that is not a patch', () => ['build', '--tree', kernelish, '--patch', join(tmp, 'notes.txt')], 255, /is not a patch/],
  ['missing fragment', () => ['build', '--tree', kernelish, '--config', join(tmp, 'missing.config')], 255, /cannot read config fragment/],
  ['malformed config item', () => ['build', '--config', 'CONFIG_FOO'], 255, /CONFIG_NAME=value/],
  ['unknown profile', () => ['build', '--profile', 'nosuch'], 255, /unknown profile 'nosuch'/],
  ['--cpus 0', () => ['run', '--cpus', '0', '--kernel', '/bin/true'], 255, /--cpus 0: give an integer/],
  ['negative duration', () => ['run', '--duration', '-5', '--kernel', '/bin/true'], 255, /--duration -5/],
  ['missing bzImage', () => ['run', '--kernel', join(tmp, 'bzImage')], 255, /--kernel .*no such file/],
  ['bad signature regex', () => ['run', '--kernel', '/bin/true', '--signature', '('], 255, /not a valid regular expression/],
  ['--kernel with --tree', () => ['run', '--kernel', '/bin/true', '--tree', kernelish], 255, /drop --kernel/],
  ['results dir not writable', () => ['run', '--kernel', '/bin/true', '--results', join(tmp, 'notes.txt', 'sub')], 255, /not writable/],
  ['missing host tool (make)', () => ['build', '--tree', kernelish], 255, /make is not installed: run scripts\/setup/, { PATH: '@nomake' }],
  ['unknown command', () => ['frobnicate'], 255, /Unknown argument|unknown command|see krepro --help/i],
  ['no space on the results disk', () => ['run', '--kernel', '/bin/true', '--results', join(tiny, 'results')], 255, /MB free for results .*free space or pass --results/],
  ['no space on the cache disk', () => ['build'], 255, /GiB free in .*free space or set KREPRO_CACHE/, { KREPRO_CACHE: '@tiny' }],
];

describe('bad input: one line, what to do, the right exit code', () => {
  it.each(cases)('%s', async (name, args, code, msg, env) => {
    if (args().some((a) => a.startsWith(tiny)) || env?.KREPRO_CACHE === '@tiny') {
      if (!tinyMounted) {
        console.log(`[skip] ${name}: cannot mount a small tmpfs here (needs root)`);
        return;
      }
    }
    const e = env?.PATH === '@nomake' ? { PATH: join(tmp, 'bin') } : env?.KREPRO_CACHE === '@tiny' ? { KREPRO_CACHE: join(tiny, 'cache') } : env ?? {};
    const r = await krepro(args(), e);
    const lines = r.stderr.trim().split('\n').filter((l) => l.trim());
    table.push({ case: name, expected: String(code), got: `${r.exitCode}: ${lines[0] ?? ''}`.slice(0, 110) });
    expect(r.exitCode, r.stderr).toBe(code);
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/^krepro: /);
    expect(lines[0]).toMatch(msg);
  });
});
