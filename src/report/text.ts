/**
 * `krepro report DIR`: a plain-text report for a run, a loop or a
 * bisection that a maintainer can take on the list as it is: <= 80
 * columns, the console trimmed to the report (timestamps kept), the stack
 * decoded when vmlinux is at hand, a 0-day style table of runs and
 * reproductions per commit, tags, and a pointer to the artifacts instead of
 * pasting them.
 */
import { readFile, stat } from 'node:fs/promises';
import { basename, dirname, isAbsolute, join, resolve } from 'node:path';
import type { RunRecord } from '../run/types.ts';
import { readAnalysis } from '../run/trace-file.ts';
import { readRunRecord } from '../run/record.ts';
import { readBisectState, type BisectState } from '../bisect/types.ts';
import { readRecord } from '../util/fs.ts';
import type { CrashReport } from '../console/types.ts';
import type { LoopRecord } from '../loop/types.ts';
import { loopStats, pct } from '../loop/summary.ts';
import { formatDuration } from '../loop/duration.ts';
import { usageError } from '../util/errors.ts';
import { primaryReport } from '../console/classify.ts';
import { decodeLog, splitLines } from '../console/normalize.ts';
import { hardWrap, table, wrapCommand, wrapWords, WIDTH } from './wrap.ts';
import { parseFrameLine, shortSource, symbolizeFrames, type FrameRef } from './stack-decode.ts';

export interface ReportOptions {
  vmlinux?: string | null;      // default: beside the bzImage's build dir
  modulesDir?: string | null;   // where .ko files are (default: the build dir)
  artifactsUrl?: string | null; // where the bundle will be; a placeholder when absent
  maxConsoleLines?: number;     // default 60
}

type Kind = 'run' | 'loop' | 'bisect';

async function isFile(p: string): Promise<boolean> {
  try { return (await stat(p)).isFile(); } catch { return false; }
}
async function isDir(p: string): Promise<boolean> {
  try { return (await stat(p)).isDirectory(); } catch { return false; }
}
const short = (c: string | null | undefined) => (c ? c.slice(0, 12) : 'unknown');

/** Lines of the register dump and code bytes say little in a mail; the stack says a lot. */
const NOISE = /^(?:\[\s*\d+\.\d+\]\s*)?(?:Code: |(?:RAX|RBX|RCX|RDX|RSI|RDI|RBP|RSP|R8|R9|R1[0-5]|FS|CS|CR2|DR[0-7]|PKRU): )/;

export function trimConsole(lines: string[], rep: CrashReport, max = 60): string[] {
  const body = lines.slice(rep.startLine, rep.endLine).filter((l) => !NOISE.test(l));
  const kept = body.length > max ? [...body.slice(0, max - 1), `[... ${body.length - max + 1} more lines in console.log]`] : body;
  return kept.flatMap((l) => hardWrap(l.replace(/\t/g, '    '), WIDTH, '    '));
}

function buildDirOf(bzImage: string | undefined | null): string | null {
  if (!bzImage) return null;
  const m = /^(.*)\/arch\/[^/]+\/boot\/bzImage$/.exec(bzImage);
  return m ? m[1] : dirname(bzImage);
}

async function loadRun(dir: string): Promise<RunRecord | null> {
  return readRunRecord(dir).catch(() => null);
}

interface Primary {
  rec: RunRecord;
  dir: string;
}

async function section(title: string, body: string[]): Promise<string[]> {
  return body.length ? ['', title, '-'.repeat(Math.min(WIDTH, title.length)), ...body] : [];
}

async function consoleSection(p: Primary, opts: ReportOptions): Promise<{ lines: string[]; frames: FrameRef[]; report: CrashReport | null }> {
  const text = await readFile(join(p.dir, 'console.log')).catch(() => null);
  if (!text) return { lines: ['(no console.log in the run dir)'], frames: [], report: null };
  const lines = splitLines(decodeLog(text));
  let rep = p.rec.report;
  if (!rep || rep.startLine >= lines.length) rep = primaryReport(text);
  if (!rep) {
    const tail = lines.slice(-15).flatMap((l) => hardWrap(l, WIDTH, '    '));
    return { lines: ['No crash report on the console; its last lines:', '', ...tail], frames: [], report: null };
  }
  const trimmed = trimConsole(lines, rep, opts.maxConsoleLines ?? 60);
  const frames: FrameRef[] = [];
  const seen = new Set<string>();
  for (const l of lines.slice(rep.startLine, rep.endLine)) {
    const f = parseFrameLine(l.replace(/^\[\s*\d+\.\d+\]\s*/, ''));
    if (!f || /^\s*\? /.test(l.replace(/^\[\s*\d+\.\d+\]/, '')) ) continue;
    const key = `${f.func}+${f.offset}[${f.module ?? ''}]`;
    if (seen.has(key)) continue;
    seen.add(key);
    frames.push(f);
  }
  return { lines: trimmed, frames, report: rep };
}

