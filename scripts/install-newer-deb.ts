// scripts/install-newer-deb.ts NAME...: install Debian packages the host's
// release lacks (virtme-ng) from a newer suite, through krepro's private apt
// configuration; their dependencies come from the host's own suites.
import { installNewerDeb } from '../src/source/apt.ts';
import { cacheRoot } from '../src/util/paths.ts';
import { isKreproError } from '../src/util/errors.ts';

for (const name of process.argv.slice(2)) {
  try {
    const v = await installNewerDeb(cacheRoot(), name, (m) => process.stderr.write(`setup: ${m}\n`));
    process.stdout.write(`setup: ${name} ${v}\n`);
  } catch (e) {
    process.stderr.write(`setup: ${isKreproError(e) ? e.message : (e as Error).message}\n`);
    process.exit(isKreproError(e) ? 255 : 1);
  }
}
