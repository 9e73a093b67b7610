/**
 * Titles of the real v6.19 stall, from consoles of the Linux 7.2 kernel with
 * the v7.0-rc3 walk restored (kept excerpts of runs here): the stalled CPUs
 * spin in mm_get_cid() with interrupts off, so the RCU stall's NMI
 * backtraces carry no timer interrupt, and a guest that went silent ends in
 * krepro's NMI.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { classify } from '../../src/console/classify.ts';
import { titleWithVcpus } from '../../src/run/silent.ts';
import type { VcpuState } from '../../src/run/types.ts';

const data = (f: string) => readFileSync(join(import.meta.dirname, 'data', f), 'utf8');

describe('the v6.19 stall on Linux 7.2', () => {
  it('an RCU stall detected by another CPU is named by the CPU spinning in its own loop, not "corrupted"', () => {
    const [r] = classify(data('7.2-rcu-stall-nmi-backtraces.log'));
    expect(r.title).toBe('INFO: rcu detected stall in mm_get_cid');
    expect(r.type).toBe('HANG');
    expect(r.corrupted).toBe(false);
  });
  it('the same report with every NMI backtrace waiting on a lock stays corrupted (nothing names the loop)', () => {
    const text = data('7.2-rcu-stall-nmi-backtraces.log').replace(/RIP: 0010:mm_get_cid\+/g, 'RIP: 0010:queued_spin_lock_slowpath+');
    const [r] = classify(text);
    expect(r.title).toBe('INFO: rcu detected stall in corrupted');
  });
  it("a console ending in krepro's NMI is a silent hang, not a panic", () => {
    const [r] = classify(data('7.2-silent-hang-nmi.log'));
    expect(r.title).toBe('INFO: silent hang in mm_cid_fixup_task_to_cpu');
    expect(r.type).toBe('HANG');
  });
  it("with the run's vCPU samples, classify names the frame the live detector named", () => {
    // the samples run.json kept for that run: CPU 1 spinning in mm_get_cid, the others waiting on locks
    const vcpus: VcpuState[] = [0, 1, 2, 3].map((cpu) => ({
      cpu, rip: 'ffffffff815a6ae3', source: null,
      symbol: cpu === 1 ? 'mm_get_cid+0x1c/0x2a' : 'queued_spin_lock_slowpath+0x27/0x23f',
    }));
    const [r] = titleWithVcpus(classify(data('7.2-silent-hang-nmi.log')), vcpus, 45);
    expect(r.title).toBe('INFO: silent hang in mm_get_cid');
    expect(r.altTitles).toContain('INFO: silent hang in mm_cid_fixup_task_to_cpu');
    // any other report keeps its own title
    const [rcu] = titleWithVcpus(classify(data('7.2-rcu-stall-nmi-backtraces.log')), vcpus, 45);
    expect(rcu.title).toBe('INFO: rcu detected stall in mm_get_cid');
  });
});
