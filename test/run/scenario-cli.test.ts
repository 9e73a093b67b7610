import { describe, it, expect, beforeAll } from 'vitest';
import { mkdtemp, writeFile, mkdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { PROJECT_ROOT } from '../../src/util/paths.ts';
import { kreproIn, kernelishRepo } from '../helpers/cli.ts';

/** The real CLI: --scenario with --dry-run (nothing built, nothing downloaded), and --revert's usage errors. */
let tmp: string;
let kernelish: string;
let krepro: ReturnType<typeof kreproIn>;

beforeAll(async () => {
  tmp = await mkdtemp(join(tmpdir(), 'kscen-cli-'));
  krepro = kreproIn(tmp);
  kernelish = await kernelishRepo(join(tmp, 'linux'));
});

describe('krepro run --scenario', () => {
  it('--dry-run prints the scenario, the build and the command lines', async () => {
    const r = await krepro(['run', '--scenario', 'v6.19-vfork-stall', '--dry-run']);
    expect(r.stderr).toMatch(/^krepro: scenario v6\.19-vfork-stall: The v6\.19 MM CID stall/m);
    expect(r.exitCode).toBe(0);
    expect(r.stdout).toMatch(/^# scenario v6\.19-vfork-stall: /m);
    expect(r.stdout).toMatch(/^# build: tree debian:7\.2, commit HEAD, profile default, not in the build cache yet$/m);
    expect(r.stdout).toContain(`#   patch  ${join(PROJECT_ROOT, 'patches/7.2/0001-restore-rc3-fixup-walk.patch')}`);
    expect(r.stdout).toMatch(/ -smp 4 /);
    expect(r.stdout).toMatch(/krepro\.duration=60/);
  });

  it('the command line overrides it', async () => {
    const r = await krepro(['run', '--scenario', 'v6.19-vfork-stall-fixed', '--dry-run', '--cpus', '2', '--duration', '30']);
    expect(r.exitCode).toBe(0);
    expect(r.stderr).toMatch(/\(the command line overrides: cpus, duration\)/);
    expect(r.stdout).toMatch(/ -smp 2 /);
    expect(r.stdout).toMatch(/krepro\.duration=30/);
    expect(r.stdout).toContain('mmcid-trace-walk-userlist.patch');
  });

  it('bad scenarios are one-line usage errors', async () => {
    await writeFile(join(tmp, 'bad.json'), '{"cpus": 2, "colour": "red"}');
    const r = await krepro(['loop', '--scenario', join(tmp, 'bad.json'), '--count', '1']);
    expect(r.exitCode).toBe(255);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(/unknown key "colour"; allowed keys: description, evidence, .*\bcount\b/);
    const m = await krepro(['bisect', '--scenario', 'no-such-scenario']);
    expect(m.exitCode).toBe(255);
    expect(m.stderr).toMatch(/no such scenario .*give one of .*v6\.19-vfork-stall/);
  });
});

describe('krepro build --revert', () => {
  it('a name that is neither a file nor a commit is a usage error', async () => {
    const r = await krepro(['build', '--tree', kernelish, '--revert', 'no-such-thing']);
    expect(r.exitCode).toBe(255);
    expect(r.stderr).toMatch(/--revert no-such-thing: no such file, and not a commit of .*: give a patch file or a revision/);
  });
  it('a file that is not a patch is a usage error', async () => {
    await writeFile(join(tmp, 'notes.txt'), 'hello\n');
    const r = await krepro(['build', '--tree', kernelish, '--revert', join(tmp, 'notes.txt')]);
    expect(r.exitCode).toBe(255);
    expect(r.stderr).toMatch(/is not a patch/);
  });
  it('--revert needs a build', async () => {
    const r = await krepro(['run', '--kernel', '/bin/true', '--revert', 'HEAD']);
    expect(r.exitCode).toBe(255);
    expect(r.stderr).toMatch(/--kernel boots a given bzImage: drop .*--revert/);
  });
});
