/** Presenting classification results: one JSON object or a short text block per log. */
import type { CrashReport } from './types.ts';

export interface ClassifyRecord {
  file: string;
  title: string | null;
  altTitles: string[];
  type: string | null;
  frame: string | null;
  corrupted: boolean;
  /** 0-based, first line of the primary report */
  startLine: number | null;
  /** 0-based, exclusive */
  endLine: number | null;
  stack: { func: string; offset?: string; module?: string }[];
  /** further reports in the log, in order */
  more: { title: string; type: string; startLine: number }[];
}

export function classifyRecord(file: string, reports: CrashReport[]): ClassifyRecord {
  const r = reports[0];
  return {
    file,
    title: r?.title ?? null,
    altTitles: r?.altTitles ?? [],
    type: r?.type ?? null,
    frame: r?.frame ?? null,
    corrupted: r?.corrupted ?? false,
    startLine: r?.startLine ?? null,
    endLine: r?.endLine ?? null,
    stack: (r?.stack ?? []).map((f) => ({ func: f.func, offset: f.offset, module: f.module })),
    more: reports.slice(1).map((x) => ({ title: x.title, type: x.type, startLine: x.startLine })),
  };
}

const STACK_SHOWN = 16;
const MORE_SHOWN = 10;

/** Human-readable block for one log (lines shown 1-based, as editors count). */
export function formatClassify(rec: ClassifyRecord): string {
  if (rec.title === null) return `${rec.file}: no crash\n`;
  const out: string[] = [];
  out.push(`${rec.file}: ${rec.title}${rec.corrupted ? '  (corrupted)' : ''}`);
  out.push(`  type: ${rec.type}   frame: ${rec.frame ?? '-'}   lines: ${rec.startLine! + 1}-${rec.endLine}`);
  for (const a of rec.altTitles) out.push(`  also: ${a}`);
  if (rec.stack.length > 0) {
    const shown = rec.stack.slice(0, STACK_SHOWN).map((f) => (f.module ? `${f.func} [${f.module}]` : f.func));
    const rest = rec.stack.length - shown.length;
    out.push(`  stack: ${shown.join(' < ')}${rest > 0 ? ` < ... (${rest} more)` : ''}`);
  }
  if (rec.more.length > 0) {
    out.push(`  then ${rec.more.length} more report${rec.more.length === 1 ? '' : 's'}:`);
    for (const m of rec.more.slice(0, MORE_SHOWN)) out.push(`    line ${m.startLine + 1}: ${m.title}`);
    if (rec.more.length > MORE_SHOWN) out.push(`    ...`);
  }
  return out.join('\n') + '\n';
}
