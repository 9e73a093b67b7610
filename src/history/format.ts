import type { ConfigGroup, LoopRow } from './index.ts';

const pctShort = (x: number) => `${(x * 100).toFixed(x < 0.1 && x > 0 ? 1 : 0)}`;

function row(r: LoopRow): string {
  const date = r.at.slice(0, 16).replace('T', ' ');
  const commit = (r.commit ?? (r.kernel ? 'bzImage' : '-')).slice(0, 12).padEnd(12);
  const rate = r.rate === null ? '   n/a' : `${(r.rate * 100).toFixed(1)}%`.padStart(6);
  const ci = r.valid ? `[${pctShort(r.ci[0])}-${pctShort(r.ci[1])}%]`.padEnd(12) : ''.padEnd(12);
  const med = r.medianSec === null ? '    -' : `${r.medianSec.toFixed(0)}s`.padStart(5);
  let flag = '';
  if (r.partial) flag = `shard ${r.shard!.index + 1}/${r.shard!.count}`;
  else if (r.change?.significant) flag = `${r.change.direction === 'up' ? 'UP' : 'DOWN'} p=${r.change.p.toPrecision(2)}`;
  const line = `${date}  ${commit} ${String(r.valid).padStart(4)} ${String(r.reproduced).padStart(4)} ${rate} ${ci} ${med}  ${flag}`;
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
    out.push('date              commit        runs repr   rate 95% CI        ttf  change');
    for (const r of g.loops) out.push(row(r));
    const sig = g.loops.filter((r) => r.change?.significant);
    for (const r of sig) {
      out.push(`  ! ${r.id}: rate ${r.change!.direction} vs ${r.change!.vs} (Fisher p=${r.change!.p.toPrecision(2)})`.slice(0, 80));
    }
    out.push('');
  }
  out.push('runs = runs with a verdict (reproduced or not); ttf = KM median time to');
  out.push('failure; change = significant rate change vs the previous loop (p<0.05).');
  return out.join('\n') + '\n';
}
