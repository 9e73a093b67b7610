import { execa } from 'execa';
import { KreproError } from '../util/errors.ts';

/**
 * The one place krepro runs git. Arguments are always an array; nothing
 * passes through a shell.
 */
export interface GitResult {
  stdout: string;
  stderr: string;
  exitCode: number;
}

export async function git(
  cwd: string,
  args: string[],
  opts: { env?: Record<string, string>; reject?: boolean; input?: string } = {},
): Promise<GitResult> {
  let r;
  try {
    r = await execa('git', args, {
      cwd,
      env: { GIT_TERMINAL_PROMPT: '0', LC_ALL: 'C', ...opts.env },
      reject: false,
      stripFinalNewline: true,
      input: opts.input,
    });
  } catch (e) {
    throw new KreproError('env', `cannot run git (${(e as Error).message}); install it with scripts/setup`);
  }
  if ((r as { failed?: boolean }).failed && r.exitCode === undefined) {
    throw new KreproError('env', `cannot run git in ${cwd}: ${r.stderr || (r as { shortMessage?: string }).shortMessage}`);
  }
  const res = { stdout: String(r.stdout ?? ''), stderr: String(r.stderr ?? ''), exitCode: r.exitCode ?? 1 };
  if (opts.reject !== false && res.exitCode !== 0) {
    const msg = res.stderr.split('\n').find((l) => l.trim()) ?? `exit ${res.exitCode}`;
    throw new GitError(`git ${args[0]} failed in ${cwd}: ${msg}`, args, res);
  }
  return res;
}

export class GitError extends Error {
  constructor(message: string, readonly args: string[], readonly result: GitResult) {
    super(message);
    this.name = 'GitError';
  }
}

/** Resolve a revision to a full commit hash, or throw a usage error. */
export async function revParse(repo: string, rev: string): Promise<string> {
  const r = await git(repo, ['rev-parse', '--verify', '--quiet', `${rev}^{commit}`], { reject: false });
  if (r.exitCode !== 0 || !r.stdout) {
    throw new KreproError('usage', `unknown revision '${rev}' in ${repo}: check the name with 'git -C ${repo} log --oneline'`);
  }
  return r.stdout.trim();
}

export async function isAncestor(repo: string, a: string, b: string): Promise<boolean> {
  const r = await git(repo, ['merge-base', '--is-ancestor', a, b], { reject: false });
  return r.exitCode === 0;
}

export async function commitInfo(repo: string, rev: string): Promise<{ hash: string; subject: string; author: string; date: string }> {
  const r = await git(repo, ['show', '-s', '--format=%H%x00%s%x00%an <%ae>%x00%aI', rev]);
  const [hash, subject, author, date] = r.stdout.split('\0');
  return { hash, subject, author, date };
}
