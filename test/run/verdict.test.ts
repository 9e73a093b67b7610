import { describe, it, expect } from 'vitest';
import { decide, matches, EXIT_FOR_VERDICT, type Observed } from '../../src/verdict/verdict.ts';
import { splitArtifacts, readArtifacts } from '../../src/run/artifacts-channel.ts';
import { gzipSync } from 'node:zlib';
import { pickHangFrame, callerFromStack, isLibraryLeaf } from '../../src/run/silent.ts';
import type { CrashReport } from '../../src/console/types.ts';

const rep = (title: string, type = 'HANG'): CrashReport => ({ title, altTitles: [], type, frame: null, corrupted: false, startLine: 0, endLine: 1, stack: [] });
const base: Observed = { interrupted: false, qemuStarted: true, qemuExit: { code: 0, signal: null, byUs: false }, initSeen: true, workloadDone: true, reports: [], silentHang: null, signature: null, title: null };

describe('verdict policy', () => {
  it.each([
    ['clean run', {}, 'not-reproduced'],
    ['a stall', { reports: [rep('BUG: soft lockup in mm_cid_get')], workloadDone: false }, 'reproduced'],
    ['a silent hang', { silentHang: rep('INFO: silent hang in mm_cid_get'), workloadDone: false, qemuExit: { code: 0, signal: null, byUs: true } }, 'reproduced'],
    ['crash before init', { initSeen: false, reports: [rep('BUG: unable to handle page fault', 'BUG')], workloadDone: false }, 'boot-failed'],
    ['no init at all', { initSeen: false, workloadDone: false, qemuExit: { code: 0, signal: null, byUs: true } }, 'boot-failed'],
    ['boot timed out while the console flooded', { initSeen: false, workloadDone: false, floodedBootBytes: 3 << 20, qemuExit: { code: 0, signal: null, byUs: true } }, 'infra-error'],
    ['a crash before init in a flood is still the kernel', { initSeen: false, workloadDone: false, floodedBootBytes: 3 << 20, reports: [rep('BUG: unable to handle page fault', 'BUG')] }, 'boot-failed'],
    ['QEMU killed from outside', { workloadDone: false, qemuExit: { code: null, signal: 'SIGKILL', byUs: false } }, 'infra-error'],
    ['QEMU never started', { qemuStarted: false }, 'infra-error'],
    ['interrupted even with a stall', { interrupted: true, reports: [rep('BUG: soft lockup in x')] }, 'interrupted'],
    ['unrelated report only', { signature: 'mm_cid', reports: [rep('WARNING in foo', 'WARNING')], workloadDone: false }, 'not-reproduced'],
    ['workload never finished, kernel silent, stopped by us', { workloadDone: false, qemuExit: { code: 0, signal: null, byUs: true } }, 'infra-error'],
  ] as [string, Partial<Observed>, string][])('%s', (_n, o, want) => {
    expect(decide({ ...base, ...o }).verdict).toBe(want);
  });

  it('keeps unrelated titles and the matching report', () => {
    const d = decide({ ...base, workloadDone: false, signature: 'soft lockup', reports: [rep('WARNING in foo', 'WARNING'), rep('BUG: soft lockup in mm_cid_get')] });
    expect(d.verdict).toBe('reproduced');
    expect(d.report?.title).toBe('BUG: soft lockup in mm_cid_get');
    expect(d.unrelated).toEqual([{ title: 'WARNING in foo', type: 'WARNING' }]);
  });

  it('title matching is exact and includes alternative titles', () => {
    const r = { ...rep('INFO: rcu detected stall in mm_cid_get'), altTitles: ['BUG: soft lockup in mm_cid_get'] };
    expect(matches(r, null, 'BUG: soft lockup in mm_cid_get')).toBe(true);
    expect(matches(r, null, 'BUG: soft lockup')).toBe(false);
    expect(matches(r, 'rcu.*mm_cid', null)).toBe(true);
  });

  it('exit codes follow git bisect run', () => {
    expect(EXIT_FOR_VERDICT['not-reproduced']).toBe(0);
    expect(EXIT_FOR_VERDICT.reproduced).toBe(1);
    expect(EXIT_FOR_VERDICT.skip).toBe(125);
    expect(EXIT_FOR_VERDICT['boot-failed']).toBe(125);
    expect(EXIT_FOR_VERDICT['infra-error']).toBe(255);
  });
});

describe('artifact channel', () => {
  it('splits framed sections and keeps a section cut short', () => {
    const raw = 'noise\nkrepro-artifact-begin trace.txt\r\nline 1\nline 2\nkrepro-artifact-end trace.txt\nkrepro-artifact-begin counters\nspawns=3\n';
    expect(splitArtifacts(raw)).toEqual({ 'trace.txt': 'line 1\nline 2\n', counters: 'spawns=3\n' });
  });
});

