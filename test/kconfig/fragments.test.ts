import { describe, it, expect } from 'vitest';
import { planConfig, requestedSymbols, parseDotConfig, loadProfile } from '../../src/kconfig/fragments.ts';
import { compareConfig, unmetSymbols, explainMismatch, scanKconfig } from '../../src/kconfig/verify.ts';
import { mkdtemp, writeFile, mkdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

describe('kconfig fragments', () => {
  it('the default profile combines every fragment the mission names, and vng\'s, so one kernel boots under both backends', async () => {
    const plan = await planConfig('default');
    expect(plan.fragments.map((f) => f.name)).toEqual(['base', 'mmcid', 'vsock', 'tracing', 'detectors', 'vng']);
    expect((await planConfig('vng')).fragments.map((f) => f.name)).toEqual(plan.fragments.map((f) => f.name));
    const req = requestedSymbols(plan.fragments);
    for (const s of ['CONFIG_SCHED_MM_CID', 'CONFIG_CGROUPS', 'CONFIG_RSEQ', 'CONFIG_VSOCKETS', 'CONFIG_VIRTIO_VSOCKETS', 'CONFIG_VSOCKETS_LOOPBACK', 'CONFIG_FTRACE', 'CONFIG_KPROBE_EVENTS', 'CONFIG_SOFTLOCKUP_DETECTOR', 'CONFIG_DETECT_HUNG_TASK', 'CONFIG_WQ_WATCHDOG', 'CONFIG_MAGIC_SYSRQ', 'CONFIG_KALLSYMS_ALL', 'CONFIG_9P_FS', 'CONFIG_OVERLAY_FS', 'CONFIG_PVH', 'CONFIG_KERNEL_LZ4']) {
      expect(req.get(s), s).toBe('y');
    }
    expect(req.get('CONFIG_TEST_LOCKUP')).toBe('m');
    expect(Number(req.get('CONFIG_NR_CPUS'))).toBeGreaterThanOrEqual(64);
  });

  it('the mmcid profile names the 6.12 tracepoint patch', async () => {
    const p = await loadProfile('mmcid');
    expect(p.patches.some((x) => x.endsWith('6.12/mmcid-tracepoints.patch'))).toBe(true);
  });

  it('the debug profile is the default plus line-table debug info', async () => {
    const plan = await planConfig('debug');
    expect(plan.fragments.map((f) => f.name)).toEqual(['base', 'mmcid', 'vsock', 'tracing', 'detectors', 'vng', 'debuginfo']);
    const req = requestedSymbols(plan.fragments);
    expect(req.get('CONFIG_DEBUG_INFO_DWARF_TOOLCHAIN_DEFAULT')).toBe('y');
    expect(req.get('CONFIG_DEBUG_INFO_REDUCED')).toBe('y');
    expect(req.get('CONFIG_DEBUG_KERNEL')).toBe('y'); // the choice depends on it (detectors.config)
  });

  it('single items and files stack after the profile, later ones winning', async () => {
    const d = await mkdtemp(join(tmpdir(), 'kfrag-'));
    const f = join(d, 'mine.config');
    await writeFile(f, 'CONFIG_KASAN=y\n# CONFIG_WQ_WATCHDOG is not set\n');
    const plan = await planConfig('default', [f, 'CONFIG_HZ_1000=y']);
    const req = requestedSymbols(plan.fragments);
    expect(req.get('CONFIG_KASAN')).toBe('y');
    expect(req.get('CONFIG_WQ_WATCHDOG')).toBe('n');
    expect(req.get('CONFIG_HZ_1000')).toBe('y');
  });

  it('rejects unknown profiles, unreadable fragments and malformed items with a hint', async () => {
    await expect(planConfig('nope')).rejects.toThrow(/unknown profile 'nope'.*kconfigs\/profiles/);
    await expect(planConfig('default', ['/no/such/file.config'])).rejects.toThrow(/cannot read config fragment/);
    await expect(planConfig('default', ['CONFIG_X'])).rejects.toThrow(/CONFIG_NAME=value/);
  });
});

describe('kconfig verification', () => {
  const final = parseDotConfig('CONFIG_SMP=y\nCONFIG_RSEQ=y\n# CONFIG_CGROUPS is not set\nCONFIG_NR_CPUS=64\n');
  it('finds symbols Kconfig dropped, and accepts n as absent', () => {
    const req = new Map([['CONFIG_SMP', 'y'], ['CONFIG_SCHED_MM_CID', 'y'], ['CONFIG_CGROUPS', 'y'], ['CONFIG_FOO', 'n'], ['CONFIG_NR_CPUS', '64']]);
    expect(compareConfig(req, final)).toEqual([
      { symbol: 'CONFIG_SCHED_MM_CID', wanted: 'y', got: null },
      { symbol: 'CONFIG_CGROUPS', wanted: 'y', got: 'n' },
    ]);
  });

  it('explains a drop by its unmet depends on and enclosing if', async () => {
    const d = await mkdtemp(join(tmpdir(), 'ktree-'));
    await mkdir(join(d, 'init'));
    await writeFile(join(d, 'init', 'Kconfig'), 'menuconfig CGROUPS\n\tbool "cg"\n\nif CGROUPS\n\nconfig SCHED_MM_CID\n\tdef_bool y\n\tdepends on SMP && RSEQ\n\nendif\n');
    const entries = await scanKconfig(d, new Set(['CONFIG_SCHED_MM_CID', 'CONFIG_NOT_THERE']));
    const e = entries.get('SCHED_MM_CID');
    expect(e).toEqual({ file: 'init/Kconfig', dependsOn: ['SMP && RSEQ'], enclosingIfs: ['CGROUPS'] });
    expect(entries.has('NOT_THERE')).toBe(false);
    const msg = explainMismatch({ symbol: 'CONFIG_SCHED_MM_CID', wanted: 'y', got: null }, e, final);
    expect(msg).toBe("CONFIG_SCHED_MM_CID: wanted y, got absent; depends on SMP && RSEQ, inside 'if CGROUPS' [init/Kconfig]; unmet: CGROUPS");
  });

  it('unmetSymbols evaluates negations', () => {
    expect(unmetSymbols('SMP && !CGROUPS && X86_64', final)).toEqual(['X86_64']);
    expect(unmetSymbols('!SMP', final)).toEqual(['!SMP']);
  });
});
