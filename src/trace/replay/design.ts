/** Facts read from the whole event list before the replay: the CID design and the vfork children. */
import type { TraceEvent } from '../parse.ts';
import type { TraceDesign } from './types.ts';

/** Which design printed these values. */
export function detectDesign(events: TraceEvent[]): TraceDesign {
  let old = false;
  let neu = false;
  for (const e of events) {
    if (e.kind === 'fixup_task') neu = true;
    if (e.kind === 'getcid' || e.kind === 'putcid' || e.kind === 'task_update' || e.kind === 'cpu_update' || e.kind === 'fixup_task') {
      const r = e.cid >>> 0;
      // 0x80000000 says nothing: unset on v6.19+, lazy-put CID 0 on 6.12.
      if (r === 0xffffffff || (r & 0x80000000 && r !== 0x80000000)) old = true;
      else if (r !== 0x80000000 && (r & 0x60000000) !== 0) neu = true;
    }
  }
  if (old && !neu) return '6.12';
  if (neu && !old) return '6.19';
  return 'unknown';
}

/**
 * Tasks that left an mm by exec while other tasks still used it: vfork()
 * children (or other CLONE_VM non-threads). A thread's exec first kills its
 * siblings, so the old mm has no live user left when the exec completes.
 */
export function classifyVforkChildren(events: TraceEvent[]): Map<string, Set<number>> {
  const out = new Map<string, Set<number>>();
  const live = new Map<string, Set<number>>();
  const leftFrom = new Map<number, string>();   // pid -> mm it last left
  for (const e of events) {
    if (e.kind === 'user_add') {
      const from = leftFrom.get(e.pid);
      if (from !== undefined && from !== e.mm && (live.get(from)?.size ?? 0) > 0) {
        let s = out.get(from);
        if (!s) out.set(from, (s = new Set()));
        s.add(e.pid);
      }
      leftFrom.delete(e.pid);
      let l = live.get(e.mm);
      if (!l) live.set(e.mm, (l = new Set()));
      if (e.users === 1) l.clear();
      l.add(e.pid);
    } else if (e.kind === 'user_del') {
      live.get(e.mm)?.delete(e.pid);
      leftFrom.set(e.pid, e.mm);
    } else if (e.kind === 'exit') {
      leftFrom.delete(e.pid);
    }
  }
  return out;
}

