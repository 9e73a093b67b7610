/**
 * Live detection on a console stream: one line at a time, say whether the
 * line starts a kernel report and of what kind. Uses the classifier's own
 * start-line test (oops.ts), so live detection and `krepro classify` agree.
 */
import type { LineDetection } from './types.ts';
import { MAX_LINE } from './normalize.ts';
import { kindOf, matchOops } from './oops.ts';

export class LineDetector {
  /**
   * Feed one console line (with or without its `\r`, timestamp and caller
   * id). Returns the detection at the first line of a report, else null.
   */
  push(line: string): LineDetection | null {
    try {
      if (line.length > MAX_LINE) line = line.slice(0, MAX_LINE);
      if (line.indexOf('\r') !== -1) line = line.replace(/\r/g, '');
      if (line.endsWith('\n')) line = line.slice(0, -1);
      const g = matchOops(line);
      if (!g) return null;
      return { kind: kindOf(g, line), line };
    } catch {
      return null;
    }
  }
}