async function decodedSection(frames: FrameRef[], p: Primary, opts: ReportOptions): Promise<string[]> {
  const bdir = buildDirOf(p.rec.kernel?.bzImage);
  const vmlinux = opts.vmlinux ?? (bdir ? join(bdir, 'vmlinux') : null);
  if (!frames.length) return [];
  if (!vmlinux || !(await isFile(vmlinux))) {
    return wrapWords(`(vmlinux not at hand${vmlinux ? ` at ${vmlinux}` : ''}: rerun with --vmlinux to decode the stack to file:line, or use the tree's scripts/decode_stacktrace.sh)`);
  }
  // Unstripped modules (debug-info builds) decode module frames; the stripped ones only name them.
  const debugMods = bdir ? join(bdir, 'modinst-debug') : null;
  const modulesDir = opts.modulesDir ?? (debugMods && (await isDir(debugMods)) ? debugMods : bdir);
  const dec = await symbolizeFrames(frames.slice(0, 24), { vmlinux, modulesDir });
  const out: string[] = [];
  for (const d of dec) {
    const name = `${d.frame.func}+${(d.frame.offset ?? '').split('/')[0]}${d.frame.module ? ` [${d.frame.module}]` : ''}`;
    if (!d.locations.length) { out.push(name); continue; }
    // addr2line -i lists the innermost inlined call first; print the frame's
    // own function first, then what was inlined into it, down to the line.
    [...d.locations].reverse().forEach((loc, i) => {
      const where = `${shortSource(loc.file)}:${loc.line ?? '?'}`;
      const label = i === 0 ? name : `  inlined: ${loc.func}`;
      const line = `${label} ${where}`;
      out.push(...(line.length <= WIDTH ? [line] : [label, `    ${where}`.slice(0, WIDTH)]));
    });
  }
  return out;
}

interface Finding { summary: string; lines: string[] }

/**
 * The trace's findings: analysis.json (TraceAnalysis, with each finding's
 * trace lines) when it is there, else run.json's summary (no lines).
 */
async function findings(p: Primary): Promise<Finding[]> {
  const full = await readAnalysis(p.dir);
  const list: { kind: string; message: string; lines?: string[] }[] = full?.anomalies ?? p.rec.analysis?.anomalies ?? [];
  return list.map((f) => ({ summary: `${f.kind}: ${f.message}`, lines: (f.lines ?? []).slice(0, 12) }));
}

/** "patch:   a.patch (sha256 ...)", "revert:  a.patch (...)" or "revert:  <commit> ("subject")", and any offsets. */
function patchLines(pt: RunRecord['kernel']['patches'][number]): string[] {
  const what = pt.commit
    ? `revert:  commit ${pt.commit.slice(0, 12)}${pt.subject ? ` ("${pt.subject}")` : ''}`
    : `${pt.reverted ? 'revert: ' : 'patch:  '} ${basename(pt.file)} (sha256 ${pt.sha256.slice(0, 16)}${pt.reverted ? ', applied in reverse' : ''})`;
  const out = hardWrap(what);
  if (pt.offsets?.length) out.push(...wrapWords(`  applied with offsets: ${pt.offsets.join('; ')}`, WIDTH, '    '));
  return out;
}

function runLine(rec: RunRecord): string[] {
  const q = rec.qemu;
  const lines = [
    `vCPUs: ${q?.cpus ?? '?'}, memory: ${q?.memoryMb ?? '?'} MB, accel: ${q?.accel ?? '?'}` +
      `, host cores: ${rec.host?.cores ?? '?'}, workload: ${rec.durationSec ?? '?'} s` +
      (rec.selfTest ? `, self-test ${rec.selfTest}` : ''),
  ];
  if (q?.accelReason) lines.push(...wrapWords(`accelerator: ${q.accel}${q.accelRequested ? ` (--accel ${q.accelRequested})` : ''}: ${q.accelReason}`, WIDTH, '  '));
  if (q?.argv?.length) lines.push('', 'QEMU command line:', '', ...wrapCommand(q.argv));
  if (q?.append) lines.push('', 'Kernel command line:', '', ...wrapWords(q.append, WIDTH - 2, '  ').map((l) => '  ' + l.trimStart()));
  return lines;
}

export async function loadTarget(dir: string): Promise<{ kind: Kind; bisect?: BisectState; loop?: LoopRecord; run?: RunRecord }> {
  const abs = resolve(dir);
  const bisect = await readBisectState(abs).catch(() => null);
  if (bisect) return { kind: 'bisect', bisect };
  const loop = await readRecord<LoopRecord>(join(abs, 'loop.json'), 'krepro.loop/1').catch(() => null);
  if (loop) return { kind: 'loop', loop };
  const run = await loadRun(abs);
  if (run) return { kind: 'run', run };
  throw usageError(`${dir} holds no run.json, loop.json or bisect.json: give a run, loop or bisection dir`);
}

