import { describe, it, expect, beforeAll } from 'vitest';
import { execa } from 'execa';
import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildReport } from '../../src/report/text.ts';
import { collectProvenance } from '../../src/run/provenance.ts';
import { RUN_DEFAULTS } from '../../src/run/run.ts';
import { writeJsonAtomic } from '../../src/util/fs.ts';
import { makeCorpusRun } from '../loop/corpus-run.ts';
import { kernelishRepo } from '../helpers/cli.ts';
import type { RunOptions } from '../../src/run/options.ts';

/**
 * krepro's run report next to two real bot mails (test/report/mails/),
 * field by field: every field syzbot's and 0-day's reports carry has its
 * counterpart in krepro's, in the same place (the block before the report,
 * tags before the console), or a stated reason why not.
 */
const MAILS = join(import.meta.dirname, 'mails');

/**
 * "label:   value" lines of a mail's header block (after "... on:", up to
 * the first blank line). A value krepro wrapped to stay within 80 columns
 * continues on lines indented to its column (a word cut at column 80
 * continues without a space).
 */
function fields(mail: string, after: RegExp): Map<string, { value: string; col: number }> {
  const body = mail.split('\n').filter((l) => !l.startsWith('#'));
  const start = body.findIndex((l) => after.test(l));
  const out = new Map<string, { value: string; col: number }>();
  let last: { value: string; col: number } | null = null;
  let prev = '';
  for (const l of body.slice(start + 2)) {
    if (!l.trim()) break;
    const m = /^([A-Za-z][A-Za-z ]*?):(\s+)(.*)$/.exec(l);
    if (m) {
      last = { value: m[3], col: m[1].length + 1 + m[2].length };
      out.set(m[1], last);
    } else if (last && l.startsWith(' '.repeat(last.col))) {
      last.value += (prev.length === 80 ? '' : ' ') + l.trim();
    }
    prev = l;
  }
  return out;
}

let report: string;
let runDir: string;

beforeAll(async () => {
  const root = await mkdtemp(join(tmpdir(), 'krepro-bots-'));
  runDir = join(root, 'run');
  // A run as run.ts records it: a git tree with a public remote, a build dir with its compiler.
  const tree = await kernelishRepo(join(root, 'linux'));
  await execa('git', ['-C', tree, 'remote', 'add', 'origin', 'https://git.kernel.org/pub/scm/linux/kernel/git/torvalds/linux.git']);
  const commit = (await execa('git', ['-C', tree, 'rev-parse', 'HEAD'])).stdout.trim();
  const gcc = (await execa('gcc', ['--version'])).stdout.split('\n')[0];
  await writeFile(join(root, '.krepro-build.json'), JSON.stringify({ compiler: gcc }));
  const rec = await makeCorpusRun(runDir, 'softlockup.log');
  rec.kernel = { ...rec.kernel, tree, commit };
  const o = { cpus: 4, memoryMb: 2048, durationSec: 60, selfTest: 'soft-lockup', signature: null, title: null } as unknown as RunOptions;
  rec.provenance = await collectProvenance(o, rec.kernel, root, RUN_DEFAULTS);
  await writeJsonAtomic(join(runDir, 'run.json'), rec);
  report = await buildReport(runDir);
});

