import type { LoopRecord } from '../loop/types.ts';
import { pct } from '../loop/summary.ts';
import { formatDuration } from '../loop/duration.ts';

/** One point of the rate plot: a loop (this one or an earlier one of the same configuration). */
export interface RatePoint {
  label: string;              // short commit or date
  labelKind?: 'commit' | 'date';
  reproduced: number;
  valid: number;
  rate: number | null;
  ci: [number, number];
  current?: boolean;
}

const esc = (s: string) =>
  s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
const f = (n: number) => (Math.round(n * 10) / 10).toString();

const W = 640;
const H = 300;
const M = { l: 56, r: 16, t: 16, b: 56 };

function axes(xLabel: string, yLabel: string, yTicks: number[]): string {
  const ih = H - M.t - M.b;
  let s = `<line x1="${M.l}" y1="${M.t}" x2="${M.l}" y2="${H - M.b}" stroke="#333"/>`;
  s += `<line x1="${M.l}" y1="${H - M.b}" x2="${W - M.r}" y2="${H - M.b}" stroke="#333"/>`;
  for (const v of yTicks) {
    const y = M.t + ih * (1 - v);
    s += `<line x1="${M.l - 4}" y1="${f(y)}" x2="${W - M.r}" y2="${f(y)}" stroke="#ddd"/>`;
    s += `<text x="${M.l - 8}" y="${f(y + 4)}" text-anchor="end" font-size="11">${Math.round(v * 100)}%</text>`;
  }
  s += `<text x="${(M.l + W - M.r) / 2}" y="${H - 8}" text-anchor="middle" font-size="12">${esc(xLabel)}</text>`;
  s += `<text transform="translate(14 ${(M.t + H - M.b) / 2}) rotate(-90)" text-anchor="middle" font-size="12">${esc(yLabel)}</text>`;
  return s;
}

/** Reproduction rate with its 95% interval, one point per loop. */
export function rateSvg(points: RatePoint[]): string {
  const iw = W - M.l - M.r;
  const ih = H - M.t - M.b;
  let s = `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" role="img" aria-label="reproduction rate per loop">`;
  s += `<rect width="${W}" height="${H}" fill="#fff"/>`;
  const kinds = new Set(points.map((p) => p.labelKind ?? 'commit'));
  const xLabel = kinds.size > 1 ? 'loop (commit, or date for a given bzImage)' : kinds.has('date') ? 'loop (date)' : 'loop (commit)';
  s += axes(xLabel, 'reproduction rate', [0, 0.25, 0.5, 0.75, 1]);
  const n = Math.max(1, points.length);
  const step = iw / n;
  points.forEach((p, i) => {
    const x = M.l + step * (i + 0.5);
    const y = (v: number) => M.t + ih * (1 - v);
    const color = p.current ? '#c0392b' : '#2c6fbb';
    s += `<line x1="${f(x)}" y1="${f(y(p.ci[0]))}" x2="${f(x)}" y2="${f(y(p.ci[1]))}" stroke="${color}" stroke-width="2"/>`;
    for (const v of p.ci) s += `<line x1="${f(x - 6)}" y1="${f(y(v))}" x2="${f(x + 6)}" y2="${f(y(v))}" stroke="${color}" stroke-width="2"/>`;
    if (p.rate !== null) s += `<circle cx="${f(x)}" cy="${f(y(p.rate))}" r="5" fill="${color}"><title>${esc(`${p.label}: ${p.reproduced}/${p.valid} = ${pct(p.rate)} [${pct(p.ci[0])}, ${pct(p.ci[1])}]`)}</title></circle>`;
    if (n <= 16 || i % Math.ceil(n / 16) === 0) {
      s += `<text x="${f(x)}" y="${H - M.b + 16}" text-anchor="middle" font-size="10">${esc(p.label.slice(0, 12))}</text>`;
    }
  });
  return s + '</svg>';
}

/** Round tick values (whole seconds on a 1-2-5 step) from 0 to at most maxT, 3 to 6 of them. */
export function niceTicks(maxT: number): number[] {
  const steps = [1, 2, 5, 10, 15, 20, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 14400, 21600, 43200, 86400];
  const step = steps.find((st) => maxT / st <= 5) ?? Math.ceil(maxT / 5);
  const out: number[] = [];
  for (let t = 0; t <= maxT + 1e-9; t += step) out.push(t);
  return out;
}

