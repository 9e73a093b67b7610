import type { RunProgress } from '../run/progress.ts';
import { progressGate, vmProgressLine } from '../run/progress.ts';

/**
 * `krepro run`'s live progress on stderr: one rewritten line on a TTY
 * (phase, uptime, heartbeats, spawns/vforks, last kernel line), a line
 * every 10 s in a pipe. `end()` clears the live line before the verdict.
 */
export function liveProgress(stream: NodeJS.WriteStream = process.stderr, now: () => number = Date.now): { onProgress: (p: RunProgress) => void; end: () => void } {
  const tty = !!stream.isTTY;
  const gate = progressGate(tty);
  let live = false;
  return {
    onProgress: (p) => {
      if (p.stage !== 'vm' || !gate(p, now())) return;
      if (tty) {
        stream.write(`\r\x1b[K${vmProgressLine(p, (stream.columns ?? 120) - 1)}`);
        live = true;
      } else stream.write(vmProgressLine(p, 200) + '\n');
    },
    end: () => {
      if (live) stream.write('\r\x1b[K');
      live = false;
    },
  };
}
