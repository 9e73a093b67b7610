import type { CommandModule } from 'yargs';

/**
 * Every command: its name, usage and one-line description, and how to load
 * its code. Only the command being run is loaded (its modules and theirs:
 * execa, the build, QEMU control, ...); the others are listed from this
 * table alone, so `krepro --help` and `krepro --version` load none of them.
 * `command` and `describe` must equal the module's own (a fast test checks).
 */
export interface CommandEntry {
  name: string;
  command: string;
  describe: string;
  load: () => Promise<{ default: CommandModule<any, any> }>;
}

export const commands: readonly CommandEntry[] = [
  { name: 'analyze', command: 'analyze <trace>', describe: 'Replay mmcid trace events per mm and report missed fixup walks, duplicate, leaked or exhausted CIDs', load: () => import('./analyze.ts') },
  { name: 'build', command: 'build', describe: 'Build a kernel (any commit of a git tree, profile fragments, patches) through the build cache', load: () => import('./build.ts') },
  { name: 'bisect', command: 'bisect', describe: 'Find the commit that introduced (or, with --fixed, fixed) a flaky bug, with a stated confidence', load: () => import('./bisect.ts') },
  { name: 'doctor', command: 'doctor', describe: 'Check the host: QEMU, KVM or TCG, vhost-vsock, ccache, gcc, cores, disk, kernel source', load: () => import('./doctor.ts') },
  { name: 'fetch', command: 'fetch <tree>', describe: "Fetch Debian's linux-source-X.Y (debian:7.2, debian:7.3=VERSION) into the cache as a one-commit git repository", load: () => import('./fetch.ts') },
  { name: 'loop', command: 'loop', describe: 'Build once and boot the kernel many times: reproduction rate, time to failure, history', load: () => import('./loop.ts') },
  { name: 'merge', command: 'merge <dirs..>', describe: 'Combine the shard dirs of one loop (krepro loop --shard K/N) into one loop result', load: () => import('./merge.ts') },
  { name: 'history', command: 'history', describe: 'List loops by configuration, commit and date; flag significant rate changes (Fisher p<0.05)', load: () => import('./history.ts') },
  { name: 'run', command: 'run', describe: 'Build (or take) a kernel, boot it in QEMU with the stress workload, detect stalls, give a verdict', load: () => import('./run.ts') },
  { name: 'bundle', command: 'bundle [dir]', describe: 'Pack a run, loop or bisection dir into a .tar.gz with a sha256 MANIFEST; --verify or --extract one', load: () => import('./bundle.ts') },
  { name: 'report', command: 'report <dir>', describe: 'Print a plain-text report (<= 80 columns) for a run, loop or bisection dir, ready for the list', load: () => import('./report.ts') },
  { name: 'classify', command: 'classify <files..>', describe: 'Name the crashes in console logs with syzbot-style titles (BUG: soft lockup in f, INFO: task hung in f, ...)', load: () => import('./classify.ts') },
  { name: 'lava-job', command: 'lava-job', describe: 'Write a LAVA job (qemu device type) that boots what krepro run would, with our detectors as a test monitor; --run runs it with lava-run and judges the log', load: () => import('./lava-job.ts') },
  { name: 'import-lava', command: 'import-lava <log>', describe: 'Judge a LAVA job log (lava-run output, or a job log from a LAVA server) like a krepro run: console.log and run.json with our verdict', load: () => import('./import-lava.ts') },
];

/** Global options that take a value (their value is never the command's name). */
const GLOBAL_WITH_VALUE = new Set(['--defaults']);

/** The command named in argv (the first word that is a command's name), or null. */
export function commandOf(argv: readonly string[]): CommandEntry | null {
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--') return null;
    if (GLOBAL_WITH_VALUE.has(a)) { i++; continue; }
    if (a.startsWith('-')) continue;
    return commands.find((c) => c.name === a) ?? null;
  }
  return null;
}
