#!/usr/bin/env node
// npm run build (also npm's prepare step, so `npm ci` runs it): compile
// src/ to dist/ with tsc (tsconfig.build.json: .ts imports rewritten to
// .js), then stamp dist/.built, which bin/krepro.mjs compares with the
// sources to decide whether the compiled code is current.
import { execFileSync } from 'node:child_process';
import { rmSync, writeFileSync, mkdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');
const t0 = Date.now();
rmSync(root + 'dist', { recursive: true, force: true });
execFileSync(process.execPath, [tsc, '-p', root + 'tsconfig.build.json'], { stdio: 'inherit' });
mkdirSync(root + 'dist', { recursive: true });
writeFileSync(root + 'dist/.built', new Date().toISOString() + '\n');
console.error(`build: src/ compiled to dist/ in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