/** Kaplan-Meier curve: share of runs not yet reproduced over time, censored runs ticked. */
export function kmSvg(curve: { t: number; s: number }[], censoredAt: number[], horizonSec: number | null): string {
  const iw = W - M.l - M.r;
  const ih = H - M.t - M.b;
  const maxT = Math.max(1, horizonSec ?? 0, ...curve.map((c) => c.t), ...censoredAt);
  const x = (t: number) => M.l + (iw * t) / maxT;
  const y = (v: number) => M.t + ih * (1 - v);
  let s = `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" role="img" aria-label="time to failure">`;
  s += `<rect width="${W}" height="${H}" fill="#fff"/>`;
  s += axes('seconds from QEMU start', 'runs not yet reproduced', [0, 0.25, 0.5, 0.75, 1]);
  for (const t of niceTicks(maxT)) {
    s += `<line x1="${f(x(t))}" y1="${H - M.b}" x2="${f(x(t))}" y2="${H - M.b + 4}" stroke="#333"/>`;
    s += `<text x="${f(x(t))}" y="${H - M.b + 16}" text-anchor="middle" font-size="10">${t}</text>`;
  }
  let d = `M${f(x(0))},${f(y(1))}`;
  let cur = 1;
  for (const c of curve) {
    d += ` H${f(x(c.t))} V${f(y(c.s))}`;
    cur = c.s;
  }
  d += ` H${f(x(maxT))}`;
  s += `<path d="${d}" fill="none" stroke="#c0392b" stroke-width="2.5"/>`;
  for (const t of censoredAt) {
    let sv = 1;
    for (const c of curve) if (c.t <= t) sv = c.s;
    s += `<line x1="${f(x(t))}" y1="${f(y(sv) - 5)}" x2="${f(x(t))}" y2="${f(y(sv) + 5)}" stroke="#555" stroke-width="1.5"><title>censored at ${f(t)}s</title></line>`;
  }
  void cur;
  return s + '</svg>';
}

/** A self-contained page (inline CSS and SVG, no external assets) for one loop. */
export function loopHtml(loop: LoopRecord, ratePoints: RatePoint[]): string {
  const st = loop.stats;
  const censored = loop.runs
    .filter((r) => r.verdict === 'not-reproduced' && r.timeSec !== null)
    .map((r) => r.timeSec as number);
  const c = loop.config;
  const kernel = c.kernel ? `given kernel ${c.kernel}` : `${c.commit?.slice(0, 12) ?? '?'} (${c.kernelRelease ?? 'unknown release'})`;
  const rows: [string, string][] = [
    ['status', loop.status],
    ['kernel', kernel],
    ['runs', `${st.runs} (${st.valid} with a verdict)`],
    ['reproduced', `${st.reproduced}`],
    ['rate', `${pct(st.rate)} (95% CI ${pct(st.ci[0])} to ${pct(st.ci[1])})`],
    ['median time to failure', st.ttf.median === null ? 'not reached' : formatDuration(st.ttf.median)],
    ['boot failures / infra errors / skipped', `${st.verdicts['boot-failed']} / ${st.infraErrors.count} / ${st.verdicts.skip}`],
    ['setup', `${c.cpus ?? 'default'} vCPUs, ${c.memoryMb ?? 'default'} MB, ${c.durationSec ?? 'default'} s, accel ${c.accel ?? 'auto'}`],
  ];
  if (loop.shard) rows.push(['shard', `${loop.shard.index + 1} of ${loop.shard.count}`]);
  if (loop.mergedFrom) rows.push(['merged from', loop.mergedFrom.map((m) => m.id).join(', ')]);
  const list = (items: { title: string; count: number }[]) =>
    items.length ? `<ul>${items.map((t) => `<li>${t.count} &times; ${esc(t.title)}</li>`).join('')}</ul>` : '<p>none</p>';
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<title>${esc(`krepro loop ${loop.id}`)}</title>
<style>
body{font:14px/1.4 system-ui,sans-serif;margin:24px;color:#222;background:#fff}
h1{font-size:20px}h2{font-size:16px;margin-top:28px}
table{border-collapse:collapse}td{padding:2px 12px 2px 0;vertical-align:top}td:first-child{color:#555}
svg{border:1px solid #ccc;display:block;margin:8px 0}
</style></head><body>
<h1>${esc(`krepro loop ${loop.id}`)}</h1>
<table>${rows.map(([k, v]) => `<tr><td>${esc(k)}</td><td>${esc(v)}</td></tr>`).join('')}</table>
<h2>Reproduction rate per loop (95% Wilson interval)</h2>
${rateSvg(ratePoints)}
<h2>Time to failure (Kaplan-Meier; ticks mark runs that ended without reproducing)</h2>
${kmSvg(st.ttf.curve, censored, c.durationSec)}
<h2>Titles</h2>${list(st.titles)}
<h2>Unrelated crashes</h2>${list(st.unrelated)}
<h2>Infra errors</h2>${list(st.infraErrors.messages.map((m) => ({ title: m.message, count: m.count })))}
</body></html>
`;
}
