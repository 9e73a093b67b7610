import { describe, it, expect } from 'vitest';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { vmProgressLine, progressGate } from '../../src/run/progress.ts';
import { watchBoot, type WatchProgress } from '../../src/run/watch.ts';
import { stopConfig } from '../../src/run/stop-policy.ts';
import type { VcpuState } from '../../src/run/types.ts';
import { liveProgress } from '../../src/cli/live.ts';
import { FakeClock, fakeLauncher, replayTimes } from './fake-launcher.ts';

const data = (f: string) => readFileSync(join(import.meta.dirname, 'data', f), 'utf8');

async function progressOf(consoleFile: string, registers?: () => { cpu: number; rip: string }[]): Promise<WatchProgress[]> {
  const clock = new FakeClock();
  const lines = replayTimes(data(consoleFile));
  const seen: WatchProgress[] = [];
  const stall = JSON.parse(data('7.2-silent-stall.json')) as { vcpus: VcpuState[] };
  const sym = new Map(stall.vcpus.map((v) => [v.rip, v.symbol]));
  await watchBoot(
    { plan: { argv: [], append: '', accel: 'tcg', vsockCid: null }, consoleLog: '/dev/null', qmpSocket: '/x', config: stopConfig({ bootTimeoutSec: 120, hangTimeoutSec: 45, graceSec: 10, durationSec: 60 }), hangTimeoutSec: 45, onProgress: (p) => seen.push(p) },
    { launcher: fakeLauncher({ lines, registers, exitAtMs: registers ? undefined : lines.at(-1)!.atMs + 50 }, clock), clock, artifactBytes: async () => 0, symbolize: async (regs) => regs.map((r) => ({ cpu: r.cpu, rip: r.rip, symbol: sym.get(r.rip) ?? null })) },
  );
  return seen;
}

describe('live progress of a run', () => {
  it('a clean 7.2 run goes boot -> workload -> done, heartbeats and vforks counting up, the last kernel line shown', async () => {
    const seen = await progressOf('7.2-clean.console');
    const phases = [...new Set(seen.map((p) => p.phase))];
    expect(phases).toEqual(['boot', 'workload', 'done']);
    const mid = seen.find((p) => p.phase === 'workload' && p.heartbeats >= 30)!;
    expect(mid.counters!.vforks).toBeGreaterThan(0);
    expect(seen.at(-1)!.heartbeats).toBe(60);
    expect(seen.at(-1)!.lastKernelLine).toMatch(/reboot: Power down/);
    expect(vmProgressLine(mid)).toMatch(/^krepro: workload \d:\d\d, hb \d+, spawns \d+ vforks \d+ cells \d+ \| \[/);
  });

  it('the 7.2 stall shows the late heartbeat being checked, then the hang', async () => {
    const stall = JSON.parse(data('7.2-silent-stall.json')) as { vcpus: VcpuState[] };
    const seen = await progressOf('7.2-silent-stall.console', () => stall.vcpus.map((v) => ({ cpu: v.cpu, rip: v.rip })));
    expect([...new Set(seen.map((p) => p.phase))]).toEqual(['boot', 'workload', 'hang-check', 'hang', 'stopping']);
  });

  it('a line is cut to the width', () => {
    const p: WatchProgress = { phase: 'workload', uptimeMs: 61_000, heartbeats: 3, counters: { spawns: 1, forks: 2, vforks: 3, threads: 4, accepts: 0, heartbeats: 3 }, lastKernelLine: '[   12.000000] ' + 'x'.repeat(300) };
    const l = vmProgressLine(p, 80);
    expect(l).toHaveLength(80);
    expect(l.startsWith('krepro: workload 1:01, hb 3, spawns 1 vforks 3 | [')).toBe(true);
  });

  it('in a pipe: a line every 10 s and at each phase change; on a TTY: every update', () => {
    const p = (phase: WatchProgress['phase']): WatchProgress => ({ phase, uptimeMs: 0, heartbeats: 0, counters: null, lastKernelLine: null });
    const pipe = progressGate(false);
    const shown = [0, 250, 5000, 9999, 10_000, 12_000, 12_250, 20_000].map((t) => pipe(p(t === 12_000 ? 'hang-check' : t > 12_000 ? 'hang-check' : 'workload'), t));
    expect(shown).toEqual([true, false, false, false, true, true, false, false]);
    const tty = progressGate(true);
    expect([0, 250, 500].map((t) => tty(p('workload'), t))).toEqual([true, true, true]);
  });

  it('the printer rewrites one line on a TTY and clears it at the end; writes plain lines to a pipe', () => {
    const out = (isTTY: boolean) => {
      let text = '';
      const stream = { isTTY, columns: 60, write: (s: string) => ((text += s), true) } as unknown as NodeJS.WriteStream;
      return { stream, text: () => text };
    };
    const p: WatchProgress = { phase: 'workload', uptimeMs: 5000, heartbeats: 2, counters: null, lastKernelLine: null };
    const t = out(true);
    const live = liveProgress(t.stream, () => 0);
    live.onProgress({ stage: 'vm', ...p });
    live.onProgress({ stage: 'vm', ...p, heartbeats: 3 });
    live.end();
    expect(t.text()).toBe('\r\x1b[Kkrepro: workload 0:05, hb 2\r\x1b[Kkrepro: workload 0:05, hb 3\r\x1b[K');
    const f = out(false);
    const plain = liveProgress(f.stream, () => 0);
    plain.onProgress({ stage: 'vm', ...p });
    plain.onProgress({ stage: 'vm', ...p, heartbeats: 3 });
    plain.end();
    expect(f.text()).toBe('krepro: workload 0:05, hb 2\n');
  });
});
