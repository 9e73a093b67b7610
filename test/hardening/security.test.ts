import { describe, it, expect } from 'vitest';
import { readdir, readFile } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { PROJECT_ROOT } from '../../src/util/paths.ts';

/**
 * Security half of the hardening matrix, checked on the source itself:
 * external programs only through execa with an argument array (never a
 * shell, never a command string built from input), and each program from
 * the one module that owns it.
 */
async function sources(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const e of await readdir(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) out.push(...(await sources(p)));
    else if (e.name.endsWith('.ts')) out.push(p);
  }
  return out;
}

/** program -> the modules allowed to start it. */
const OWNERS: Record<string, string[]> = {
  git: ['src/source/git.ts'],
  make: ['src/build/make.ts'],
  'merge_config.sh': ['src/build/make.ts'],
  gcc: ['src/image/tools.ts', 'src/build/make.ts'], // the guest's static binaries; the compiler identity of builds
  busybox: ['src/image/tools.ts'],
  'qemu-system-x86_64': ['src/vm/qemu.ts'],
  setpriv: ['src/vm/qemu.ts', 'src/vm/vng-process.ts'], // the death-signal wrapper of each VM launcher
  vng: ['src/vm/vng.ts', 'src/vm/vng-process.ts'],
  addr2line: ['src/vm/symbols.ts'],
  readelf: ['src/vm/symbols.ts'],
  tar: ['src/source/debian.ts'],
  'apt-get': ['src/source/apt.ts'],
  'apt-cache': ['src/source/apt.ts'],
  'dpkg-deb': ['src/source/apt.ts'],
  'dpkg-query': ['src/source/apt.ts'],
  'lava-run': ['src/lava/run.ts'],
  du: ['src/build/cache.ts'],
  sinfo: ['src/loop/slurm-exec.ts'],
  sbatch: ['src/loop/slurm-exec.ts'],
  scontrol: ['src/loop/slurm-exec.ts'],
  scancel: ['src/loop/slurm-exec.ts'],
  ccache: ['src/build/make.ts'],
};

describe('external programs', () => {
  it('no shell: no shell option, no child_process exec, no execa template strings', async () => {
    const bad: string[] = [];
    for (const f of await sources(join(PROJECT_ROOT, 'src'))) {
      const text = await readFile(f, 'utf8');
      const rel = relative(PROJECT_ROOT, f);
      if (/\bshell\s*:\s*true/.test(text)) bad.push(`${rel}: shell: true`);
      if (/from ['"](node:)?child_process['"]/.test(text)) bad.push(`${rel}: child_process`);
      if (/\$\s*`|execa\s*`|execaCommand|execa\(\s*`[^`]*\$\{[^`]*`\s*\)/.test(text)) bad.push(`${rel}: command string`);
    }
    expect(bad).toEqual([]);
  });

  it('each program is started from the module that owns it', async () => {
    const found: string[] = [];
    for (const f of await sources(join(PROJECT_ROOT, 'src'))) {
      const rel = relative(PROJECT_ROOT, f);
      const text = await readFile(f, 'utf8');
      for (const m of text.matchAll(/execa\(\s*['"]([^'"]+)['"]/g)) {
        const prog = m[1].split('/').pop()!;
        const owners = OWNERS[prog];
        if (rel === 'src/doctor/facts.ts' && /--version|--help|-L/.test(text.slice(m.index!, m.index! + 200))) continue; // doctor's probes
        if (!owners || !owners.includes(rel)) found.push(`${prog} started from ${rel}`);
      }
    }
    expect(found).toEqual([]);
  });
});
