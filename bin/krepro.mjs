#!/usr/bin/env node
// Entry point: run the TypeScript sources through tsx's loader, so there is
// no separate build step between editing and running.
import { register } from 'tsx/esm/api';
register();
const { main } = await import('../src/cli/main.ts');
process.exitCode = await main(process.argv.slice(2));
