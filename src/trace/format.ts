/** Human-readable text for a TraceAnalysis, read like a maintainer's own notes. */
import type { Anomaly, TraceAnalysis } from './analyze.ts';
import { hex8 } from './cid.ts';

const DESIGN: Record<TraceAnalysis['design'], string> = {
  '6.12': '6.12 design: lazy per-CPU CIDs',
  '6.19': 'v6.19+ design: per-task/per-CPU ownership',
  unknown: 'design not recognised from the values',
};

function head(a: Anomaly): string {
  const parts = [a.kind, `mm ${a.mm}`];
  if (a.pid !== undefined) parts.push(`pid ${a.pid}`);
  if (a.cid !== undefined) parts.push(`CID ${hex8(a.cid)}`);
  if (a.cpu !== undefined) parts.push(`CPU ${a.cpu}`);
  if (a.walker !== undefined) parts.push(`walk by pid ${a.walker}`);
  parts.push(`at ${a.time.toFixed(6)}s`);
  return parts.join('  ');
}

const perMin = (n: number, span: number) => (n / (span / 60)).toFixed(1);

export function formatAnalysis(r: TraceAnalysis, opts: { maxMms?: number } = {}): string {
  const out: string[] = [];
  const cpuNote = r.cpus === null ? 'CPU count unknown (pass --cpus)'
    : `${r.cpus} CPUs` + (r.cpusSource === 'inferred' ? ' (inferred from the highest CPU seen; pass --cpus to be sure)'
      : r.cpusSource === 'header' ? ' (trace header)' : '');
  const design = r.mmcidEvents ? ` (${DESIGN[r.design]})` : '';
  out.push(`trace: ${r.traceLines} trace lines, ${r.mmcidEvents} mmcid events${design}, ${cpuNote}`);
  if (r.replayFrom !== null) {
    out.push(`  the ring buffer lost events: replay from ${r.replayFrom.toFixed(6)}s, where every CPU's buffer is complete (${r.skippedEvents} earlier events skipped)`);
  }
  if (r.truncated) {
    out.push('  the trace is cut short (fewer lines than the buffer held, or a dump without its end): nothing is concluded from its end');
  }
  if (r.rejectedLines) out.push(`  ${r.rejectedLines} mmcid line(s) ignored: fields missing (elided or garbled)`);
  if (r.damagedLines) out.push(`  ${r.damagedLines} of them damaged (characters lost) but still naming an mm: repaired where the fields say what they were, else findings that need them are withheld (listed below)`);
  if (r.mmcidEvents === 0) out.push('  no mmcid events: was the kernel built with the mmcid trace events and were they enabled?');
  out.push('');
  out.push(r.anomalies.length === 0 ? 'no anomalies' : `${r.anomalies.length} anomal${r.anomalies.length === 1 ? 'y' : 'ies'}:`);
  for (const a of r.anomalies) {
    out.push('');
    out.push(head(a));
    out.push(`  ${a.message}`);
    out.push('  evidence:');
    a.lines.forEach((l, i) => out.push(`    ${String(a.lineNumbers[i]).padStart(6)}: ${l}`));
  }
  if (r.excused.length) {
    out.push('');
    const rules = new Map<string, typeof r.excused>();
    for (const x of r.excused) rules.set(x.rule, [...(rules.get(x.rule) ?? []), x]);
    out.push(`excused by the replay's allowances (${r.accel}, late-stamp window ${(r.lateStampWindow * 1e3).toFixed(0)} ms; README "What the analyzer excuses"):`);
    for (const [rule, xs] of rules) {
      const gaps = xs.map((x) => x.gap).filter((g): g is number => g !== undefined);
      out.push(`  ${rule}: ${xs.length}x` + (gaps.length ? `, largest gap ${(Math.max(...gaps) * 1e3).toFixed(3)} ms` : ''));
      for (const x of xs.slice(0, 2)) {
        out.push(`    at ${x.time.toFixed(6)}s: ${x.message}`);
        x.lines.forEach((l, i) => out.push(`      ${String(x.lineNumbers[i]).padStart(6)}: ${l}`));
      }
      if (xs.length > 2) out.push(`    ... ${xs.length - 2} more (--json lists all)`);
    }
  }
  out.push('');
  const t = r.totals;
  out.push(`exercise: ${t.mms} mm(s), ${t.sharedMms} with 2+ users, max users ${t.maxUsers}; users crossed ` +
    (r.cpus === null ? 'the CPU count' : `${r.cpus}`) + ` upward ${t.crossUp}x, downward ${t.crossDown}x ` +
    `(with a vfork child alive: ${t.crossUpWithVfork}x / ${t.crossDownWithVfork}x); vfork children seen ${t.vforkChildren}; ` +
    `fixup walks ${t.fixupWalks} (with a vfork child alive ${t.walksWithVfork}, missing a task ${t.walksMissed})` +
    (t.span > 0 ? `; per minute of trace: ${perMin(t.crossUp, t.span)} up-crossings, ${perMin(t.fixupWalks, t.span)} walks, ` +
      `${perMin(t.walksWithVfork, t.span)} with a vfork child, ${perMin(t.walksMissed, t.span)} missing a task` : ''));
  const max = opts.maxMms ?? 10;
  const shown = [...r.mms].sort((a, b) => b.crossUp + b.crossDown - (a.crossUp + a.crossDown) || b.maxUsers - a.maxUsers).slice(0, max);
  for (const m of shown) {
    out.push(`  mm ${m.mm} (from ${m.firstTime.toFixed(6)}s): ${m.tasks} tasks, max users ${m.maxUsers}, ` +
      `crossings up ${m.crossUp} / down ${m.crossDown} (vfork child alive ${m.crossUpWithVfork} / ${m.crossDownWithVfork}), ` +
      `fixup walks ${m.fixupWalks}`);
  }
  if (r.mms.length > shown.length) out.push(`  ... ${r.mms.length - shown.length} more shared mm(s) (--json lists all)`);
  return out.join('\n') + '\n';
}