async function primaryOf(dir: string, t: Awaited<ReturnType<typeof loadTarget>>): Promise<Primary | null> {
  if (t.run) return { rec: t.run, dir };
  if (t.loop) {
    const runs = [...t.loop.runs].sort((a, b) => a.index - b.index);
    const pick = runs.find((r) => r.verdict === 'reproduced') ?? runs.find((r) => r.verdict === 'not-reproduced') ?? runs[0];
    if (!pick) return null;
    const rec = await loadRun(join(dir, pick.dir));
    return rec ? { rec, dir: join(dir, pick.dir) } : null;
  }
  if (t.bisect) {
    const b = t.bisect;
    const prefer = [b.answer?.commit, b.bad].filter(Boolean) as string[];
    for (const c of prefer) {
      for (const r of b.commits[c]?.runs ?? []) {
        if (r.kind !== 'crash' || !r.runDir) continue;
        const rd = isAbsolute(r.runDir) ? r.runDir : join(dir, r.runDir);
        const rec = await loadRun(rd);
        if (rec) return { rec, dir: rd };
      }
    }
  }
  return null;
}

/** Rows of the reproduction table: per commit, runs with a verdict and reproductions. */
function reproTable(t: Awaited<ReturnType<typeof loadTarget>>, title: string | null): string[] {
  const rows: string[][] = [];
  if (t.run) {
    rows.push([short(t.run.kernel?.commit), '1', t.run.verdict === 'reproduced' ? '1' : '0', '']);
  } else if (t.loop) {
    const by = new Map<string, LoopRecord['runs']>();
    for (const r of t.loop.runs) by.set(r.commit ?? t.loop.config.commit ?? 'unknown', [...(by.get(r.commit ?? t.loop.config.commit ?? 'unknown') ?? []), r]);
    for (const [c, runs] of by) {
      const s = loopStats(runs);
      rows.push([short(c), String(s.valid), String(s.reproduced), s.valid ? `${pct(s.rate)} [${pct(s.ci[0])}-${pct(s.ci[1])}]` : '']);
    }
  } else if (t.bisect) {
    for (const c of t.bisect.order) {
      const rec = t.bisect.commits[c];
      if (!rec) continue;
      const valid = rec.runs.filter((r) => r.kind === 'crash' || r.kind === 'clean');
      const crashes = valid.filter((r) => r.kind === 'crash' && (!title || r.title === null || r.title === title)).length;
      const role = rec.role === 'bad-endpoint' ? ' (bad)' : rec.role === 'good-endpoint' ? ' (good)' : c === t.bisect.answer?.commit ? ' (first bad)' : '';
      rows.push([short(c) + role, String(valid.length), String(crashes), rec.decision ?? '']);
    }
  }
  return table(['commit', 'runs', 'reproduced', t.bisect ? 'decision' : 'rate [95% CI]'], rows);
}

