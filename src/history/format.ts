import type { ConfigGroup, LoopRow } from './index.ts';
import { wrapWords } from '../util/wrap.ts';

const pctShort = (x: number) => `${(x * 100).toFixed(x < 0.1 && x > 0 ? 1 : 0)}`;

/** The loop id as shown: its dir name without the common "loop-" (it carries the date and time). */
const shownId = (id: string) => id.replace(/^loop-/, '');

function row(r: LoopRow, idWidth: number): string {
  const commit = (r.commit ?? (r.kernel ? 'bzImage' : '-')).slice(0, 12).padEnd(12);
  const rate = r.rate === null ? '   n/a' : `${(r.rate * 100).toFixed(1)}%`.padStart(6);
  const ci = r.valid ? `[${pctShort(r.ci[0])}-${pctShort(r.ci[1])}%]`.padEnd(10) : ''.padEnd(10);
  const med = r.medianSec === null ? '   -' : `${r.medianSec.toFixed(0)}s`.padStart(4);
  // Short marks; the change's p-value is on its own "!" line below the table.
  let flag = '';
  if (r.partial) flag = `part ${r.shard!.index + 1}/${r.shard!.count}`;
  else if (r.change?.significant) flag = r.change.direction === 'up' ? 'UP' : 'DOWN';
  const line = `${shownId(r.id).padEnd(idWidth)} ${commit} ${String(r.valid).padStart(4)} ${String(r.reproduced).padStart(4)} ${rate} ${ci} ${med} ${flag}`;
  return line.trimEnd();
}

/** Plain-text history, lines <= 80 columns. */
export function formatHistory(groups: ConfigGroup[]): string {
  if (!groups.length) return 'no loops recorded yet: run krepro loop, then look again\n';
  const out: string[] = [];
  for (const g of groups) {
    const last = g.loops[g.loops.length - 1];
    const what = last.kernel ? 'given bzImage' : (last.tree ?? 'default tree');
    out.push(`configuration ${g.configKey} (${what.length > 50 ? '...' + what.slice(-47) : what})`);
    const idWidth = Math.max(4, ...g.loops.map((r) => shownId(r.id).length));
    out.push(`${'loop'.padEnd(idWidth)} ${'commit'.padEnd(12)} runs repr   rate 95% CI      ttf change`);
    for (const r of g.loops) out.push(row(r, idWidth));
    const sig = g.loops.filter((r) => r.change?.significant);
    for (const r of sig) {
      out.push(...wrapWords(`! ${r.id}: rate ${r.change!.direction} vs ${r.change!.vs} (Fisher p=${r.change!.p.toPrecision(2)})`, 78, '    ').map((l) => `  ${l}`));
    }
    out.push('');
  }
  out.push('loop = the loop dir (loop-<date>-<time>-<id>); runs = runs with a verdict');
  out.push('(reproduced or not); ttf = KM median time to failure; change = significant');
  out.push('rate change vs the previous loop (p<0.05); part K/N = one shard of a loop.');
  return out.join('\n') + '\n';
}
