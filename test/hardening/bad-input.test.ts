import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { mkdtemp, writeFile, mkdir, symlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { PROJECT_ROOT } from '../../src/util/paths.ts';
import { kreproIn, kernelishRepo } from '../helpers/cli.ts';
import { makeCorpusRun, CORPUS } from '../loop/corpus-run.ts';
import { readFile, readdir } from 'node:fs/promises';

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
  // Issue 18: the habits users bring (units, empty values, bad paths, exit codes).
  ['--cpus abc', () => ['run', '--cpus', 'abc', '--kernel', '/bin/true'], 255, /^krepro: --cpus abc: give a whole number, e\.g\. --cpus 4$/],
  ['bare --cpus', () => ['run', '--kernel', '/bin/true', '--cpus'], 255, /^krepro: --cpus needs a value, e\.g\. --cpus 4$/],
  ['--memory 2X', () => ['run', '--memory', '2X', '--kernel', '/bin/true'], 255, /^krepro: --memory 2X: give a size such as 2G, 512M or 1024 \(MB\)$/],
  ['--memory 0.1 (not whole MB)', () => ['run', '--memory', '0.1', '--kernel', '/bin/true'], 255, /--memory 0\.1: not a whole number of MB/],
  ['--duration 5x', () => ['run', '--duration', '5x', '--kernel', '/bin/true'], 255, /^krepro: --duration 5x: give a duration such as 90, 90s, 2m, 1h or 1h30m$/],
  ['--hang-timeout empty', () => ['run', '--hang-timeout', '', '--kernel', '/bin/true'], 255, /^krepro: --hang-timeout needs a value/],
  ['--signature \'\' (unset variable)', () => ['run', '--kernel', '/bin/true', '--signature', ''], 255, /--signature is empty \(an unset shell variable\?\): give a regex/],
  ['--dry-run --kernel missing', () => ['run', '--dry-run', '--kernel', join(tmp, 'nope', 'bzImage')], 255, /--kernel .*no such file; give a bzImage/],
  ['loop --kernel missing', () => ['loop', '--count', '2', '--kernel', join(tmp, 'nope', 'bzImage'), '--results', join(tmp, 'loopres')], 255, /--kernel .*no such file; give a bzImage/],
  ['loop --until 1x', () => ['loop', '--until', '1x', '--kernel', '/bin/true'], 255, /^krepro: --until 1x: give a duration/],
  ['loop --count abc', () => ['loop', '--count', 'abc', '--kernel', '/bin/true'], 255, /^krepro: --count abc: give a whole number/],
  ['classify a missing file', () => ['classify', '/nonexistent'], 255, /^krepro: cannot read \/nonexistent \(no such file\): give console log files/],
  ['--defaults missing file', () => ['--defaults', join(tmp, 'nope.json'), 'run', '--kernel', '/bin/true'], 255, /cannot read the defaults file .*nope\.json \(ENOENT\): fix the path given to --defaults/],
  ['--defaults not JSON', () => ['--defaults', join(tmp, 'notes.txt'), 'run', '--kernel', '/bin/true'], 255, /notes\.txt: not valid JSON at line 1, column 1/],
  ['config file: unknown key in a command section', () => ['--defaults', join(tmp, 'typo.json'), 'run', '--kernel', '/bin/true'], 255, /"run" has no option "cpu": remove it/],
  ['KREPRO_ACCEL=hvf', () => ['run', '--kernel', '/bin/true'], 255, /^krepro: KREPRO_ACCEL=hvf: choose one of auto, kvm, tcg$/, { KREPRO_ACCEL: 'hvf' }],
  ['analyze --cpus abc', () => ['analyze', '--cpus', 'abc', join(tmp, 'notes.txt')], 255, /^krepro: --cpus abc: give a whole number/],
  ['bisect --kernel', () => ['bisect', '--tree', kernelish, '--good', 'HEAD', '--bad', 'HEAD', '--kernel', '/bin/true'], 255, /bisect picks the commits itself: drop --kernel\/--commit/],
  ['import-lava --signature \'\' (unset variable)', () => ['import-lava', '--signature', '', join(tmp, 'notes.txt')], 255, /--signature is empty \(an unset shell variable\?\): give a regex/],
  ['loop --jobs abc', () => ['loop', '--count', '1', '--jobs', 'abc', '--kernel', '/bin/true'], 255, /^krepro: --jobs abc: give a whole number, e\.g\. --jobs 4$/],
  ['loop --shards q', () => ['loop', '--count', '1', '--on', 'slurm', '--shards', 'q'], 255, /^krepro: --shards q: give a whole number/],
  ['bisect --simulate --trials x', () => ['bisect', '--simulate', '--trials', 'x'], 255, /^krepro: --trials x: give a whole number/],
  ['bisect --simulate --confidence nope', () => ['bisect', '--simulate', '--confidence', 'nope'], 255, /^krepro: --confidence nope: give a number/],
];

/**
 * The other half of issue 18's list: what used to fail or lie and now works,
 * through the real CLI. Each names what it checks; the table prints them too.
 */
