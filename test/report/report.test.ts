import { describe, it, expect, beforeAll } from 'vitest';
import { execa } from 'execa';
import { mkdtemp, mkdir, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildReport } from '../../src/report/text.ts';
import { wrapCommand, wrapWords, table } from '../../src/util/wrap.ts';
import { runLoop } from '../../src/loop/loop.ts';
import { writeJsonAtomic } from '../../src/util/fs.ts';
import { corpusRunner, makeCorpusRun } from '../loop/corpus-run.ts';

const widthOk = (text: string) => text.split('\n').filter((l) => l.length > 80);

describe('report of a single run (real soft lockup console)', () => {
  let text: string;
  beforeAll(async () => {
    const dir = join(await mkdtemp(join(tmpdir(), 'krepro-rep-')), 'run');
    await makeCorpusRun(dir, 'softlockup.log');
    text = await buildReport(dir);
  });

  it('keeps every line within 80 columns', () => {
    expect(widthOk(text)).toEqual([]);
  });

  it('has the sections a list report needs', () => {
    expect(text).toMatch(/^Subject: \[BUG\] 6\.12\.117: BUG: soft lockup in \S+/);
    for (const s of ['Kernel', 'How it was run', 'QEMU command line:', 'Kernel command line:', 'Reproduction', 'Console (trimmed', 'Decoded stack', 'Artifacts']) {
      expect(text).toContain(s);
    }
    expect(text).toMatch(/vCPUs: 4, memory: 1024 MB, accel: tcg/);
    expect(text).toMatch(/^Reported-by: /m);
    expect(text).toMatch(/^Closes: /m);
    expect(text).not.toMatch(/regzbot/);
  });

  it('trims the console to the report, timestamps kept, register dump and code bytes out', () => {
    const consoleBlock = text.split('Console (trimmed')[1].split('Decoded stack')[0];
    expect(consoleBlock).toMatch(/\[\s+18\.449791\] watchdog: BUG: soft lockup - CPU#0 stuck for 13s!/);
    expect(consoleBlock).toMatch(/\[\s+18\.\d+\]\s+test_wait\+0x7b\/0xa0 \[test_lockup\]/);
    expect(consoleBlock).toMatch(/RIP: 0010:delay_tsc/);
    expect(consoleBlock).not.toMatch(/Code: /);
    expect(consoleBlock).not.toMatch(/RAX: /);
    expect(consoleBlock).not.toMatch(/SeaBIOS|Booting from ROM/);
  });

  it('prints a QEMU command line that pastes into sh as the same argv', async () => {
    const block = text.split('QEMU command line:\n\n')[1].split('\n\nKernel command line:')[0];
    const r = await execa('sh', ['-c', `printf '%s\\n' ${block.trim()}`]);
    const argv = r.stdout.split('\n');
    expect(argv[0]).toBe('qemu-system-x86_64');
    expect(argv[argv.indexOf('-append') + 1]).toBe('console=ttyS0 panic=-1 loglevel=7 t=softlockup targs=25 watchdog_thresh=5 lpj=8384000 highres=off');
    expect(argv.at(-1)).toBe('-no-reboot');
  });
});

describe('report of a loop over real consoles', () => {
  it('shows the rate table and the first reproduction', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'krepro-rep-loop-'));
    await runLoop({ run: { kernel: '/x/bzImage' }, count: 6, dir, resultsDir: dir },
      { build: async () => { throw new Error('unused'); }, run: corpusRunner(), now: Date.now });
    const text = await buildReport(dir);
    expect(widthOk(text)).toEqual([]);
    expect(text.replace(/\s+/g, ' ')).toMatch(/reproduced the failure in 4 of 6 runs \(66\.7%, 95% CI 30\.0% to 90\.3%\)/);
    // several titles: each face with its count, not the first one for all
    expect(text.replace(/\s+/g, ' ')).toMatch(/it showed as "BUG: soft lockup in test_lockup_init" \(\d\), "/);
    expect(text).toMatch(/\|\s+d750f1510000\s+\|\s+6\s+\|\s+4\s+\|/);
  });
});

