/**
 * An independent reading of fixup walks in a raw v6.19+ mmcid trace, for
 * checking the analyzer: no code shared with src/trace. A walk is the
 * mmcid_fixup_task lines one walker logs for one mm until that mm's users
 * change (they change only under the mm_cid mutex the walker holds). A task
 * is missed when it was an active user at the walk's first line, held a
 * task-owned CID (its last mmcid_task_update value a plain CID: no
 * 0x80000000 unset, 0x40000000 on-CPU or 0x20000000 transit bit), is not the
 * walker and was never a fixup_task pid of the walk (a fixup line whose mm
 * field the console damaged still counts as a visit by its walker).
 */
const EVENT = /\s(\S+?)-(\d+)\s.*?\s(mmcid_[a-z_]+): (.*)$/;

export interface ReadMiss { mm: string; walker: number; pid: number; cid: number }

export function readWalkMisses(text: string): ReadMiss[] {
  const live = new Map<string, Set<number>>();
  const cid = new Map<string, Map<number, number>>();
  const open = new Map<string, { walker: number; start: Set<number>; held: Map<number, number>; visited: Set<number> }>();
  const out: ReadMiss[] = [];
  const close = (mm: string) => {
    for (const [key, w] of open) {
      if (!key.startsWith(mm + '/')) continue;
      for (const pid of w.start) {
        if (pid === w.walker || w.visited.has(pid) || !w.held.has(pid)) continue;
        out.push({ mm, walker: w.walker, pid, cid: w.held.get(pid)! });
      }
      open.delete(key);
    }
  };
  for (const raw of text.split('\n')) {
    const m = EVENT.exec(raw);
    if (!m) continue;
    const by = Number(m[2]);
    const body = m[4];
    const f = (k: string) => { const x = new RegExp(`\\b${k}=([0-9a-fx]+)\\b`).exec(body); return x ? x[1] : null; };
    const mm = f('mm');
    if (!mm || mm.length !== 16) {
      // a fixup line whose mm the console damaged still says whom the walker visited
      const pid = f('pid');
      if (m[3] === 'mmcid_fixup_task' && pid) for (const [key, w] of open) if (key.endsWith(`/${by}`)) w.visited.add(Number(pid));
      continue;
    }
    if (m[3] === 'mmcid_user_add' || m[3] === 'mmcid_user_del') {
      close(mm);
      const pid = Number(f('pid'));
      let s = live.get(mm);
      if (!s) live.set(mm, (s = new Set()));
      if (m[3] === 'mmcid_user_add') { if (f('users') === '1') s.clear(); s.add(pid); } else s.delete(pid);
    } else if (m[3] === 'mmcid_task_update') {
      let c = cid.get(mm);
      if (!c) cid.set(mm, (c = new Map()));
      c.set(Number(f('pid')), parseInt(f('cid') ?? 'ffffffff', 16));
    } else if (m[3] === 'mmcid_fixup_task') {
      const key = `${mm}/${by}`;
      let w = open.get(key);
      if (!w) {
        const held = new Map<number, number>();
        for (const [pid, v] of cid.get(mm) ?? []) if ((v & 0xe0000000) === 0) held.set(pid, v);
        open.set(key, (w = { walker: by, start: new Set(live.get(mm) ?? []), held, visited: new Set() }));
      }
      w.visited.add(Number(f('pid')));
    }
  }
  for (const mm of new Set([...open.keys()].map((k) => k.split('/')[0]))) close(mm);
  return out;
}
