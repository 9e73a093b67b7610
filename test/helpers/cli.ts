import { execa } from 'execa';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { PROJECT_ROOT } from '../../src/util/paths.ts';

/** Run the krepro CLI with its cache and results under `tmp` (never the user's). */
export function kreproIn(tmp: string) {
  return (args: string[], env: Record<string, string> = {}) =>
    execa('node', [join(PROJECT_ROOT, 'bin/krepro.mjs'), ...args], { reject: false, env: { KREPRO_CACHE: join(tmp, 'cache'), KREPRO_RESULTS: join(tmp, 'results'), ...env }, extendEnv: true });
}

/** A one-commit git repo with a top-level Makefile and Kconfig: enough to pass for a kernel tree. */
export async function kernelishRepo(dir: string): Promise<string> {
  await mkdir(dir);
  await writeFile(join(dir, 'Makefile'), 'all:\n');
  await writeFile(join(dir, 'Kconfig'), 'config FOO\n\tbool\n');
  await execa('git', ['init', '-q', dir]);
  await execa('git', ['-C', dir, 'add', '.']);
  await execa('git', ['-C', dir, '-c', 'user.name=t', '-c', 'user.email=t@t', 'commit', '-q', '-m', 'x']);
  return dir;
}
