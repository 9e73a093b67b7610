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
  interrupted: 255,
} as const;

/**
 * The one exit-code table: README's and every `--help`'s (EXIT_CODES_HELP)
 * are made from it, and every command exits with one of these codes.
 */
export const EXIT_TABLE: readonly { code: number; meaning: string }[] = [
  { code: EXIT.notReproduced, meaning: 'ok, nothing found: not reproduced (run, loop), no crash (classify), no anomaly (analyze), culprit named (bisect), done (other commands)' },
  { code: EXIT.reproduced, meaning: 'found: reproduced (run, loop), a crash in a log (classify), an anomaly in a trace (analyze)' },
  { code: EXIT.skip, meaning: 'this commit cannot be tested: build failure, patch does not apply, boot failure; bisection inconclusive' },
  { code: EXIT.usage, meaning: 'usage or environment error, infrastructure error, a bundle that fails --verify, interrupted (Ctrl-C, SIGTERM)' },
];

/** The table as --help epilogues print it. */
export function exitCodesHelp(width = 78): string {
  const lines = ['Exit codes (the same for every command):'];
  for (const r of EXIT_TABLE) {
    let line = `  ${String(r.code).padEnd(4)} `;
    for (const w of r.meaning.split(' ')) {
      if (line.length + w.length > width && line.trim().length > 4) {
        lines.push(line.trimEnd());
        line = ' '.repeat(7);
      }
      line += w + ' ';
    }
    lines.push(line.trimEnd());
  }
  return lines.join('\n');
}

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
