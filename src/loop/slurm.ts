import { envError, usageError } from '../util/errors.ts';

/**
 * `krepro loop --on slurm --shards N`: the pure half (what to submit, how to
 * read Slurm's answers, when to cancel). slurm-exec.ts runs the programs.
 *
 * The shape: one job array of N tasks, each `krepro loop` in its own shard
 * dir under one shared loop root (`<root>/shard-<task id>`), finding its
 * shard from SLURM_ARRAY_TASK_ID/SLURM_ARRAY_TASK_COUNT (shard.ts); then a
 * merge job, `--dependency=afterany:<array>`, that runs `krepro merge` into
 * `<root>/merged` whatever the tasks' exit codes (a shard that reproduced
 * exits 1, which Slurm calls FAILED). The submitter waits, printing
 * progress from the shards' loop.json files, and with --stop-on-first
 * cancels the array (scancel) once a shard has reproduced.
 */

/** Options of `krepro loop` that belong to the submitter, never passed to a shard. */
const SUBMITTER_VALUE_OPTIONS = ['--on', '--shards', '--max-running', '--partition', '--dir', '--shard'];
const SUBMITTER_FLAGS = ['--no-wait', '--wait', '--json', '--no-json', '--history', '--no-history'];

/**
 * The shard's `krepro loop` arguments: the user's own (argv after `loop`),
 * less the options that only the submitter understands. Both `--x v` and
 * `--x=v` forms are handled.
 */
export function shardArgs(argv: string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const name = a.includes('=') ? a.slice(0, a.indexOf('=')) : a;
    if (SUBMITTER_VALUE_OPTIONS.includes(name)) {
      if (!a.includes('=')) i++;
      continue;
    }
    if (SUBMITTER_FLAGS.includes(name)) continue;
    out.push(a);
  }
  return out;
}

