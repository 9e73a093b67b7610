import type { CommandModule } from 'yargs';
import { buildOptions, toBuildOptions, progressPrinter } from './common.ts';
import { buildKernel } from '../build/build.ts';
import { abortOnSignals } from './run-options.ts';

const cmd: CommandModule = {
  command: 'build',
  describe: 'Build a kernel (any commit of a git tree, profile fragments, patches) through the build cache',
  builder: (y) => buildOptions(y).option('json', { type: 'boolean', default: false, describe: 'print one JSON object' }),
  handler: async (a) => {
    const args = a as unknown as Parameters<typeof toBuildOptions>[0] & { json: boolean };
    const opts = toBuildOptions(args);
    const { signal, dispose } = abortOnSignals();
    let r;
    try {
      r = await buildKernel({ ...opts, progress: progressPrinter(), signal });
    } finally {
      dispose();
    }
    if (args.json) {
      process.stdout.write(JSON.stringify({ bzImage: r.bzImage, modules: r.modules, config: r.config, key: r.key, cached: r.cached, seconds: r.seconds, commit: r.commit, tree: r.tree, kernelRelease: r.kernelRelease, systemMap: r.systemMap, log: r.log, patches: r.patches }) + '\n');
    } else {
      process.stdout.write(`${r.cached ? 'cached' : 'built'} ${r.kernelRelease} (${r.commit.slice(0, 12)}) key ${r.key} in ${r.seconds.toFixed(1)} s\n  bzImage ${r.bzImage}\n  config  ${r.config}\n  modules ${r.modules}\n`);
      for (const p of r.patches) {
        process.stdout.write(`  ${p.reverted ? 'revert ' : 'patch  '} ${p.commit ? `${p.commit.slice(0, 12)} ${p.subject ?? ''}`.trimEnd() : p.file}\n`);
        for (const o of p.offsets ?? []) process.stdout.write(`           offset: ${o}\n`);
      }
    }
  },
};
export default cmd;
