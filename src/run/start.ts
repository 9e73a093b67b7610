import pRetry, { AbortError } from 'p-retry';
import { fallBackToTcg, type AccelChoice } from '../vm/kvm.ts';
import type { StartAttempt } from './watch.ts';

export type { StartAttempt };

/**
 * Boot, retrying host-side start failures (3 attempts, backing off). A
 * failure in KVM itself would repeat identically, so it is never retried
 * with the same arguments: under --accel auto the run falls back to TCG
 * once (onKvmFailure records it), under --accel kvm the failure is the
 * outcome. Null when interrupted.
 */
export async function startWithFallback<T extends StartAttempt>(
  first: AccelChoice,
  bootOnce: (c: AccelChoice) => Promise<T>,
  opts: { aborted?: () => boolean; minTimeoutMs?: number; onKvmFailure?: (why: string, tcg: AccelChoice) => Promise<void> } = {},
): Promise<{ outcome: T | null; choice: AccelChoice }> {
  const aborted = () => !!opts.aborted?.();
  const withRetries = (c: AccelChoice) => pRetry(
    async (attempt) => {
      const res = await bootOnce(c);
      if (res.startFailure && !res.accelFailure && attempt < 3 && !aborted()) throw new Error(res.startFailure);
      return res;
    },
    { retries: 2, minTimeout: opts.minTimeoutMs ?? 1000, factor: 2, onFailedAttempt: () => {}, shouldRetry: () => !aborted() },
  ).catch((e) => (e instanceof AbortError ? null : { startFailure: (e as Error).message } as T));
  let choice = first;
  let outcome = await withRetries(choice);
  if (outcome?.accelFailure && choice.accel === 'kvm' && choice.requested === 'auto' && !aborted()) {
    const why = `qemu -accel kvm failed: ${outcome.accelFailure}`;
    choice = fallBackToTcg(why);
    await opts.onKvmFailure?.(why, choice);
    outcome = await withRetries(choice);
  }
  return { outcome, choice };
}

