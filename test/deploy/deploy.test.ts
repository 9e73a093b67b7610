import { describe, it, expect } from 'vitest';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { execa } from 'execa';
import { parse, parseAllDocuments } from 'yaml';
import { PROJECT_ROOT } from '../../src/util/paths.ts';

// deploy/ holds manifests for engines that cannot run here (no Kubernetes
// distribution is installable, no GitHub runner): they are checked offline.
// What is checked: the YAML parses, the fields those engines require and the
// ones krepro relies on agree (shard counts, volumes, job dependencies), the
// shell in them is valid sh, and every krepro command line in them uses
// options the CLI has.
const K8S = join(PROJECT_ROOT, 'deploy', 'kubernetes', 'loop-indexed-job.yaml');
const GHA = join(PROJECT_ROOT, 'deploy', 'github-actions', 'krepro-loop.yml');

/** `node bin/krepro.mjs CMD --opt ...` lines of a script (line continuations joined) -> [cmd, options]. */
function kreproCalls(script: string): { cmd: string; options: string[] }[] {
  const joined = script.replace(/\\\n\s*/g, ' ');
  const out: { cmd: string; options: string[] }[] = [];
  for (const m of joined.matchAll(/node bin\/krepro\.mjs (\S+)([^\n;|&]*)/g)) {
    out.push({ cmd: m[1], options: [...m[2].matchAll(/(?:^|\s)(--[a-z][a-z-]*|-o)(?=[\s=]|$)/g)].map((x) => x[1]) });
  }
  return out;
}

const helpCache = new Map<string, string>();
async function helpOf(cmd: string): Promise<string> {
  if (!helpCache.has(cmd)) {
    const r = await execa('node', [join(PROJECT_ROOT, 'bin/krepro.mjs'), cmd, '--help'], { reject: false });
    expect(r.exitCode, `krepro ${cmd} --help: ${r.stderr}`).toBe(0);
    helpCache.set(cmd, r.stdout);
  }
  return helpCache.get(cmd)!;
}

async function checkCalls(scripts: string[]): Promise<number> {
  let n = 0;
  for (const s of scripts) {
    for (const c of kreproCalls(s)) {
      const help = await helpOf(c.cmd);
      for (const o of c.options) {
        const bare = o.replace(/^--no-/, '--');
        expect(help.includes(`${o} `) || help.includes(`${o}\n`) || help.includes(`${bare} `) || help.includes(`${o},`) || help.includes(`, ${o}`), `krepro ${c.cmd} has no option ${o}`).toBe(true);
      }
      n++;
    }
  }
  return n;
}

async function shOk(script: string, what: string): Promise<void> {
  const r = await execa('sh', ['-n', '-c', script.replace(/\$\{\{[^}]*\}\}/g, 'X')], { reject: false });
  expect(r.exitCode, `${what}: ${r.stderr}`).toBe(0);
}

describe('deploy/kubernetes (offline: no cluster here)', () => {
  it('two batch/v1 Jobs whose shard count, merge wait, volumes and commands agree', async () => {
    const docs = parseAllDocuments(await readFile(K8S, 'utf8'));
    for (const d of docs) expect(d.errors, String(d.errors)).toEqual([]);
    const [loop, merge] = docs.map((d) => d.toJS());
    for (const j of [loop, merge]) {
      expect(j.apiVersion).toBe('batch/v1');
      expect(j.kind).toBe('Job');
      expect(j.metadata.name).toMatch(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/);
      const pod = j.spec.template.spec;
      expect(['Never', 'OnFailure']).toContain(pod.restartPolicy);          // a Job's pods may not restart Always
      const vols = new Set(pod.volumes.map((v: { name: string }) => v.name));
      for (const c of pod.containers) for (const m of c.volumeMounts ?? []) expect(vols.has(m.name), m.name).toBe(true);
      for (const c of pod.containers) await shOk(c.args.join('\n'), j.metadata.name);
    }
    expect(loop.spec.completionMode).toBe('Indexed');
    const n = loop.spec.completions;
    const env = Object.fromEntries(loop.spec.template.spec.containers[0].env.map((e: { name: string; value: string }) => [e.name, e.value]));
    expect(Number(env.KREPRO_SHARD_COUNT)).toBe(n);
    expect(merge.spec.template.spec.containers[0].args[0]).toContain(`-ge ${n} ]`);
    const scripts = [...loop.spec.template.spec.containers, ...merge.spec.template.spec.containers].map((c: { args: string[] }) => c.args.join('\n'));
    expect(await checkCalls(scripts)).toBeGreaterThanOrEqual(6);
  });
});

describe('deploy/github-actions (offline: no runner here)', () => {
  it('a workflow whose matrix, shard count, job dependencies, steps and commands agree', async () => {
    const wf = parse(await readFile(GHA, 'utf8'));
    expect(wf.on.schedule[0].cron.split(' ')).toHaveLength(5);
    const jobs = wf.jobs as Record<string, { needs?: string | string[]; steps: Record<string, unknown>[]; strategy?: { matrix: { shard: number[] } } }>;
    for (const [name, j] of Object.entries(jobs)) {
      for (const need of [j.needs ?? []].flat()) expect(Object.keys(jobs), `${name} needs ${need}`).toContain(need);
      for (const s of j.steps) expect(('uses' in s) !== ('run' in s), `${name}: a step has uses or run`).toBe(true);
      for (const s of j.steps) if (typeof s.run === 'string') await shOk(s.run, name);
    }
    expect(jobs.shard.strategy!.matrix.shard).toEqual([...Array(Number(wf.env.SHARDS)).keys()]);
    const scripts = Object.values(jobs).flatMap((j) => j.steps.map((s) => (typeof s.run === 'string' ? s.run : ''))); 
    expect(await checkCalls(scripts)).toBeGreaterThanOrEqual(6);
  });
});

describe('the offline checker itself', () => {
  it('finds krepro calls and flags an option the CLI lacks', async () => {
    expect(kreproCalls('node bin/krepro.mjs loop --count 4 \\\n  --dir "$d" --no-history || true')).toEqual([{ cmd: 'loop', options: ['--count', '--dir', '--no-history'] }]);
    await expect(checkCalls(['node bin/krepro.mjs loop --no-such-option 1'])).rejects.toThrow(/no option --no-such-option/);
  });
});
