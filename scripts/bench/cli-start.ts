/**
 * CLI start (issue 14 item 3): wall time from `node bin/krepro.mjs ...` to
 * exit for --version, --help, `run --help` and the first (error) line of a
 * run, through the compiled dist/ and through tsx (KREPRO_FROM_SOURCE=1),
 * in this one bench run; the ratio compiled / tsx is what counts, the
 * absolute numbers move with the host's load. dist/ is rebuilt first when
 * a source is newer than it (bin/krepro.mjs would fall back to tsx).
 */
import { execa } from 'execa';
import { join } from 'node:path';
import { PROJECT_ROOT } from '../../src/util/paths.ts';
import { median } from '../../src/loop/stats.ts';

const BIN = join(PROJECT_ROOT, 'bin', 'krepro.mjs');
const REPS = Number(process.env.BENCH_CLI_REPS ?? 9);

const CASES: [string, string[]][] = [
  ['--version', ['--version']],
  ['--help', ['--help']],
  ['run --help', ['run', '--help']],
  ['run, first line (bad --kernel)', ['run', '--kernel', '/nonexistent/bzImage']],
];

async function timeOnce(args: string[], env: Record<string, string>): Promise<number> {
  const t = process.hrtime.bigint();
  await execa('node', [BIN, ...args], { reject: false, env, extendEnv: true, stdout: 'ignore', stderr: 'ignore' });
  return Number(process.hrtime.bigint() - t) / 1e9;
}

export async function bench(): Promise<Record<string, number | string>> {
  await execa('node', [join(PROJECT_ROOT, 'scripts', 'build.mjs')], { stdio: 'ignore' });
  const out: Record<string, number | string> = {};
  for (const [name, args] of CASES) {
    const compiled: number[] = [];
    const tsx: number[] = [];
    // Interleaved, so both see the same host load.
    for (let i = 0; i < REPS; i++) {
      compiled.push(await timeOnce(args, {}));
      tsx.push(await timeOnce(args, { KREPRO_FROM_SOURCE: '1' }));
    }
    const c = median(compiled) ?? NaN;
    const s = median(tsx) ?? NaN;
    out[`${name}: compiled, median of ${REPS} (s)`] = c;
    out[`${name}: compiled, min (s)`] = Math.min(...compiled);
    out[`${name}: tsx, median of ${REPS} (s)`] = s;
    out[`${name}: compiled / tsx`] = c / s;
  }
  return out;
}
