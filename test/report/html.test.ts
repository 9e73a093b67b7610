import { describe, it, expect } from 'vitest';
import { execa } from 'execa';
import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { inflateSync } from 'node:zlib';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runLoop } from '../../src/loop/loop.ts';
import { finishLoop } from '../../src/report/finish-loop.ts';
import { kmSvg, rateSvg, niceTicks } from '../../src/report/html.ts';
import { corpusRunner } from '../loop/corpus-run.ts';

/** Decode an 8-bit RGB/RGBA PNG into pixels (enough for a screenshot). */
function decodePng(buf: Buffer): { w: number; h: number; px: (x: number, y: number) => number[] } {
  expect(buf.subarray(0, 8).toString('hex')).toBe('89504e470d0a1a0a');
  let off = 8, w = 0, h = 0, depth = 0, ctype = 0;
  const idat: Buffer[] = [];
  while (off < buf.length) {
    const len = buf.readUInt32BE(off);
    const type = buf.subarray(off + 4, off + 8).toString('ascii');
    const data = buf.subarray(off + 8, off + 8 + len);
    if (type === 'IHDR') { w = data.readUInt32BE(0); h = data.readUInt32BE(4); depth = data[8]; ctype = data[9]; }
    if (type === 'IDAT') idat.push(data);
    off += 12 + len;
  }
  expect(depth).toBe(8);
  const bpp = ctype === 6 ? 4 : ctype === 2 ? 3 : 0;
  expect(bpp).toBeGreaterThan(0);
  const raw = inflateSync(Buffer.concat(idat));
  const stride = w * bpp;
  const out = Buffer.alloc(h * stride);
  for (let y = 0; y < h; y++) {
    const f = raw[y * (stride + 1)];
    for (let x = 0; x < stride; x++) {
      const v = raw[y * (stride + 1) + 1 + x];
      const a = x >= bpp ? out[y * stride + x - bpp] : 0;
      const b = y > 0 ? out[(y - 1) * stride + x] : 0;
      const c = x >= bpp && y > 0 ? out[(y - 1) * stride + x - bpp] : 0;
      let p = 0;
      if (f === 1) p = a;
      else if (f === 2) p = b;
      else if (f === 3) p = (a + b) >> 1;
      else if (f === 4) { const pa = Math.abs(b - c), pb = Math.abs(a - c), pc = Math.abs(a + b - 2 * c); p = pa <= pb && pa <= pc ? a : pb <= pc ? b : c; }
      out[y * stride + x] = (v + p) & 0xff;
    }
  }
  return { w, h, px: (x, y) => [...out.subarray(y * stride + x * bpp, y * stride + x * bpp + 3)] };
}

describe('HTML loop summary', () => {
  it('is self-contained with two plots', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'krepro-html-'));
    const { record } = await runLoop({ run: { kernel: '/x/bzImage' }, count: 6, dir, resultsDir: dir },
      { build: async () => { throw new Error('unused'); }, run: corpusRunner(), now: Date.now });
    await finishLoop(record, dir, join(dir, 'history.jsonl'));
    const html = await readFile(join(dir, 'report.html'), 'utf8');
    expect(html.match(/<svg /g)).toHaveLength(2);
    expect(html).not.toMatch(/(src|href)=["']?(https?:|\/\/)/);
    expect(html).not.toMatch(/<script|<link /);
    expect(html).toContain('66.7% (95% CI 30.0% to 90.3%)');
    // A given kernel is named by its path, once (not "bzImage bzImage"); its loops are labelled by date.
    expect(html).toContain('given kernel /x/bzImage');
    expect(html).not.toMatch(/bzImage bzImage/);
    expect(html).toContain('loop (date)');
    expect(html).not.toContain('loop (commit)');
  });

  it('time ticks are round seconds', () => {
    expect(niceTicks(33)).toEqual([0, 10, 20, 30]);
    expect(niceTicks(26.4)).toEqual([0, 10, 20]);
    expect(niceTicks(4)).toEqual([0, 1, 2, 3, 4]);
    expect(niceTicks(900)).toEqual([0, 300, 600, 900]);
    const svg = kmSvg([{ t: 13.2, s: 0.5 }], [26.4], null);
    expect(svg).not.toMatch(/>\d+\.\d+</);
  });

  it('renders in headless Chromium to a non-blank screenshot with the curve drawn', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'krepro-html-'));
    const { record } = await runLoop({ run: { kernel: '/x/bzImage' }, count: 12, dir, resultsDir: dir },
      { build: async () => { throw new Error('unused'); }, run: corpusRunner(), now: Date.now });
    await finishLoop(record, dir, join(dir, 'history.jsonl'));
    const png = join(dir, 'shot.png');
    await execa('chromium', [
      '--headless', '--no-sandbox', '--disable-gpu', '--hide-scrollbars', `--user-data-dir=${join(dir, 'profile')}`,
      '--window-size=800,1400', `--screenshot=${png}`, `file://${join(dir, 'report.html')}`,
    ], { timeout: 120_000, reject: true });
    const img = decodePng(await readFile(png));
    expect(img.w).toBe(800);
    let nonWhite = 0, red = 0;
    const colors = new Set<string>();
    for (let y = 0; y < img.h; y += 2) {
      for (let x = 0; x < img.w; x += 2) {
        const [r, g, b] = img.px(x, y);
        if (r < 245 || g < 245 || b < 245) nonWhite++;
        if (r > 150 && g < 90 && b < 90) red++;    // the red KM curve / current loop point
        colors.add(`${r >> 4},${g >> 4},${b >> 4}`);
      }
    }
    expect(nonWhite).toBeGreaterThan(2000);
    expect(red).toBeGreaterThan(50);
    expect(colors.size).toBeGreaterThan(5);
  }, 180_000);

  it('the SVGs place points by the numbers', () => {
    const s = rateSvg([{ label: 'a', reproduced: 1, valid: 2, rate: 0.5, ci: [0.1, 0.9], current: true }]);
    // plot area 16..244 in y: rate 0.5 sits at 130
    expect(s).toMatch(/<circle cx="[\d.]+" cy="130"/);
    const k = kmSvg([{ t: 50, s: 0.5 }], [100], 100);
    expect(k).toContain('H340 V130');   // x(50) = 56 + 568*50/100
  });
});