describe('report of a bisection', () => {
  it('one-line Subject naming the best face, the culprit with subject and author, Fixes:, and counts that agree with the decisions', async () => {
    const root = await mkdtemp(join(tmpdir(), 'krepro-rep-bis-'));
    // A real tree: good -> parent -> culprit -> bad, so subjects and the author come from git.
    const tree = join(root, 'linux');
    await mkdir(tree);
    const g = (...a: string[]) => execa('git', ['-C', tree, '-c', 'user.name=Ada Lovelace', '-c', 'user.email=ada@example.org', ...a]);
    await execa('git', ['init', '-q', tree]);
    const hashes: string[] = [];
    for (const subj of ['mm: good base', 'mm: harmless cleanup', 'sched/mmcid: walk only the task list', 'Linux 7.2-rc1']) {
      await g('commit', '-q', '--allow-empty', '-m', subj);
      hashes.push((await g('rev-parse', 'HEAD')).stdout.trim());
    }
    const [good, parent, culprit, bad] = hashes;
    await makeCorpusRun(join(root, 'runs', 'c1'), 'injected-cid-leak-stall.log');
    const crash = (title: string, d?: string) => ({ kind: 'crash', title, type: 'HANG', unrelated: [], runDir: d });
    const clean = { kind: 'clean', title: null, type: null, unrelated: [] };
    await writeJsonAtomic(join(root, 'bisect.json'), {
      schema: 'krepro.bisect/1', id: 'b1', fixed: false, bad, good,
      signature: { source: 'regex', regex: 'mm_get_cid|mm_cid_get|soft lockup|rcu.*stall|silent hang' }, confidence: 0.95,
      maxRuns: 10, stepEpsilon: 0.05, endpointCrashes: 1, phase: 'done',
      commits: {
        // Five crashes, three faces of one bug: every one matched the signature, so 5 reproduced.
        [bad]: { commit: bad, role: 'bad-endpoint', runs: [crash('BUG: soft lockup in smp_call_function'), crash('INFO: silent hang in mm_get_cid'), crash('INFO: silent hang in mm_get_cid'), crash('INFO: rcu detected stall in corrupted'), crash('INFO: silent hang in mm_get_cid')], decision: 'buggy' },
        [good]: { commit: good, role: 'good-endpoint', runs: [clean, clean, clean], decision: 'clean' },
        [culprit]: { commit: culprit, role: 'step', runs: [crash('INFO: rcu detected stall in mm_cid_get', 'runs/c1'), clean], decision: 'buggy' },
        [parent]: { commit: parent, role: 'step', runs: [clean, clean, clean, crash('WARNING in unrelated_thing'), clean], decision: 'clean' },
      },
      order: [bad, good, parent, culprit], marks: [], revisions: 0,
      answer: { kind: 'found', commit: culprit, confidence: 0.97, candidates: [{ commit: culprit, p: 0.97 }, { commit: parent, p: 0.02 }], rate: 0.6 },
      meta: { tree },
    });
    const text = await buildReport(root);
    const lines = text.split('\n');
    expect(widthOk(text)).toEqual([]);
    expect(lines[0]).toMatch(/^Subject: \[REGRESSION\] 6\.12\.117: INFO: silent hang in mm_get_cid/);
    expect(lines[1]).toBe('');                                      // never folded onto a second line
    expect(text).toContain(`commit ${culprit}\nAuthor: Ada Lovelace <ada@example.org>\n`);
    expect(text).toMatch(/^ {4}sched\/mmcid: walk only the task list$/m);
    expect(text).toContain(`Fixes: ${culprit.slice(0, 12)} ("sched/mmcid: walk only the task list")`);
    expect(text).toMatch(/^HEAD commit: {4}[0-9a-f]{12} Linux 7\.2-rc1$/m);
    expect(text).toMatch(/^bisection log: {2}bisect\.log in the artifacts/m);
    // Tags before the console and the table.
    expect(text.indexOf('Reported-by:')).toBeLessThan(text.indexOf('Console (trimmed'));
    expect(text.indexOf('Fixes:')).toBeLessThan(text.indexOf('Reproduction'));
    expect(text).toMatch(/#regzbot introduced: [0-9a-f]{12}/);
    expect(text).toMatch(new RegExp(`\\| ${bad.slice(0, 12)} \\(bad\\)\\s+\\|\\s+5 \\|\\s+5 \\|\\s+buggy`));
    expect(text).toMatch(new RegExp(`\\| ${culprit.slice(0, 12)} \\(first bad\\)\\s+\\|\\s+2 \\|\\s+1 \\|\\s+buggy`));
    // The unrelated WARNING is a run, not a reproduction.
    expect(text).toMatch(new RegExp(`\\| ${parent.slice(0, 12)}\\s+\\|\\s+5 \\|\\s+0 \\|\\s+clean`));
    expect(text).toMatch(/mm_cid_get\+0x11f/);
  });

  it('the best face: a named frame over "corrupted", then the most frequent', async () => {
    const { bestFace } = await import('../../src/report/text.ts');
    expect(bestFace(['INFO: rcu detected stall in corrupted', 'BUG: soft lockup in smp_call_function', 'INFO: silent hang in mm_get_cid', 'INFO: silent hang in mm_get_cid'])).toBe('INFO: silent hang in mm_get_cid');
    expect(bestFace(['INFO: rcu detected stall in corrupted', 'INFO: rcu detected stall in corrupted', 'INFO: rcu detected stall'])).toBe('INFO: rcu detected stall');
    expect(bestFace([])).toBeNull();
  });
});

describe('layout helpers', () => {
  it('wrapWords and table stay within the width', () => {
    const long = 'word '.repeat(60) + 'x'.repeat(120);
    expect(wrapWords(long).every((l) => l.length <= 80)).toBe(true);
    const t = table(['commit', 'runs'], [['y'.repeat(200), '1']]);
    expect(t.every((l) => l.length <= 80)).toBe(true);
  });

  it('wrapCommand round-trips quotes through sh', async () => {
    const argv = ['qemu', '-append', `it's ${'a'.repeat(30)} ${'b'.repeat(70)} end`, '-name', 'x y'];
    const lines = wrapCommand(argv);
    expect(lines.every((l) => l.length <= 80)).toBe(true);
    const r = await execa('sh', ['-c', `printf '%s\\n' ${lines.join('\n')}`]);
    expect(r.stdout.split('\n')).toEqual(argv);
  });
});

describe('stack decoding with real binutils', () => {
  it('names source files from the top of the kernel tree, as decode_stacktrace.sh does', async () => {
    const { sourceRelative } = await import('../../src/vm/symbols.ts');
    const root = await mkdtemp(join(tmpdir(), 'krepro-src-'));
    const tree = join(root, 'worktrees', 'linux');
    await mkdir(join(tree, 'arch', 'x86', 'lib'), { recursive: true });
    await mkdir(join(root, 'builds', '.work-x'), { recursive: true });
    await writeFile(join(tree, 'Kbuild'), '');
    await writeFile(join(tree, 'MAINTAINERS'), '');
    // what addr2line prints for an O= build: the path through the build dir
    const viaO = join(root, 'builds', '.work-x', '..', '..', 'worktrees', 'linux', 'arch', 'x86', 'lib', 'delay.c');
    expect(await sourceRelative(viaO)).toBe('arch/x86/lib/delay.c');
    expect(await sourceRelative(join(root, 'elsewhere', 'k.c'))).toBe(join(root, 'elsewhere', 'k.c'));
    expect(await sourceRelative('kernel/sched/core.c')).toBe('kernel/sched/core.c');
  });

  it('decodes kernel-style and module-style frames to file:line', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'krepro-sym-'));
    // A tiny "kernel" and "module" built with gcc -g; frames reference them as the console would.
    await writeFile(join(dir, 'k.c'), 'int spin(int n){\n  int s = 0;\n  for (int i = 0; i < n; i++)\n    s += i * 3;\n  return s;\n}\nint main(void){ return spin(5); }\n');
    await writeFile(join(dir, 'm.c'), 'int helper(int a)\n{\n  return a * 7 + 1;\n}\n');
    await execa('gcc', ['-g', '-O0', '-o', join(dir, 'vmlinux'), join(dir, 'k.c')]);
    await mkdir(join(dir, 'mods', 'lib'), { recursive: true });
    await execa('gcc', ['-g', '-O0', '-c', '-o', join(dir, 'mods', 'lib', 'mymod.ko'), join(dir, 'm.c')]);
    const nm = await execa('nm', [join(dir, 'vmlinux')]);
    await writeFile(join(dir, 'System.map'), nm.stdout + '\n');
    const { symbolizeFrames } = await import('../../src/report/stack-decode.ts');
    const [k, m, unknown] = await symbolizeFrames(
      [{ func: 'spin', offset: '0x10/0x40' }, { func: 'helper', offset: '0x4/0x20', module: 'mymod' }, { func: 'nosuch', offset: '0x1' }],
      { vmlinux: join(dir, 'vmlinux'), modulesDir: join(dir, 'mods') });
    expect(k.locations[0].file).toMatch(/k\.c$/);
    expect(k.locations[0].line).toBeGreaterThanOrEqual(1);
    expect(k.locations[0].line).toBeLessThanOrEqual(6);
    expect(m.locations[0].file).toMatch(/m\.c$/);
    expect(m.locations[0].func).toBe('helper');
    expect(unknown.locations).toEqual([]);
  });
});