type Habit = { name: string; args: () => string[]; env?: () => Record<string, string>; code: number; stdout?: RegExp; notStdout?: RegExp; after?: () => Promise<void> };
const habits: Habit[] = [
  { name: '--memory 2G (vng form)', args: () => ['run', '--dry-run', '--kernel', '/bin/true', '--memory', '2G'], code: 0, stdout: / -m 2048M /, notStdout: /NaN/ },
  { name: '--duration 1h', args: () => ['run', '--dry-run', '--kernel', '/bin/true', '--duration', '1h'], code: 0, stdout: /krepro\.duration=3600\b/ },
  { name: 'vng short options -p -m -a -a', args: () => ['run', '--dry-run', '--kernel', '/bin/true', '-p', '2', '-m', '512M', '-a', 'foo=1', '-a', 'bar'], code: 0, stdout: / -smp 2 -m 512M .*foo=1 bar'/ },
  { name: '--version', args: () => ['--version'], code: 0, stdout: /^krepro \d+\.\d+\.\d+( \([0-9a-f]{12}\))?$/ },
  { name: '-V', args: () => ['-V'], code: 0, stdout: /^krepro \d+\.\d+\.\d+/ },
  { name: 'krepro completion', args: () => ['completion'], code: 0, stdout: /--get-yargs-completions/ },
  { name: 'completion of run options', args: () => ['--get-yargs-completions', 'run', '--hang'], code: 0, stdout: /--hang-timeout/ },
  { name: 'KREPRO_CPUS=2', args: () => ['run', '--dry-run', '--kernel', '/bin/true'], env: () => ({ KREPRO_CPUS: '2' }), code: 0, stdout: / -smp 2 / },
  { name: 'command line beats KREPRO_CPUS', args: () => ['run', '--dry-run', '--kernel', '/bin/true', '--cpus', '3'], env: () => ({ KREPRO_CPUS: '2' }), code: 0, stdout: / -smp 3 / },
  { name: 'config file memory 2G, env beats it', args: () => ['--defaults', join(tmp, 'defaults.json'), 'run', '--dry-run', '--kernel', '/bin/true'], env: () => ({ KREPRO_CPUS: '3' }), code: 0, stdout: / -smp 3 -m 2048M / },
  { name: 'XDG config file read by default', args: () => ['run', '--dry-run', '--kernel', '/bin/true'], env: () => ({ XDG_CONFIG_HOME: join(tmp, 'xdg') }), code: 0, stdout: / -smp 1 / },
  { name: 'classify: a crash exits 1', args: () => ['classify', join(CORPUS, 'softlockup.log')], code: 1, stdout: /BUG: soft lockup in / },
  { name: 'classify: a clean log exits 0', args: () => ['classify', join(tmp, 'clean.log')], code: 0, stdout: /no crash/ },
  { name: 'classify README.md: prose is not a report', args: () => ['classify', join(PROJECT_ROOT, 'README.md')], code: 0, stdout: /README\.md: no crash/ },
  { name: 'bundle --verify mismatch exits 255, not 1', args: () => ['bundle', '--verify', join(tmp, 'tampered.tar.gz')], code: 255 },
  { name: 'bisect --help hides --kernel/--commit', args: () => ['bisect', '--help'], code: 0, stdout: /Exit codes \(the same for every command\)/, notStdout: /--kernel\b|--commit\b(?!s)/ },
  { name: 'loop with a bad kernel leaves no loop.json', args: () => ['loop', '--count', '1', '--kernel', join(tmp, 'nope', 'bzImage'), '--results', join(tmp, 'loopres2')], code: 255,
    after: async () => expect(await readdir(join(tmp, 'loopres2')).catch(() => [])).toEqual([]) },
  ...['run', 'loop', 'bisect', 'build', 'classify', 'analyze', 'bundle', 'report', 'history', 'merge', 'doctor', 'fetch'].map((c): Habit => (
    { name: `${c} --help has the exit-code table`, args: () => [c, '--help'], code: 0, stdout: /Exit codes \(the same for every command\):\n  0 .*\n(?:.*\n)*  125 .*\n(?:.*\n)*  255 [\s\S]*interrupted/ })),
];

describe('habits: what used to fail or lie, through the real CLI', () => {
  beforeAll(async () => {
    await writeFile(join(tmp, 'defaults.json'), JSON.stringify({ cpus: 1, memory: '2G', run: { duration: '2m' } }));
    await writeFile(join(tmp, 'typo.json'), JSON.stringify({ run: { cpu: 2 } }));
    await mkdir(join(tmp, 'xdg', 'krepro'), { recursive: true });
    await writeFile(join(tmp, 'xdg', 'krepro', 'config.json'), JSON.stringify({ cpus: 1 }));
    await writeFile(join(tmp, 'clean.log'), '[    0.000000] Linux version 6.12.0\n[    1.000000] Run /init as init process\n');
    // A real bundle of a run, then one file changed behind the MANIFEST's back.
    const run = join(tmp, 'brun');
    await makeCorpusRun(run, 'softlockup.log');
    expect((await krepro(['bundle', run, '-o', join(tmp, 'b.tar.gz')])).exitCode).toBe(0);
    await mkdir(join(tmp, 'unpacked'));
    await execa('tar', ['-xzf', join(tmp, 'b.tar.gz'), '-C', join(tmp, 'unpacked')]);
    const top = (await readdir(join(tmp, 'unpacked')))[0];
    const log = join(tmp, 'unpacked', top, 'console.log');
    await writeFile(log, (await readFile(log, 'utf8')).replace('soft lockup', 'soft lockdown'));
    await execa('tar', ['-czf', join(tmp, 'tampered.tar.gz'), '-C', join(tmp, 'unpacked'), top]);
  });

  it.each(habits.map((h) => [h.name, h] as const))('%s', async (name, h) => {
    const r = await krepro(h.args(), h.env?.() ?? {});
    const line = (h.code === 0 || h.code === 1 ? r.stdout : r.stderr).trim().split('\n')[0] ?? '';
    table.push({ case: name, expected: String(h.code), got: `${r.exitCode}: ${line}`.slice(0, 110) });
    expect(r.exitCode, r.stderr).toBe(h.code);
    if (h.stdout) expect(r.stdout).toMatch(h.stdout);
    if (h.notStdout) expect(r.stdout).not.toMatch(h.notStdout);
    await h.after?.();
  });
});

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
