import { describe, it, expect } from 'vitest';
import { parseTrace } from '../../src/trace/parse.ts';

describe('a console dump line whose timestamp lost its digits', () => {
  // From a real 7.2 stall's NMI dump: only the time of the user_add is gone. Dropping the line
  // hid a fixup walk's miss of pid 934 that an independent reading of the same trace saw.
  const text = [
    '[    5.063650] krepro-w-925       0d..1. 2720440us : mmcid_task_update: pid=925 cid=00000001 mm=00000000741a682f',
    '[    5.063667] krepro-w-925       0d..1. us : mmcid_user_add: pid=934 users=3 mm=00000000741a682f',
    '[    5.063695] krepro-w-925       0d..1. 2720449us : mmcid_task_update: pid=934 cid=00000002 mm=00000000741a682f',
  ].join('\n');
  it('keeps its event, in place, with the time of the line before', () => {
    const p = parseTrace(text);
    const add = p.events.find((e) => e.kind === 'user_add');
    expect(add).toMatchObject({ kind: 'user_add', pid: 934, users: 3, mm: '00000000741a682f' });
    expect(add!.line.time).toBeCloseTo(2.72044, 6);
    expect(p.events.map((e) => e.kind)).toEqual(['task_update', 'user_add', 'task_update']);
  });
});
