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
import { hardWrap, table, wrapCommand, wrapWords, WIDTH } from '../util/wrap.ts';
import { parseFrameLine, shortSource, symbolizeFrames, type FrameRef } from './stack-decode.ts';
import type { RunEntry, Signature } from '../bisect/types.ts';
import { matchesSignature, countRuns, describeSignature } from '../bisect/driver.ts';
import { commitInfo } from '../source/git.ts';
import { kreproVersion } from '../util/version.ts';
import { collectProvenance } from '../run/provenance.ts';
import { RUN_DEFAULTS } from '../run/run.ts';
import type { RunOptions } from '../run/options.ts';
import type { Provenance } from '../run/types.ts';

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
  // A silent hang's report is made from the vCPUs (startLine -1): the console has none.
  const silent = rep !== null && rep.startLine < 0;
  if (!rep || rep.startLine < 0 || rep.startLine >= lines.length) rep = primaryReport(text);
  if (!rep) {
    const tail = lines.slice(-15).flatMap((l) => hardWrap(l, WIDTH, '    '));
    return { lines: [silent ? 'The guest went silent (no report on the console); its last lines:' : 'No crash report on the console; its last lines:', '', ...tail], frames: [], report: null };
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
  // Paths on the reporter's machine name files the bundle carries (or that krepro build makes).
  const argv = (q?.argv ?? []).map((x, i, all) => (all[i - 1] === '-kernel' ? 'bzImage' : all[i - 1] === '-initrd' ? basename(x)
    : x.split(rec.dir + '/').join('').replace(/\/tmp\/krepro-[^/,]+\//g, '<tmp>/')));
  if (argv.length) lines.push('', 'QEMU command line:', '', ...wrapCommand(argv));
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
        // Absolute where the bisection ran; in a copy or an unpacked bundle, under runs/ beside bisect.json.
        const rd = isAbsolute(r.runDir) ? r.runDir : join(dir, r.runDir);
        const local = join(dir, 'runs', basename(r.runDir));
        const rec = (await loadRun(rd)) ?? (await loadRun(local));
        if (rec && !(await loadRun(rd))) return { rec, dir: local };
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
    // A run counts as reproduced when it matched the signature the bisection
    // decided with (countRuns, the driver's own count), whatever face it showed.
    const sig = t.bisect.signature ?? null;
    const first = t.bisect.fixed ? ' (first fixed)' : ' (first bad)';
    for (const c of t.bisect.order) {
      const rec = t.bisect.commits[c];
      if (!rec) continue;
      const n = countRuns(rec.runs, sig);
      const role = rec.role === 'bad-endpoint' ? (t.bisect.fixed ? ' (broken)' : ' (bad)') : rec.role === 'good-endpoint' ? (t.bisect.fixed ? ' (fixed)' : ' (good)') : c === t.bisect.answer?.commit ? first : '';
      rows.push([short(c) + role, String(n.matching + n.clean + n.unrelated), String(n.matching), rec.decision ?? '']);
    }
  }
  void title;
  return table(['commit', 'runs', 'reproduced', t.bisect ? 'decision' : 'rate [95% CI]'], rows);
}

/**
 * run.json's provenance; for runs made before krepro recorded it, the same
 * facts gathered now from the tree and the build dir, when they are at hand.
 */
async function provenanceOf(rec: RunRecord | null): Promise<Provenance | null> {
  if (!rec) return null;
  if (rec.provenance) return rec.provenance;
  const sig = rec.signature?.startsWith('title:') ? null : rec.signature;
  const o = { scenario: rec.scenario ?? null, cpus: rec.qemu?.cpus, memoryMb: rec.qemu?.memoryMb, durationSec: rec.durationSec, selfTest: rec.selfTest as RunOptions['selfTest'],
    signature: sig, title: rec.signature?.startsWith('title:') ? rec.signature.slice(6) : null } as RunOptions;
  const p = await collectProvenance(o, rec.kernel, buildDirOf(rec.kernel?.bzImage), RUN_DEFAULTS).catch(() => null);
  // Not the krepro printing this report: the one that made the run did not say.
  return p && { ...p, krepro: { version: 'not recorded (a run from before krepro 0.1.0 recorded it)', commit: null } };
}

/**
 * The bug's best face among the titles of runs that matched the signature:
 * a named frame beats "corrupted" and a bare title, then the most frequent,
 * then the first seen. A bisection's Subject names the bug by it, not by
 * whichever run came last.
 */
export function bestFace(titles: string[]): string | null {
  const count = new Map<string, number>();
  for (const t of titles) count.set(t, (count.get(t) ?? 0) + 1);
  const score = (t: string) => (/\bcorrupted\b/.test(t) ? 0 : / in \S+/.test(t) ? 2 : 1);
  const firstSeen = (t: string) => titles.indexOf(t);
  return [...count.keys()].sort((a, b) => score(b) - score(a) || count.get(b)! - count.get(a)! || firstSeen(a) - firstSeen(b))[0] ?? null;
}

/** Titles of the bisection's runs that matched its signature, on commits it called buggy (the bug's faces). */
function bisectFaces(b: BisectState): string[] {
  const sig = b.signature ?? null;
  const out: string[] = [];
  for (const c of b.order) {
    const rec = b.commits[c];
    if (!rec || rec.decision !== 'buggy') continue;
    for (const r of rec.runs) {
      if (r.kind !== 'crash') continue;
      for (const t of [r.title, ...(r.unrelated ?? [])]) if (t && matchesSignature(sig, t) && !/^mmcid evidence:/.test(t)) out.push(t);
    }
  }
  return out;
}

/** A "label:          value" line in syzbot's layout (values from column 17), wrapped under the value. */
function field(label: string, value: string): string[] {
  const head = `${label}:`.padEnd(16);
  return wrapWords(value, WIDTH - 16).map((l, i) => (i === 0 ? head : ' '.repeat(16)) + l.trimStart());
}

/** One line: cut with "..." as syzbot cuts its HEAD commit line. */
const oneLine = (s: string, width = WIDTH) => (s.length <= width ? s : s.slice(0, width - 3) + '...');

/**
 * The Subject, on one line within 80 columns: the longest of the forms
 * that fits (with the kernel version and, for a bisection, the commit),
 * else the title cut.
 */
function subjectLine(tag: string, version: string | null, what: string, suffix: string): string {
  const forms = [
    `Subject: ${tag}${version ? `${version}: ` : ''}${what}${suffix}`,
    `Subject: ${tag}${version ? `${version}: ` : ''}${what}`,
    `Subject: ${tag}${what}`,
  ];
  return forms.find((f) => f.length <= WIDTH) ?? oneLine(forms[2]);
}

export async function buildReport(dir: string, opts: ReportOptions = {}): Promise<string> {
  const abs = resolve(dir);
  const t = await loadTarget(abs);
  const p = await primaryOf(abs, t);
  const rec = p?.rec ?? null;
  const prov = await provenanceOf(rec);
  const loopTitle = t.loop?.stats.titles[0]?.title ?? null;
  const faces = t.bisect ? bisectFaces(t.bisect) : [];
  const title = t.bisect ? (bestFace(faces) ?? rec?.title ?? null) : (rec?.title ?? loopTitle ?? rec?.report?.title ?? null);
  const version = rec?.kernel?.version ?? t.loop?.config.kernelRelease ?? null;
  const headCommit = t.bisect ? t.bisect.bad : (rec?.kernel?.commit ?? t.loop?.config.commit ?? null);
  const where = opts.artifactsUrl ?? '<link to the bundle>';
  const inBundle = (f: string) => `${f} in the artifacts (${where})`;
  const out: string[] = [];

  // Subject: one line, never folded.
  const what = title ?? (rec?.verdict === 'not-reproduced' ? 'no reproduction' : `no report (${rec?.verdict ?? 'no runs'})`);
  const a = t.bisect?.answer ?? null;
  out.push(t.bisect
    ? subjectLine(t.bisect.fixed ? '[FIXED] ' : '[REGRESSION] ', version, what, a?.commit ? ` (bisected to ${short(a.commit)})` : '')
    : subjectLine(title ? '[BUG] ' : '', version, what, ''));
  out.push('');

  // The bots' block: where the kernel came from, what built it, how to repeat it.
  const tree = t.bisect ? (t.bisect.meta?.tree as string | undefined) ?? null : null;
  const headSubject = prov?.head.commit === headCommit ? prov?.head.subject ?? null
    : tree && headCommit ? await commitInfo(tree, headCommit).then((c) => c.subject).catch(() => null) : null;
  out.push('Hello,', '', 'krepro found the following issue on:', '');
  out.push(oneLine(`HEAD commit:    ${short(headCommit)}${headSubject ? ` ${headSubject}` : ''}`));
  out.push(...field('git tree', prov?.tree.name ?? (rec?.kernel?.tree ? basename(rec.kernel.tree) : 'given bzImage')));
  for (const pt of rec?.kernel?.patches ?? []) {
    const [first, ...rest] = patchLines(pt);
    out.push(`${pt.reverted ? 'revert' : 'patch'}:`.padEnd(16) + first.replace(/^(?:revert|patch):\s*/, ''));
    // "applied with offsets: ..." under the value, rewrapped to its column.
    if (rest.length) out.push(...wrapWords(rest.join(' ').trim(), WIDTH - 18).map((l) => ' '.repeat(18) + l.trimStart()));
  }
  out.push(...field('console output', inBundle('console.log')));
  out.push(...field('kernel config', rec?.files?.includes('config') || (p && (await isFile(join(p.dir, 'config')))) ? inBundle('config') : 'not recorded (a given bzImage outside a build dir)'));
  out.push(...field('compiler', prov?.compiler ?? 'unknown'));
  out.push(...field('test machine', rec ? `QEMU ${rec.qemu?.accel ?? '?'}, ${rec.qemu?.cpus ?? '?'} vCPUs, ${rec.qemu?.memoryMb ?? '?'} MB, on a host with ${rec.host?.cores ?? '?'} cores` : 'unknown'));
  out.push(...field('reproducer', prov?.reproducer ?? 'krepro run (see "How it was run")'));
  if (prov?.workload) out.push(...field('workload', `${prov.workload.file} (sha256 ${prov.workload.sha256.slice(0, 16)})`));
  if (rec?.scenario) out.push(...field('scenario', `${rec.scenario.name} (sha256 ${rec.scenario.sha256.slice(0, 16)})`));
  const kv = prov?.krepro ?? kreproVersion();
  out.push(...field('krepro', `${kv.version}${kv.commit ? ` (${kv.commit.slice(0, 12)})` : ''}`));

  // For a bisection: the culprit as syzbot prints it, and the bisect log.
  let culprit: { hash: string; subject: string; author: string; date: string } | null = null;
  if (t.bisect) {
    out.push('');
    if (a?.commit) {
      culprit = tree ? await commitInfo(tree, a.commit).catch(() => null) : null;
      out.push(t.bisect.fixed ? 'The issue was fixed by:' : 'The issue was bisected to:', '');
      out.push(`commit ${a.commit}`);
      if (culprit) out.push(...hardWrap(`Author: ${culprit.author}`), `Date:   ${culprit.date}`, '', ...wrapWords(culprit.subject, WIDTH - 4).map((l) => `    ${l}`));
      else out.push('(subject and author: the bisected tree is not at hand)');
      out.push('');
      const others = (a.candidates ?? []).filter((c) => c.commit !== a.commit).slice(0, 2);
      out.push(...field('confidence', `${(a.confidence * 100).toFixed(1)}%${others.length ? `; next: ${others.map((c) => `${short(c.commit)} ${(c.p * 100).toFixed(1)}%`).join(', ')}` : ''}`));
    } else {
      out.push(...wrapWords(`The bisection between ${short(t.bisect.good)} and ${short(t.bisect.bad)} ended ${a?.kind ?? 'without an answer'}: no single commit named.`));
    }
    out.push(...field('signature', describeSignature(t.bisect.signature ?? null)));
    out.push(...field('bisection log', inBundle('bisect.log')));
  }

  // Tags first, as syzbot and 0-day put them.
  out.push('', 'If you fix the issue, please add the following tags to the commit:');
  out.push('Reported-by: <Your Name> <you@example.org>', 'Closes: <link to the report or bug>');
  if (t.bisect && a?.commit && !t.bisect.fixed) out.push(oneLine(`Fixes: ${short(a.commit)} ("${culprit?.subject ?? 'subject of the commit'}")`));
  // regzbot tracks regressions: a bisection for the fix names no culprit to track.
  if (t.bisect && !t.bisect.fixed) out.push(a?.commit ? `#regzbot introduced: ${short(a.commit)}` : `#regzbot introduced: ${short(t.bisect.good)}..${short(t.bisect.bad)}`);

  const intro: string[] = [];
  if (t.bisect) {
    intro.push(`krepro bisected ${title ? `"${title}"` : 'the failure'} between ${short(t.bisect.good)} (${t.bisect.fixed ? 'fixed' : 'good'}) and ${short(t.bisect.bad)} (${t.bisect.fixed ? 'broken' : 'bad'})` +
      (a?.commit ? ` to commit ${short(a.commit)}, with confidence ${(a.confidence * 100).toFixed(1)}%.` : `; it ended ${a?.kind ?? 'without an answer'}.`) +
      (new Set(faces).size > 1 ? ` The bug showed as ${[...new Set(faces)].map((f) => `"${f}" (${faces.filter((x) => x === f).length})`).join(', ')}.` : ''));
  } else if (t.loop) {
    const s = t.loop.stats;
    const several = s.titles.length > 1;
    const w = several ? 'the failure' : title ? `"${title}"` : 'the failure';
    intro.push(`Booting ${version ?? 'the kernel'} (commit ${short(headCommit)}) ${s.runs} times under a stress workload reproduced ${w} in ${s.reproduced} of ${s.valid} runs (${pct(s.rate)}, 95% CI ${pct(s.ci[0])} to ${pct(s.ci[1])})` +
      (s.ttf.median !== null ? `; median time to failure ${formatDuration(s.ttf.median)} after QEMU start` : '') +
      (several ? `; it showed as ${s.titles.map((x) => `"${x.title}" (${x.count})`).join(', ')}.` : '.'));
  } else if (rec) {
    intro.push(rec.verdict === 'reproduced'
      ? `Booting ${version ?? 'the kernel'} (commit ${short(headCommit)}) under a stress workload gives "${title}"${rec.timings?.detectMs != null ? ` ${formatDuration(rec.timings.detectMs / 1000)} after QEMU start` : ''}.`
      : `A run of ${version ?? 'the kernel'} (commit ${short(headCommit)}) ended with verdict ${rec.verdict}.`);
  }
  out.push('', ...intro.flatMap((l) => wrapWords(l)));

  if (p) {
    const c = await consoleSection(p, opts);
    out.push(...(await section('Console (trimmed; full log in the artifacts)', c.lines)));
    out.push(...(await section('Decoded stack', await decodedSection(c.frames, p, opts))));
    if (p.rec.vcpus?.length) {
      out.push(...(await section('vCPUs when the guest went silent (QEMU monitor)',
        p.rec.vcpus.flatMap((v) => [
          `CPU ${v.cpu}: ${v.symbol ?? v.rip}${v.source ? ` ${shortSource(v.source)}` : ''}`,
          // Text addresses found on its stack (a scan: stale ones can be among them, like the kernel's `? func` lines).
          ...(v.stackScan ?? []).map((x) => `  ? ${x}`),
        ]).flatMap((l) => hardWrap(l)))));
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
  out.push(...(await section('Reproduction', [
    ...reproTable(t, title),
    ...(t.loop?.stats.unrelated.length ? ['', ...wrapWords(`Unrelated reports: ${t.loop.stats.unrelated.map((u) => `${u.count} x ${u.title}`).join('; ')}`)] : []),
    ...(t.loop?.stats.infraErrors.count ? [`Infra errors (not counted): ${t.loop.stats.infraErrors.count}`] : []),
  ])));
  const kernel: string[] = [`version: ${version ?? 'unknown'}`, `commit:  ${headCommit ?? 'unknown'}`];
  if (rec?.kernel?.tree) kernel.push(...hardWrap(`tree:    ${prov?.tree.name ?? basename(rec.kernel.tree)}`));
  out.push(...(await section('Kernel', kernel)));
  if (rec) out.push(...(await section('How it was run', runLine(rec))));
  out.push(...(await section('Artifacts', [
    ...wrapWords(`The full console log, trace, .config (config), patches${t.bisect ? ', bisect.log' : ''} and run records are at ${where} (made with: krepro bundle ${basename(abs)} -o ${basename(abs)}.tar.gz; check it with krepro bundle --verify).`),
  ])));
  return out.map((l) => l.replace(/\s+$/, '')).flatMap((l) => hardWrap(l)).join('\n') + '\n';
}
