import { describe, it, expect } from 'vitest';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { classify } from '../../src/console/classify.ts';
import { LineDetector } from '../../src/console/detect.ts';
import { decodeLog, splitLines } from '../../src/console/normalize.ts';
import type { DetectionKind } from '../../src/console/types.ts';
import { QEMU_DIR } from './corpus.ts';

/**
 * Real 6.12 serial consoles from QEMU (../shared/corpus/qemu-6.12): the
 * test_lockup self-tests and the injected mm_cid leak. Titles checked by
 * hand against the logs: the named frame is the code that loops or sleeps.
 */
const read = (f: string) => readFileSync(join(QEMU_DIR, f));

const expected: Record<string, { title: string; type: string; kind: DetectionKind }[]> = {
  // test_lockup spins in test_wait() called from its init function:
  // the initcall is the dispatch point, the module's init names the bug.
  'softlockup.log': [
    { title: 'BUG: soft lockup in test_lockup_init', type: 'HANG', kind: 'soft-lockup' },
    { title: 'INFO: rcu detected stall in test_lockup_init', type: 'HANG', kind: 'rcu-stall' },
  ],
  'rcustall.log': [{ title: 'INFO: rcu detected stall in test_lockup_init', type: 'HANG', kind: 'rcu-stall' }],
  // state=D: test_lockup() sleeps in schedule_timeout; sleep primitives are skipped.
  'hungtask.log': [
    { title: 'INFO: task hung in test_lockup', type: 'HANG', kind: 'hung-task' },
    { title: 'INFO: task hung in test_lockup', type: 'HANG', kind: 'hung-task' },
  ],
  // The RCU stall's NMI backtrace shows CPU 1 spinning in mm_cid_get under
  // __schedule <- schedule_idle (idle and scheduler frames skipped); the other
  // CPUs wait for the page table lock in fault-around from a user page fault.
  'injected-cid-leak-stall.log': [
    { title: 'INFO: rcu detected stall in mm_cid_get', type: 'HANG', kind: 'rcu-stall' },
    { title: 'BUG: soft lockup in filemap_map_pages', type: 'HANG', kind: 'soft-lockup' },
    { title: 'BUG: soft lockup in filemap_map_pages', type: 'HANG', kind: 'soft-lockup' },
    { title: 'BUG: soft lockup in filemap_map_pages', type: 'HANG', kind: 'soft-lockup' },
    // krepro's NMI once the guest went silent: a hang named by the NMI'd CPU's
    // own frame (rcu_sched_clock_irq's wakeup spinning on the runqueue lock)
    { title: 'INFO: silent hang in try_to_wake_up', type: 'HANG', kind: 'silent-hang' },
  ],
  // Silent guest and a clean stress run: nothing to report.
  'injected-cid-leak-silent.log': [],
  'stress-trace.log': [],
};

describe('qemu-6.12 real consoles', () => {
  for (const [file, want] of Object.entries(expected)) {
    it(`${file}: titles`, () => {
      const reps = classify(read(file));
      expect(reps.map((r) => ({ title: r.title, type: r.type }))).toEqual(want.map(({ title, type }) => ({ title, type })));
      for (const r of reps) {
        expect(r.corrupted).toBe(false);
        expect(r.endLine).toBeGreaterThan(r.startLine);
        expect(r.stack.length).toBeGreaterThan(0);
      }
    });

    it(`${file}: the live detector fires on exactly the report start lines`, () => {
      const lines = splitLines(decodeLog(read(file)));
      const det = new LineDetector();
      const fired: { line: number; kind: DetectionKind }[] = [];
      lines.forEach((l, i) => {
        const d = det.push(l);
        if (d) fired.push({ line: i, kind: d.kind });
      });
      const reps = classify(read(file));
      expect(fired).toEqual(reps.map((r, k) => ({ line: r.startLine, kind: want[k]!.kind })));
    });
  }

  it('the stack names the frame of the title with its module', () => {
    const r = classify(read('softlockup.log'))[0]!;
    expect(r.frame).toBe('test_lockup_init');
    expect(r.stack.find((f) => f.func === 'test_lockup_init')).toMatchObject({ module: 'test_lockup', offset: '0x57d/0x1000' });
    expect(r.stack[0]!.func).toBe('delay_tsc');
  });

  it('same titles through a raw serial stream: \\r\\n, caller ids, bytes', () => {
    for (const file of ['softlockup.log', 'hungtask.log', 'injected-cid-leak-stall.log']) {
      const text = read(file).toString('latin1');
      // CONFIG_PRINTK_CALLER: add [T77] after every timestamp; serial line endings.
      const serial = text.replace(/^(\[ *\d+\.\d+\])/gm, '$1[   T77]').replace(/\n/g, '\r\n');
      const a = classify(read(file)).map((r) => r.title);
      const b = classify(Buffer.from(serial, 'latin1')).map((r) => r.title);
      expect(b).toEqual(a);
    }
  });
});

describe('a kernel report glued to our guest output (shared serial port)', () => {
  it.each(Object.keys(expected))('%s: same titles when a heartbeat is cut by the first report line', (file) => {
    const text = read(file).toString('utf8');
    const lines = text.split('\n');
    const first = classify(text)[0];
    if (!first) return;
    const i = first.startLine;
    lines[i] = 'krepro-hb t=7 spawns=70 forks=7' + lines[i];
    expect(classify(lines.join('\n')).map((r) => r.title)).toEqual(classify(text).map((r) => r.title));
  });
});
