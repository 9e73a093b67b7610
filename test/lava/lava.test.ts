import { describe, it, expect } from 'vitest';
import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse } from 'yaml';
import { lavaJob, lavaQemuDevice, detectorPattern } from '../../src/lava/job.ts';
import { parseLavaLog } from '../../src/lava/log.ts';
import { importLavaLog } from '../../src/lava/import.ts';
import { matchOops } from '../../src/console/oops.ts';

const spec = { name: 'krepro t', kernelUrl: 'file:///b/bzImage', initrdUrl: 'file:///c/i.cpio.gz', append: 'console=ttyS0,115200 panic=-1 krepro.duration=10 krepro.trace=mmcid:*', cpus: 4, memoryMb: 1024, accel: 'tcg' as const, timeoutMin: 12 };

describe('krepro lava-job', () => {
  it('a qemu device-type job: tmpfs deploy of our kernel and initramfs, our command line, a monitor of our detectors', () => {
    const job = parse(lavaJob(spec));
    expect(job.device_type).toBe('qemu');
    const [deploy, boot, test] = job.actions;
    expect(deploy.deploy.to).toBe('tmpfs');
    expect(deploy.deploy.images.kernel.url).toBe('file:///b/bzImage');
    expect(deploy.deploy.images.kernel.image_arg).toBe('-kernel {kernel} -append "console=ttyS0,115200 panic=-1 krepro.duration=10 krepro.trace=mmcid:*" -smp 4 -m 1024M -no-reboot');
    expect(deploy.deploy.images.ramdisk.image_arg).toBe('-initrd {ramdisk}');
    expect(boot.boot).toMatchObject({ method: 'qemu', media: 'tmpfs' });
    const m = test.test.monitors[0];
    expect(m.start).toBe('krepro-init: started');
    expect(m.end).toBe('krepro-init: poweroff');
    expect(job.timeouts.job.minutes).toBe(12);
    expect(job.context.no_kvm).toBe(true);
    expect(() => lavaJob({ ...spec, append: 'a="b c"' })).toThrow(/double quotes/);
  });
  it('the monitor pattern is the start lines our live detector stops on', () => {
    const re = new RegExp(detectorPattern().replace(/\(\?P</g, '(?<'));
    for (const l of ['[   20.5] watchdog: BUG: soft lockup - CPU#0 stuck for 17s! [x:56]', '[ 9.1] rcu: INFO: rcu_preempt detected stalls on CPUs/tasks:', '[ 30.0] INFO: task krepro-modload:57 blocked for more than 20 seconds.', '[ 1.0] Kernel panic - not syncing: softlockup: hung tasks']) {
      expect(re.test(l), l).toBe(true);
      expect(matchOops(l), l).not.toBeNull();
    }
  });
  it('the device dictionary lava-run needs: constants, the qemu boot method with our QEMU options', () => {
    const d = parse(lavaQemuDevice({ accel: 'tcg' }));
    expect(d.actions.boot.methods.qemu.parameters.command).toBe('qemu-system-x86_64');
    expect(d.actions.boot.methods.qemu.parameters.options).toContain('-accel tcg,thread=multi -cpu max');
    expect(d.constants.failure_retry).toBe(1);
    expect(d.constants['kernel-start-message']).toBeTruthy();
    expect(parse(lavaQemuDevice({ accel: 'kvm' })).actions.boot.methods.qemu.parameters.options[0]).toBe('-accel kvm -cpu host');
  });
});

describe('krepro import-lava', () => {
  const real = join(import.meta.dirname, 'data', 'soft-lockup.lava.log');   // lava-run 2023.01 on our soft-lockup self-test job
  it('parses lava-run\'s records (flow YAML: not every line is JSON), the console and the boot command', async () => {
    const log = parseLavaLog(await readFile(real, 'utf8'));
    expect(log.bootCommand).toMatch(/^\/usr\/bin\/qemu-system-x86_64 .* -kernel \S+ -append "console=ttyS0,115200 .*krepro.selftest=soft-lockup" -smp 2/);
    expect(log.console.some((c) => c.line === 'krepro-init: started')).toBe(true);
    expect(log.job).toEqual({ result: 'fail', error: 'Connection closed' });
    expect(log.results.some((r) => r.definition === 'krepro' && r.result === 'fail')).toBe(true);
  });
  it('a soft lockup job log -> run.json reproduced, LAVA\'s "incomplete" kept as a note', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'krepro-lava-'));
    const rec = await importLavaLog(real, { resultsDir: dir });
    expect(rec.verdict).toBe('reproduced');
    expect(rec.title).toBe('BUG: soft lockup in test_lockup_init');
    expect(rec.detection!.kind).toBe('soft-lockup');
    expect(rec.selfTest).toBe('soft-lockup');
    expect(rec.qemu.cpus).toBe(2);
    expect(rec.error).toMatch(/LAVA job result fail \(Connection closed\)/);
    expect(rec.timings.bootToInitMs).toBeGreaterThan(0);
    const saved = JSON.parse(await readFile(join(rec.dir, 'run.json'), 'utf8'));
    expect(saved.verdict).toBe('reproduced');
    expect(saved.files).toEqual(['console.log', 'lava.log']);
  });
  it('the same log under a signature it does not match is not reproduced', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'krepro-lava-'));
    const rec = await importLavaLog(real, { resultsDir: dir, signature: 'rcu.*stall' });
    expect(rec.verdict).not.toBe('reproduced');
    expect(rec.unrelated[0].title).toMatch(/soft lockup/);
  });
  it('a file that is not a LAVA log is a usage error naming what to give', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'krepro-lava-'));
    const f = join(dir, 'console.log');
    await writeFile(f, '[    0.000000] Linux version 6.12\nkrepro-init: started\n');
    await expect(importLavaLog(f, { resultsDir: dir })).rejects.toThrow(/is not a LAVA job log .*give the output of lava-run/);
    await expect(importLavaLog(join(dir, 'missing.log'), { resultsDir: dir })).rejects.toThrow(/cannot read .*missing.log \(ENOENT\)/);
  });
});
