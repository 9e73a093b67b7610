import type { CommandModule } from 'yargs';
import { ensureDebianSeriesTree, parseDebianSpec, readDebianTreeInfo } from '../source/debian.ts';
import { git } from '../source/git.ts';
import { cacheRoot } from '../util/paths.ts';
import { usageError } from '../util/errors.ts';

const cmd: CommandModule = {
  command: 'fetch <tree>',
  describe: "Fetch Debian's linux-source-X.Y (debian:7.2, debian:7.3=VERSION) into the cache as a one-commit git repository",
  builder: (y) => y.positional('tree', { type: 'string', describe: 'debian:X.Y or debian:X.Y=VERSION' }),
  handler: async (a) => {
    const tree = String((a as { tree?: string }).tree ?? '');
    const spec = parseDebianSpec(tree);
    if (!spec) throw usageError(`krepro fetch ${tree}: give debian:X.Y (e.g. debian:7.2); a git checkout needs no fetch, pass it with --tree`);
    const repo = await ensureDebianSeriesTree(cacheRoot(), spec, (m) => process.stderr.write(`krepro: ${m}\n`));
    const info = await readDebianTreeInfo(repo);
    const head = (await git(repo, ['rev-parse', 'HEAD'])).stdout.trim();
    process.stdout.write(`${tree}: ${info ? `${info.package} ${info.version} (${info.suite})` : 'linux-source'} at ${repo} commit ${head.slice(0, 12)}\n`);
  },
};
export default cmd;
