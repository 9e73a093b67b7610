/**
 * Exit codes shared by every command. They follow `git bisect run`:
 * 0 good (not reproduced), 1 bad (reproduced), 125 cannot test this commit,
 * 255 usage or environment error (aborts a `git bisect run`).
 */
export const EXIT = {
  notReproduced: 0,
  reproduced: 1,
  skip: 125,
  usage: 255,
  infra: 255,
} as const;

/**
 * An error meant for the user: one line saying what is wrong and what to do.
 * `exitCode` is what the CLI exits with; `kind` lets callers (bisect, loop)
 * tell "this commit cannot be tested" from "the host is broken".
 */
export class KreproError extends Error {
  readonly exitCode: number;
  readonly kind: 'usage' | 'env' | 'skip' | 'infra';
  readonly detail?: string;
  constructor(kind: 'usage' | 'env' | 'skip' | 'infra', message: string, detail?: string) {
    super(message);
    this.name = 'KreproError';
    this.kind = kind;
    this.exitCode = kind === 'skip' ? EXIT.skip : EXIT.usage;
    this.detail = detail;
  }
}

export const usageError = (msg: string) => new KreproError('usage', msg);
export const envError = (msg: string) => new KreproError('env', msg);
export const skipError = (msg: string, detail?: string) => new KreproError('skip', msg, detail);
export const infraError = (msg: string, detail?: string) => new KreproError('infra', msg, detail);

export function isKreproError(e: unknown): e is KreproError {
  return e instanceof KreproError;
}
