import { describe, it, expect } from 'vitest';
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { commands, commandOf } from '../../src/cli/commands.ts';
import { PROJECT_ROOT } from '../../src/util/paths.ts';

describe('the command table (lazy loading)', () => {
  it('lists every command module, with the module\'s own usage and description', async () => {
    const files = (await readdir(join(PROJECT_ROOT, 'src', 'cli'))).filter((f) => f.endsWith('.ts'));
    for (const c of commands) {
      const m = (await c.load()).default;
      expect(m.command, c.name).toBe(c.command);
      expect(m.describe, c.name).toBe(c.describe);
      expect(String(m.command).split(' ')[0]).toBe(c.name);
    }
    // A module with a default CommandModule that the table forgot would never run.
    const listed = new Set(await Promise.all(commands.map(async (c) => (await c.load()).default)));
    for (const f of files) {
      const mod = await import(join(PROJECT_ROOT, 'src', 'cli', f));
      if (mod.default && typeof mod.default === 'object' && 'handler' in mod.default) expect(listed.has(mod.default), f).toBe(true);
    }
  });

  it('finds the command named in argv, past global options and their values', () => {
    expect(commandOf(['run', '--cpus', '2'])?.name).toBe('run');
    expect(commandOf(['--defaults', 'run', 'report', 'x'])?.name).toBe('report');
    expect(commandOf(['--get-yargs-completions', 'loop', '--c'])?.name).toBe('loop');
    expect(commandOf(['--help'])).toBeNull();
    expect(commandOf(['frobnicate'])).toBeNull();
  });
});