export async function buildReport(dir: string, opts: ReportOptions = {}): Promise<string> {
  const abs = resolve(dir);
  const t = await loadTarget(abs);
  const p = await primaryOf(abs, t);
  const rec = p?.rec ?? null;
  const loopTitle = t.loop?.stats.titles[0]?.title ?? null;
  const title = rec?.title ?? loopTitle ?? rec?.report?.title ?? null;
  const version = rec?.kernel?.version ?? t.loop?.config.kernelRelease ?? null;
  const commit = t.bisect ? (t.bisect.answer?.commit ?? t.bisect.bad) : (rec?.kernel?.commit ?? t.loop?.config.commit ?? null);
  const out: string[] = [];

  // Subject, folded the RFC 5322 way (continuation lines start with a space).
  const what = title ?? (rec?.verdict === 'not-reproduced' ? 'no reproduction' : `no report (${rec?.verdict ?? 'no runs'})`);
  const subject = t.bisect
    ? `Subject: [REGRESSION] ${version ? `${version}: ` : ''}${what} (bisected to ${short(t.bisect.answer?.commit)})`
    : `Subject: ${title ? '[BUG] ' : ''}${version ? `${version}: ` : ''}${what}`;
  out.push(...wrapWords(subject, WIDTH, ' '));
  out.push('');

  const intro: string[] = [];
  if (t.bisect) {
    const a = t.bisect.answer;
    intro.push(`A reproduction harness (krepro) bisected the following ${title ? `"${title}"` : 'failure'} between ${short(t.bisect.good)} (good) and ${short(t.bisect.bad)} (bad)` +
      (a?.commit ? ` to commit ${short(a.commit)}, with confidence ${(a.confidence * 100).toFixed(1)}%.` : `; it ended ${a?.kind ?? 'without an answer'}.`));
  } else if (t.loop) {
    const s = t.loop.stats;
    // One title, or the failure and each of its faces with its count.
    const several = s.titles.length > 1;
    const what = several ? 'the failure' : title ? `"${title}"` : 'the failure';
    intro.push(`Booting ${version ?? 'the kernel'} (commit ${short(commit)}) ${s.runs} times under a stress workload reproduced ${what} in ${s.reproduced} of ${s.valid} runs (${pct(s.rate)}, 95% CI ${pct(s.ci[0])} to ${pct(s.ci[1])})` +
      (s.ttf.median !== null ? `; median time to failure ${formatDuration(s.ttf.median)} after QEMU start` : '') +
      (several ? `; it showed as ${s.titles.map((x) => `"${x.title}" (${x.count})`).join(', ')}.` : '.'));
  } else if (rec) {
    intro.push(rec.verdict === 'reproduced'
      ? `Booting ${version ?? 'the kernel'} (commit ${short(commit)}) under a stress workload gives "${title}"${rec.timings?.detectMs != null ? ` ${formatDuration(rec.timings.detectMs / 1000)} after QEMU start` : ''}.`
      : `A run of ${version ?? 'the kernel'} (commit ${short(commit)}) ended with verdict ${rec.verdict}.`);
  }
  out.push('Hello,', '', ...intro.flatMap((l) => wrapWords(l)));

  const kernel: string[] = [
    `version: ${version ?? 'unknown'}`,
    `commit:  ${commit ?? 'unknown'}`,
  ];
  if (rec?.kernel?.tree) kernel.push(...hardWrap(`tree:    ${rec.kernel.tree}`));
  for (const pt of rec?.kernel?.patches ?? []) kernel.push(...patchLines(pt));
  if (rec?.scenario) kernel.push(...hardWrap(`scenario: ${rec.scenario.name} (${basename(rec.scenario.file)}, sha256 ${rec.scenario.sha256.slice(0, 16)})`));
  out.push(...(await section('Kernel', kernel)));
  if (rec) out.push(...(await section('How it was run', runLine(rec))));
  out.push(...(await section('Reproduction', [
    ...reproTable(t, title),
    ...(t.loop?.stats.unrelated.length ? ['', ...wrapWords(`Unrelated reports: ${t.loop.stats.unrelated.map((u) => `${u.count} x ${u.title}`).join('; ')}`)] : []),
    ...(t.loop?.stats.infraErrors.count ? [`Infra errors (not counted): ${t.loop.stats.infraErrors.count}`] : []),
  ])));
  if (title) out.push('', ...wrapWords(`Title: ${title}`));

  if (p) {
    const c = await consoleSection(p, opts);
    out.push(...(await section('Console (trimmed; full log in the artifacts)', c.lines)));
    out.push(...(await section('Decoded stack', await decodedSection(c.frames, p, opts))));
    if (p.rec.vcpus?.length) {
      out.push(...(await section('vCPUs when the guest went silent (QEMU monitor)',
        p.rec.vcpus.map((v) => `CPU ${v.cpu}: ${v.symbol ?? v.rip}${v.source ? ` ${shortSource(v.source)}` : ''}`).flatMap((l) => hardWrap(l)))));
    }
    const fs = await findings(p);
    const fl: string[] = [];
    for (const f of fs) {
      fl.push(...wrapWords(`- ${f.summary}`, WIDTH, '  '));
      for (const l of f.lines) fl.push(...hardWrap(`    ${l}`, WIDTH, '      '));
    }
    if (!fs.length && (await isFile(join(p.dir, 'trace.txt')))) fl.push('The trace (trace.txt) is in the artifacts.');
    out.push(...(await section('Trace analysis', fl)));
  }

  const tags = ['Reported-by: <Your Name> <you@example.org>', 'Closes: <link to the report or bug>'];
  if (t.bisect) {
    const a = t.bisect.answer?.commit;
    tags.push(a ? `#regzbot introduced: ${short(a)}` : `#regzbot introduced: ${short(t.bisect.good)}..${short(t.bisect.bad)}`);
  }
  out.push('', ...tags);
  const where = opts.artifactsUrl ?? '<link to the bundle>';
  out.push(...(await section('Artifacts', [
    ...wrapWords(`The full console log, trace, .config, patches and run records are at ${where} (made with: krepro bundle ${basename(abs)} -o ${basename(abs)}.tar.gz; check it with krepro bundle --verify).`),
  ])));
  return out.map((l) => l.replace(/\s+$/, '')).flatMap((l) => hardWrap(l)).join('\n') + '\n';
}

