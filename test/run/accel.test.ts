import { describe, it, expect } from 'vitest';
import { startWithFallback, type StartAttempt } from '../../src/run/run.ts';
import { decideAccel, type AccelChoice } from '../../src/vm/kvm.ts';

const ASSERT = "qemu-system-x86_64: ../target/i386/kvm/kvm.c:3047: kvm_buf_set_msrs: Assertion `ret == cpu->kvm_msr_buf->nmsrs' failed.";
const usable = { usable: true, reason: 'a KVM guest started' };
type Out = StartAttempt & { accel: string };

/** A boot that answers by accelerator from a script; every call is recorded. */
function booter(script: Record<'kvm' | 'tcg', (n: number) => StartAttempt>) {
  const calls: string[] = [];
  const count = { kvm: 0, tcg: 0 };
  const boot = async (c: AccelChoice): Promise<Out> => {
    calls.push(c.accel);
    return { ...script[c.accel](++count[c.accel]), accel: c.accel };
  };
  return { boot, calls };
}

const kvmBroken = () => ({ startFailure: ASSERT, accelFailure: ASSERT });
const fine = () => ({});

describe('QEMU start failures and the accelerator', () => {
  it('a KVM failure under --accel auto: not retried, one TCG attempt, recorded', async () => {
    const { boot, calls } = booter({ kvm: kvmBroken, tcg: fine });
    const seen: [string, AccelChoice][] = [];
    const r = await startWithFallback(decideAccel('auto', usable), boot, { minTimeoutMs: 1, onKvmFailure: async (why, c) => void seen.push([why, c]) });
    expect(calls).toEqual(['kvm', 'tcg']);
    expect(r.outcome).toMatchObject({ accel: 'tcg' });
    expect(r.outcome?.startFailure).toBeUndefined();
    expect(r.choice).toMatchObject({ accel: 'tcg', requested: 'auto', fellBack: true });
    expect(r.choice.reason).toContain('kvm_buf_set_msrs');
    expect(seen).toHaveLength(1);
    expect(seen[0][0]).toBe(`qemu -accel kvm failed: ${ASSERT}`);
  });

  it('a KVM failure under --accel kvm: one attempt, and the failure is the outcome', async () => {
    const { boot, calls } = booter({ kvm: kvmBroken, tcg: fine });
    const r = await startWithFallback(decideAccel('kvm', usable), boot, { minTimeoutMs: 1 });
    expect(calls).toEqual(['kvm']);
    expect(r.choice.accel).toBe('kvm');
    expect(r.outcome?.accelFailure).toBe(ASSERT);
  });

  it('other start failures are retried (3 attempts), then reported', async () => {
    const { boot, calls } = booter({ kvm: fine, tcg: () => ({ startFailure: 'qemu-system-x86_64: -accel tcg: could not initialize' }) });
    const r = await startWithFallback(decideAccel('tcg', null), boot, { minTimeoutMs: 1 });
    expect(calls).toEqual(['tcg', 'tcg', 'tcg']);
    expect(r.outcome?.startFailure).toMatch(/could not initialize/);
  });

  it('a transient failure then a start: two attempts', async () => {
    const { boot, calls } = booter({ kvm: (n) => (n === 1 ? { startFailure: 'Address already in use' } : {}), tcg: fine });
    const r = await startWithFallback(decideAccel('auto', usable), boot, { minTimeoutMs: 1 });
    expect(calls).toEqual(['kvm', 'kvm']);
    expect(r.choice.accel).toBe('kvm');
  });

  it('after the fallback, TCG start failures get the usual retries', async () => {
    const { boot, calls } = booter({ kvm: kvmBroken, tcg: () => ({ startFailure: 'no' }) });
    const r = await startWithFallback(decideAccel('auto', usable), boot, { minTimeoutMs: 1 });
    expect(calls).toEqual(['kvm', 'tcg', 'tcg', 'tcg']);
    expect(r.choice.accel).toBe('tcg');
  });
});