export function shQuote(s: string): string {
  return /^[A-Za-z0-9_@%+=:,./-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`;
}

export interface SlurmPlan {
  root: string;          // the loop root every task shares
  cwd: string;           // where the shards run (relative paths of the user's options)
  krepro: string[];      // [node, /path/to/bin/krepro.mjs]
  shards: number;
  maxRunning?: number | null;  // at most this many tasks at once (--array=1-N%M)
  partition?: string | null;
  args: string[];        // the shard's loop arguments (shardArgs)
  results: string;       // results root for the merged loop's history
}

/** The array task's batch script. */
export function shardScript(p: SlurmPlan): string {
  return [
    '#!/bin/sh',
    '# One shard of a krepro loop, written by `krepro loop --on slurm`; the shard',
    '# comes from SLURM_ARRAY_TASK_ID and SLURM_ARRAY_TASK_COUNT.',
    `exec ${[...p.krepro, 'loop'].map(shQuote).join(' ')} --dir ${shQuote(p.root)}/shard-"$SLURM_ARRAY_TASK_ID" --no-history ${p.args.map(shQuote).join(' ')}`.trimEnd(),
    '',
  ].join('\n');
}

/** The merge job's batch script: the shards' loop dirs -> <root>/merged, its summary as JSON. */
export function mergeScript(p: SlurmPlan): string {
  return [
    '#!/bin/sh',
    '# Merge of the shards of a krepro loop, written by `krepro loop --on slurm`;',
    '# runs after every array task ended (afterany), whatever their exit codes.',
    `exec ${[...p.krepro, 'merge'].map(shQuote).join(' ')} ${shQuote(p.root)} -o ${shQuote(p.root)}/merged --results ${shQuote(p.results)} --json >${shQuote(p.root)}/merged.json`,
    '',
  ].join('\n');
}

export function arraySbatchArgs(p: SlurmPlan, script: string): string[] {
  return [
    '--parsable', '--job-name', 'krepro-loop', `--array=1-${p.shards}${p.maxRunning ? `%${p.maxRunning}` : ''}`, '--chdir', p.cwd,
    '--output', `${p.root}/slurm-%A_%a.out`,
    ...(p.partition ? ['--partition', p.partition] : []),
    script,
  ];
}

export function mergeSbatchArgs(p: SlurmPlan, arrayId: string, script: string): string[] {
  return [
    '--parsable', '--job-name', 'krepro-merge', `--dependency=afterany:${arrayId}`, '--chdir', p.cwd,
    '--output', `${p.root}/slurm-merge-%j.out`,
    ...(p.partition ? ['--partition', p.partition] : []),
    script,
  ];
}

/** `sbatch --parsable` prints `<id>` or `<id>;<cluster>`. */
export function parseJobId(stdout: string): string {
  const m = /^(\d+)(?:;\S+)?\s*$/m.exec(stdout.trim());
  if (!m) throw envError(`sbatch printed no job id (${JSON.stringify(stdout.trim().slice(0, 200))})`);
  return m[1];
}

/** `scontrol show job -o ID` lines -> each job's (or array task's) state, e.g. {"12_1": "RUNNING", "13": "PENDING"}. */
export function parseJobStates(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of text.split('\n')) {
    const id = /(?:^|\s)JobId=(\d+)/.exec(line)?.[1];
    const state = /(?:^|\s)JobState=(\S+)/.exec(line)?.[1];
    if (!id || !state) continue;
    const arr = /(?:^|\s)ArrayJobId=(\d+)\s+ArrayTaskId=(\S+)/.exec(line);
    out[arr ? `${arr[1]}_${arr[2]}` : id] = state;
  }
  return out;
}

const ENDED = new Set(['COMPLETED', 'FAILED', 'CANCELLED', 'TIMEOUT', 'NODE_FAIL', 'PREEMPTED', 'BOOT_FAIL', 'DEADLINE', 'OUT_OF_MEMORY']);
export const jobEnded = (state: string | undefined): boolean => state === undefined || ENDED.has(state.replace(/\+$/, ''));

/** What the submitter knows at one poll: each shard's loop.json counts, and whether the merge job ended. */
export interface SlurmPoll {
  shards: { runs: number; reproduced: number; status: string | null }[];
  mergeEnded: boolean;
  cancelled: boolean;
}

/** Cancel the array now? Only with --stop-on-first, once, after a shard reproduced. */
export function shouldCancel(p: SlurmPoll, stopOnFirst: boolean): boolean {
  return stopOnFirst && !p.cancelled && p.shards.some((s) => s.reproduced > 0);
}

/**
 * A Slurm command's failure -> one line that says what to do. Slurm's own
 * words: munge's socket missing, the controller not answering, a partition
 * it does not know, a configuration it cannot read.
 */
export function slurmFailure(what: string, stderr: string): Error {
  const text = stderr.trim();
  const last = text.split('\n').filter(Boolean).pop() ?? '';
  if (/Munge encode failed|munge\.socket|Protocol authentication error|authentication error/i.test(text)) {
    return envError(`${what}: munge is not running (${/Munge encode failed: (.*)/.exec(text)?.[1] ?? last}): start munged (systemctl start munge; scripts/slurm-local start for a one-node cluster)`);
  }
  if (/Unable to contact slurm controller|Slurmctld\(primary\) at \S+ is DOWN|Connection refused|connect failure/i.test(text)) {
    return envError(`${what}: no Slurm controller reachable (${last}): start slurmctld, or point SLURM_CONF at your cluster's slurm.conf (scripts/slurm-local start for a one-node cluster)`);
  }
  if (/invalid partition/i.test(text)) {
    return usageError(`${what}: ${last.replace(/^\S+: error: /, '')}: pick a partition that sinfo lists, or drop --partition`);
  }
  if (/Unable to process configuration file|cannot stat file|ClusterName needs to be specified/i.test(text)) {
    return envError(`${what}: Slurm has no configuration (${last}): set SLURM_CONF=/path/to/slurm.conf (scripts/slurm-local start prints one)`);
  }
  return envError(`${what} failed: ${last || 'no output'}`);
}

/** `sinfo -h -o %P` -> partition names (the default one carries a `*`). */
export function parsePartitions(text: string): { names: string[]; default: string | null } {
  const names: string[] = [];
  let def: string | null = null;
  for (const raw of text.split('\n').map((l) => l.trim()).filter(Boolean)) {
    const name = raw.replace(/\*$/, '');
    if (raw.endsWith('*')) def = name;
    if (!names.includes(name)) names.push(name);
  }
  return { names, default: def };
}
