import type { Argv } from 'yargs';
import type { BuildOptions, BuildProgress } from '../build/types.ts';
import { usageError } from '../util/errors.ts';
import { parseCount } from '../util/units.ts';

/** Options shared by every command that builds a kernel. */
export function buildOptions<T>(y: Argv<T>) {
  return y
    .option('tree', { type: 'string', describe: 'kernel git tree (default: Debian linux-source-6.12, unpacked into the cache)' })
    .option('commit', { alias: 'c', type: 'string', describe: 'revision to build (default: HEAD of the tree)' })
    .option('profile', { type: 'string', default: 'default', describe: 'kconfig profile from kconfigs/profiles/' })
    .option('config', { alias: 'f', type: 'string', array: true, default: [] as string[], describe: 'extra fragment file or CONFIG_X=y item (repeatable; vng: -f)' })
    .option('patch', { type: 'string', array: true, default: [] as string[], describe: 'patch to apply, mbox or diff (repeatable)' })
    .option('revert', {
      type: 'string',
      array: true,
      default: [] as string[],
      describe: 'undo a change (repeatable): a patch FILE is applied in reverse (git apply -R), anything else is a COMMIT of the tree to git revert --no-commit. Reverts apply first, in the order given, then the profile\'s patches and --patch',
    })
    .option('jobs', { type: 'string', describe: 'make -j (default: number of cores)' });
}

export function toBuildOptions(a: { tree?: string; commit?: string; profile?: string; config?: string[]; patch?: string[]; revert?: string[]; jobs?: unknown }): BuildOptions {
  const jobs = a.jobs === undefined ? undefined : parseCount('jobs', a.jobs);
  if (jobs !== undefined && jobs < 1) throw usageError(`--jobs ${a.jobs}: give a positive integer`);
  for (const k of ['tree', 'commit', 'profile'] as const) if (a[k] !== undefined && !String(a[k]).trim()) throw usageError(`--${k} is empty (an unset shell variable?): give a value or drop --${k}`);
  return {
    tree: a.tree ?? null,
    commit: a.commit ?? null,
    profile: a.profile ?? 'default',
    configs: a.config ?? [],
    patches: a.patch ?? [],
    reverts: (a.revert ?? []).map(String),
    jobs,
  };
}

/** Progress on stderr: a rewritten bar on a TTY, plain lines otherwise. */
export function progressPrinter(stream: NodeJS.WriteStream = process.stderr): (p: BuildProgress) => void {
  const tty = stream.isTTY;
  let lastPlain = 0;
  let lastPct = -1;
  return (p) => {
    if (p.phase === 'make' && p.percent === undefined && p.message && !p.message.startsWith('incremental')) {
      // No estimate yet (first incremental build of a tree): show activity, throttled.
      if (tty) stream.write(`\r\x1b[Kbuilding: ${p.message.slice(0, 60)}`);
      else if (Date.now() - lastPlain > 30_000) {
        lastPlain = Date.now();
        stream.write(`krepro: building: ${p.message}\n`);
      }
      return;
    }
    if (p.phase !== 'make' || p.percent === undefined) {
      if (tty) stream.write('\r\x1b[K');
      if (p.message) stream.write(`krepro: ${p.message}\n`);
      return;
    }
    const eta = p.etaSec !== undefined ? ` ETA ${fmtDur(p.etaSec)}` : '';
    if (tty) {
      const width = 30;
      const fill = Math.round((p.percent / 100) * width);
      stream.write(`\r\x1b[K[${'#'.repeat(fill)}${'.'.repeat(width - fill)}] ${String(p.percent).padStart(3)}%${eta} ${(p.message ?? '').slice(0, 40)}`);
    } else if (Date.now() - lastPlain > 30_000 || p.percent >= lastPct + 10) {
      lastPlain = Date.now();
      lastPct = p.percent;
      stream.write(`krepro: build ${p.percent}%${eta}\n`);
    }
  };
}

export function fmtDur(sec: number): string {
  if (sec < 90) return `${Math.round(sec)}s`;
  const m = Math.floor(sec / 60);
  return `${m}m${String(Math.round(sec % 60)).padStart(2, '0')}s`;
}