describe('run report against a real syzbot mail', () => {
  it('has each of syzbot\'s fields, in its block and at its column', async () => {
    const mail = await readFile(join(MAILS, 'syzbot-task-hung-reg_todo.txt'), 'utf8');
    const theirs = fields(mail, /found the following issue on:/);
    const ours = fields(report, /found the following issue on:/);
    // Their label -> ours (null: not applicable, with the reason).
    const counterpart: Record<string, string | null> = {
      'HEAD commit': 'HEAD commit',
      'git tree': 'git tree',
      'console output': 'console output',
      'kernel config': 'kernel config',
      'dashboard link': null,            // krepro has no dashboard: the Closes: tag carries the report's link
      compiler: 'compiler',
      'syz repro': 'reproducer',
      'C reproducer': 'reproducer',
    };
    expect([...theirs.keys()].sort()).toEqual(Object.keys(counterpart).sort());
    for (const [label, f] of theirs) {
      const mine = counterpart[label];
      if (mine === null) continue;
      expect(ours.has(mine), `${label} -> ${mine}`).toBe(true);
      expect(ours.get(mine)!.col, `${mine} column`).toBe(f.col);
    }
    expect(ours.get('HEAD commit')!.value).toMatch(/^[0-9a-f]{12} x$/);               // hash and subject, as syzbot
    expect(ours.get('git tree')!.value).toBe('https://git.kernel.org/pub/scm/linux/kernel/git/torvalds/linux.git');
    expect(ours.get('compiler')!.value).toMatch(/^gcc /);
    expect(ours.get('reproducer')!.value).toMatch(/^krepro run --tree https:\/\/git\.kernel\.org\S+ --commit [0-9a-f]{12}/);
    expect(ours.get('kernel config')!.value).toMatch(/^config in the artifacts/);
    expect((await readFile(join(runDir, 'config'), 'utf8')).length).toBeGreaterThan(0);
  });

  it('puts the tag before the report, and the Subject on one line with the title', async () => {
    const mail = await readFile(join(MAILS, 'syzbot-task-hung-reg_todo.txt'), 'utf8');
    expect(mail.indexOf('Reported-by:')).toBeLessThan(mail.indexOf('INFO: task kworker'));
    expect(report.indexOf('Reported-by:')).toBeLessThan(report.indexOf('Console (trimmed'));
    const subj = report.split('\n')[0];
    expect(subj).toMatch(/^Subject: \[BUG\] .*BUG: soft lockup in \S+$/);
    expect(report.split('\n')[1]).toBe('');
    expect(report.split('\n').filter((l) => l.length > 80)).toEqual([]);
  });
});

describe('run report against a real 0-day mail', () => {
  it('has each of the robot\'s fields', async () => {
    const mail = await readFile(join(MAILS, '0day-page_alloc-warning.txt'), 'utf8');
    const body = mail.split('\n').filter((l) => !l.startsWith('#')).join('\n');
    const ours = fields(report, /found the following issue on:/);
    // commit: <hash> ("<subject>")  ->  HEAD commit: <hash> <subject>
    expect(body).toMatch(/^commit: [0-9a-f]{40} \("[^"]+"\)$/m);
    expect(ours.get('HEAD commit')!.value).toMatch(/^[0-9a-f]{12} \S/);
    // compiler: / test machine:
    expect(body).toMatch(/^compiler: gcc-13$/m);
    expect(ours.get('compiler')!.value).toMatch(/^gcc /);
    expect(body).toMatch(/^test machine: /m);
    expect(ours.get('test machine')!.value).toMatch(/^QEMU tcg, 4 vCPUs, 1024 MB, on a host with \d+ cores$/);
    // in testcase / with following parameters  ->  the reproducer line and the workload's source hash
    expect(body).toMatch(/^in testcase: /m);
    expect(ours.get('reproducer')!.value).toMatch(/--memory 2G --self-test soft-lockup/);
    expect(ours.get('workload')!.value).toMatch(/^guest\/workload\.c \(sha256 [0-9a-f]{16}\)$/);
    // both tags, before the console
    for (const tag of ['Reported-by:', 'Closes:']) {
      expect(body).toContain(`| ${tag}`);
      expect(report).toMatch(new RegExp(`^${tag} `, 'm'));
      expect(report.indexOf(`\n${tag}`)).toBeLessThan(report.indexOf('Console (trimmed'));
    }
    // "The kernel config and materials to reproduce are available at" -> the Artifacts section
    expect(body).toMatch(/kernel config and materials to reproduce/);
    expect(report.replace(/\s+/g, ' ')).toMatch(/Artifacts -+ The full console log, trace, \.config \(config\)/);
  });

  it('says which krepro made it', () => {
    expect(fields(report, /found the following issue on:/).get('krepro')!.value).toMatch(/^\d+\.\d+\.\d+/);
  });
});
