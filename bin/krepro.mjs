#!/usr/bin/env node
// Entry point. Runs the JavaScript that `npm run build` (run by `npm ci`
// and `npm install` as the prepare step, and by scripts/setup) compiled
// from src/ into dist/, so starting krepro costs no TypeScript transpiling.
// When dist/ is missing or older than a source file (an edit since the
// last build), it runs the sources through tsx instead: slower, never stale.
import { readdirSync, statSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));

function compiledIsFresh() {
  let built;
  try {
    built = statSync(root + 'dist/.built').mtimeMs;
  } catch {
    return false;
  }
  if (process.env.KREPRO_FROM_SOURCE === '1') return false;
  // Newest source file (about 130 stats, ~2 ms): is anything newer than the build?
  const stack = [root + 'src'];
  while (stack.length) {
    const dir = stack.pop();
    for (const e of readdirSync(dir, { withFileTypes: true })) {
      const p = `${dir}/${e.name}`;
      if (e.isDirectory()) stack.push(p);
      else if (statSync(p).mtimeMs > built) return false;
    }
  }
  // A package.json change (a new version) also needs a rebuild of the stamp.
  return statSync(root + 'package.json').mtimeMs <= built;
}

let main;
if (compiledIsFresh()) {
  ({ main } = await import('../dist/src/cli/main.js'));
} else {
  const { register } = await import('tsx/esm/api');
  register();
  ({ main } = await import('../src/cli/main.ts'));
}
process.exitCode = await main(process.argv.slice(2));