describe('silent hang title', () => {
  it('names the informative frame over spinlock waiters', () => {
    const r = pickHangFrame([
      { cpu: 0, rip: 'a', symbol: 'queued_spin_lock_slowpath+0x4d/0x2a0' },
      { cpu: 1, rip: 'b', symbol: 'mm_cid_get+0x11f/0x200' },
      { cpu: 2, rip: 'c', symbol: 'native_queued_spin_lock_slowpath+0x50/0x2a0' },
    ], 45);
    expect(r?.title).toBe('INFO: silent hang in mm_cid_get');
    expect(r?.type).toBe('HANG');
    expect(r?.stack).toHaveLength(3);
    expect(pickHangFrame([], 45)).toBeNull();
  });

  it('a vCPU in a known spin beats another CPU\'s real frame that waits for it (a real 7.2 stall: try_to_wake_up on CPU 1, mm_get_cid on CPU 2)', () => {
    const vcpus = [
      { cpu: 0, rip: 'a', symbol: 'queued_spin_lock_slowpath+0x27/0x23f' },
      { cpu: 1, rip: 'b', symbol: 'try_to_wake_up+0x18c/0x27c' },
      { cpu: 2, rip: 'c', symbol: 'mm_get_cid+0x1c/0x2a' },
      { cpu: 3, rip: 'd', symbol: 'queued_spin_lock_slowpath+0x27/0x23f' },
    ];
    expect(pickHangFrame(vcpus, 3)?.title).toBe('INFO: silent hang in mm_get_cid');
    // Without a CPU in a known spin, the first real frame still titles it.
    expect(pickHangFrame(vcpus.filter((v) => v.cpu !== 2), 3)?.title).toBe('INFO: silent hang in try_to_wake_up');
  });

  it('a vCPU in a library leaf is titled by the caller found on its stack (the 7.2 stall in _find_first_zero_bit under mm_get_cid)', () => {
    const vcpus = [
      { cpu: 0, rip: 'ffffffff81437a6a', symbol: '_find_first_zero_bit+0x1b/0x31', caller: 'mm_get_cid+0x1c/0x2a' },
      { cpu: 1, rip: 'ffffffff816a0e13', symbol: 'queued_spin_lock_slowpath+0x27/0x23f' },
    ];
    const r = pickHangFrame(vcpus, 3);
    expect(r?.title).toBe('INFO: silent hang in mm_get_cid');
    expect(r?.stack[0].raw).toMatch(/_find_first_zero_bit\+0x1b\/0x31, called from \? mm_get_cid\+0x1c\/0x2a \(on its stack\)/);
    // No caller found: the leaf still beats the waiting frames, and another CPU's real frame beats the leaf.
    expect(pickHangFrame([{ ...vcpus[0], caller: null }, vcpus[1]], 3)?.title).toBe('INFO: silent hang in _find_first_zero_bit');
    expect(pickHangFrame([{ ...vcpus[0], caller: null }, { cpu: 2, rip: 'x', symbol: 'copy_process+0x1a0/0x1e00' }], 3)?.title).toBe('INFO: silent hang in copy_process');
    // A real function's caller is never used, even if one was recorded.
    expect(pickHangFrame([{ cpu: 0, rip: 'x', symbol: 'mm_get_cid+0x1c/0x2a', caller: 'do_exit+0x10/0x900' }], 3)?.title).toBe('INFO: silent hang in mm_get_cid');
  });

  it('the caller on the stack: the first text address outside the leaf, other library helpers and waiting frames', () => {
    expect(isLibraryLeaf('_find_first_zero_bit')).toBe(true);
    expect(isLibraryLeaf('memset')).toBe(true);
    expect(isLibraryLeaf('mm_get_cid')).toBe(false);
    expect(callerFromStack('_find_first_zero_bit', [null, '_find_first_zero_bit+0x5/0x31', null, 'memset+0x1/0x20', 'queued_spin_lock_slowpath+0x1/0x23f', 'mm_get_cid+0x1c/0x2a', 'sched_mm_cid_fork+0x40/0x100'])).toBe('mm_get_cid+0x1c/0x2a');
    expect(callerFromStack('_find_first_zero_bit', [null, null])).toBeNull();
  });
});

describe('artifact channel: gzip sections with a byte count', () => {
  const trace = Array.from({ length: 2000 }, (_, i) => ` w-${i} [001] d.... ${(i / 1000).toFixed(6)}: mmcid_getcid: mm=0000000000000001 cid=00000000`).join('\n') + '\n';
  const gz = gzipSync(trace);
  const section = (data: Buffer, n = data.length) => Buffer.concat([
    Buffer.from('krepro-artifact-begin guest.txt\nkernel=6.12\nkrepro-artifact-end guest.txt\n'),
    Buffer.from(`krepro-artifact-begin trace.txt.gz ${n}\n`), data, Buffer.from('\nkrepro-artifact-end trace.txt.gz\nkrepro-artifacts-done\n'),
  ]);

  it('decompresses a whole section, byte for byte, even when the data holds newlines and marker-like bytes', () => {
    const r = readArtifacts(section(gz));
    expect(r.files['trace.txt']).toBe(trace);
    expect(r.files['guest.txt']).toBe('kernel=6.12\n');
    expect(r.incomplete).toEqual([]);
  });

  it('a section cut short keeps what decompresses and is named incomplete', () => {
    const cut = Buffer.concat([Buffer.from(`krepro-artifact-begin trace.txt.gz ${gz.length}\n`), gz.subarray(0, Math.floor(gz.length / 2))]);
    const r = readArtifacts(cut);
    expect(r.incomplete).toEqual(['trace.txt']);
    expect(trace.startsWith(r.files['trace.txt']!)).toBe(true);
    expect(r.files['trace.txt']!.length).toBeGreaterThan(1000);
  });

  it('a text section without its end line is incomplete too', () => {
    const r = readArtifacts('krepro-artifact-begin trace.txt\nline 1\n');
    expect(r.files['trace.txt']).toBe('line 1\n');
    expect(r.incomplete).toEqual(['trace.txt']);
  });
});
