import { execa } from 'execa';
import { access } from 'node:fs/promises';
import { envError, usageError } from '../util/errors.ts';
import { parseJobId, parseJobStates, parsePartitions, slurmFailure } from './slurm.ts';

/**
 * The one module that runs Slurm's commands (sinfo, sbatch, scontrol,
 * scancel). They find the cluster as Slurm always does: SLURM_CONF, else
 * /etc/slurm/slurm.conf (or a configless cluster's DNS record).
 */
export interface SlurmCli {
  preflight(partition: string | null): Promise<{ partitions: string[]; partition: string | null }>;
  sbatch(args: string[]): Promise<string>;
  states(ids: string[]): Promise<Record<string, string>>;
  cancel(id: string): Promise<void>;
}

const T = 60_000;

async function run(prog: string, args: string[], what: string): Promise<string> {
  let r;
  try {
    r = await execa(prog, args, { reject: false, timeout: T });
  } catch (e) {
    throw envError(`${what}: ${(e as Error).message.split('\n')[0]}`);
  }
  if ((r as { code?: string }).code === 'ENOENT' || /ENOENT/.test(String((r as { message?: string }).message ?? ''))) {
    throw envError(`${what}: ${prog} not found: install Slurm's clients (Debian: apt-get install slurm-client; scripts/setup does)`);
  }
  if (r.timedOut) throw envError(`${what}: ${prog} got no answer in ${T / 1000} s: is slurmctld reachable? (SLURM_CONF=${process.env.SLURM_CONF ?? '/etc/slurm/slurm.conf'})`);
  if (r.exitCode !== 0) throw slurmFailure(what, String(r.stderr || r.stdout));
  return String(r.stdout);
}

export const slurmCli: SlurmCli = {
  async preflight(partition) {
    const conf = process.env.SLURM_CONF;
    // Slurm retries a missing file for 60 s before it says so: check first.
    if (conf !== undefined) {
      await access(conf).catch(() => {
        throw envError(`SLURM_CONF=${conf}: no such file: point it at your cluster's slurm.conf (scripts/slurm-local start prints one)`);
      });
    }
    const out = await run('sinfo', ['-h', '-o', '%P'], 'sinfo (is the cluster up?)');
    const p = parsePartitions(out);
    if (partition && !p.names.includes(partition)) {
      throw usageError(`--partition ${partition}: the cluster has no such partition; it has ${p.names.join(', ') || 'none'}`);
    }
    return { partitions: p.names, partition: partition ?? p.default };
  },
  async sbatch(args) {
    return parseJobId(await run('sbatch', args, 'sbatch'));
  },
  async states(ids) {
    const out: Record<string, string> = {};
    for (const id of ids) {
      const r = await execa('scontrol', ['show', 'job', '-o', id], { reject: false, timeout: T });
      // A job that ended more than MinJobAge ago is gone: "Invalid job id specified".
      if (r.exitCode !== 0) {
        if (/Invalid job id/i.test(String(r.stderr))) continue;
        throw slurmFailure('scontrol show job', String(r.stderr));
      }
      Object.assign(out, parseJobStates(String(r.stdout)));
    }
    return out;
  },
  async cancel(id) {
    await run('scancel', [id], 'scancel');
  },
};
