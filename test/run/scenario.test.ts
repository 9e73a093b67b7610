import { describe, it, expect, beforeAll } from 'vitest';
import { mkdtemp, writeFile, mkdir, readdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import yargs from 'yargs';
import {
  parseScenario, resolveScenarioPaths, explicitOptions, mergeScenario, loadScenario, allowedKeys, jsonErrorOffset, lineCol, scenarioPath, type OptionSpec,
} from '../../src/run/scenario.ts';
import { runOptions } from '../../src/cli/run-options.ts';
import { optionSpec, SCENARIO_ARG } from '../../src/cli/scenario.ts';
import { PROJECT_ROOT } from '../../src/util/paths.ts';

/** The option table of `krepro run`, as yargs holds it (what the CLI hands the scenario code). */
async function runSpec(): Promise<{ spec: OptionSpec[]; defaults: Record<string, unknown> }> {
  let out!: { spec: OptionSpec[]; defaults: Record<string, unknown> };
  await yargs([]).command({
    command: '$0',
    describe: 'x',
    builder: (y) => {
      const yy = runOptions(y) as unknown as { getOptions(): Parameters<typeof optionSpec>[0] };
      const o = yy.getOptions();
      out = { spec: optionSpec(o), defaults: o.default };
      return y;
    },
    handler: () => {},
  }).parseAsync();
  return out;
}

/** Parse `args` as `krepro run` would (the real options and middleware) and return the handler's argv. */
async function parseRun(args: string[]): Promise<Record<string, unknown>> {
  let got!: Record<string, unknown>;
  await yargs(args)
    .strict()
    .fail((msg, err) => {
      throw err ?? new Error(msg);
    })
    .command({ command: 'run', describe: 'x', builder: (y) => runOptions(y), handler: (a) => void (got = a as Record<string, unknown>) })
    .parseAsync();
  return got;
}

let spec: OptionSpec[];
let defaults: Record<string, unknown>;
let root: string;
beforeAll(async () => {
  ({ spec, defaults } = await runSpec());
  root = await mkdtemp(join(tmpdir(), 'kscen-'));
  await mkdir(join(root, 'patches', 'x'), { recursive: true });
  await mkdir(join(root, 'scenarios'));
  await writeFile(join(root, 'patches', 'x', 'a.patch'), 'diff --git a/f b/f\n');
  await writeFile(join(root, 'patches', 'x', 'r.patch'), 'diff --git a/f b/f\n');
  await writeFile(join(root, 'extra.config'), 'CONFIG_X=y\n');
});

describe('scenario parsing', () => {
  it('takes the command\'s option names, patches/reverts for --patch/--revert, description and evidence', () => {
    const keys = allowedKeys(spec);
    for (const k of ['description', 'evidence', 'tree', 'patches', 'reverts', 'profile', 'config', 'cpus', 'memory', 'duration', 'accel', 'append', 'signature', 'title', 'trace', 'hang-timeout', 'boot-timeout']) expect(keys).toContain(k);
    for (const k of ['patch', 'revert', 'scenario', 'help', 'dry-run']) expect(keys).not.toContain(k);
    const s = parseScenario(JSON.stringify({ description: 'd', evidence: ['lore link'], tree: 'debian:7.2', patches: ['p.patch'], reverts: ['abc123'], cpus: 2, 'hang-timeout': 30, trace: ['mmcid:*'], accel: 'tcg' }), 'scenario t', spec);
    expect(s.description).toBe('d');
    expect(s.evidence).toEqual(['lore link']);
    expect(s.values).toEqual({ tree: 'debian:7.2', patch: ['p.patch'], revert: ['abc123'], cpus: 2, 'hang-timeout': 30, trace: ['mmcid:*'], accel: 'tcg' });
  });

  it('an unknown key is a one-line usage error naming it and the allowed keys', () => {
    let err: { kind?: string; exitCode?: number; message: string } = { message: '' };
    try {
      parseScenario('{"cpus": 2, "cpu": 4}', 'scenario t', spec);
    } catch (e) {
      err = e as typeof err;
    }
    expect(err.kind).toBe('usage');
    expect(err.exitCode).toBe(255);
    expect(err.message).not.toContain('\n');
    expect(err.message).toMatch(/^scenario t: unknown key "cpu"; allowed keys: description, evidence, .*\bcpus\b.*\bhang-timeout\b/);
    expect(() => parseScenario('{"patch": ["a"]}', 'scenario t', spec)).toThrow(/unknown key "patch"; allowed keys: .*\bpatches\b/);
  });

  it('values must have the option\'s type', () => {
    // Sizes, times and counts may be numbers or unit strings ("2G", "2m"); util/units.ts reads them later.
    expect(parseScenario('{"cpus": "4", "memory": "2G", "duration": 90}', 's', spec).values).toEqual({ cpus: '4', memory: '2G', duration: 90 });
    expect(() => parseScenario('{"cpus": [4]}', 's', spec)).toThrow(/"cpus" must be a value/);
    expect(() => parseScenario('{"patches": "a.patch"}', 's', spec)).toThrow(/"patches" must be an array of strings/);
    expect(() => parseScenario('{"accel": "hvf"}', 's', spec)).toThrow(/"accel" must be one of auto, kvm, tcg/);
    expect(() => parseScenario('{"verbose": "yes"}', 's', spec)).toThrow(/"verbose" must be a boolean/);
    expect(() => parseScenario('{"evidence": 3}', 's', spec)).toThrow(/"evidence" must be a string or an array of strings/);
    expect(() => parseScenario('[1]', 's', spec)).toThrow(/must be a JSON object/);
  });

  it('malformed JSON says where', () => {
    expect(() => parseScenario('{\n  "cpus": 4,\n  "memory": 512,,\n}', 'scenario t', spec)).toThrow(/^scenario t: not valid JSON at line 3, column 17 .*fix the file$/);
    // column 14: where the bad value `tru` starts
    expect(() => parseScenario('{\n  "verbose": tru\n}', 's', spec)).toThrow(/^s: not valid JSON at line 2, column 14 \(Unexpected token '\\n'\): fix the file$/);
    expect(() => parseScenario('{"cpus": 4', 's', spec)).toThrow(/at line 1, column 11/);
    expect(jsonErrorOffset('{"a": [1, 2,]}')).toBe(12);
    expect(jsonErrorOffset('{"a": "x\\q"}')).toBe(6); // the string with the bad escape starts there
    expect(jsonErrorOffset('{"a": {"b": null}} x')).toBe(19);
    expect(lineCol('ab\ncd', 4)).toEqual({ line: 2, col: 2 });
  });
});

describe('scenario paths', () => {
  const isFileIn = (files: string[]) => (p: string) => files.includes(p);

  it('patches, file reverts, fragment files and path options are relative to the krepro checkout', () => {
    const files = [join(root, 'patches/x/a.patch'), join(root, 'patches/x/r.patch'), join(root, 'extra.config')];
    const v = resolveScenarioPaths(
      { patch: ['patches/x/a.patch', '/abs/b.patch'], revert: ['patches/x/r.patch', 'v7.0-rc3~2', 'deadbeef'], config: ['extra.config', 'mmcid', 'CONFIG_FOO=y'], tree: 'debian:7.2', kernel: 'out/bzImage', results: '/r' },
      root, 's', (p) => isFileIn(files)(p) || p === '/abs/b.patch',
    );
    expect(v.patch).toEqual([join(root, 'patches/x/a.patch'), '/abs/b.patch']);
    expect(v.revert).toEqual([join(root, 'patches/x/r.patch'), 'v7.0-rc3~2', 'deadbeef']);
    expect(v.config).toEqual([join(root, 'extra.config'), 'mmcid', 'CONFIG_FOO=y']);
    expect(v.tree).toBe('debian:7.2');
    expect(v.kernel).toBe(join(root, 'out/bzImage'));
    expect(v.results).toBe('/r');
    expect(resolveScenarioPaths({ tree: '../linux' }, root, 's', () => false).tree).toBe(join(root, '..', 'linux'));
  });

  it('a missing patch is a usage error naming it; a missing file revert too', () => {
    expect(() => resolveScenarioPaths({ patch: ['patches/x/gone.patch'] }, root, 'scenario t', () => false)).toThrow(/^scenario t: patch patches\/x\/gone\.patch does not exist \(looked for .*patches\/x\/gone\.patch\)/);
    expect(() => resolveScenarioPaths({ revert: ['patches/x/gone.patch'] }, root, 'scenario t', () => false)).toThrow(/revert patches\/x\/gone\.patch does not exist/);
  });

  it('NAME is scenarios/NAME.json in the checkout; a .json or a path is a file', () => {
    expect(scenarioPath('v6.19-vfork-stall', '/k')).toBe('/k/scenarios/v6.19-vfork-stall.json');
    expect(scenarioPath('my.json', '/k', '/cwd')).toBe('/cwd/my.json');
    expect(scenarioPath('d/s', '/k', '/cwd')).toBe('/cwd/d/s');
  });

  it('loadScenario reads, checks, resolves and fingerprints the file', async () => {
    const text = JSON.stringify({ description: 'demo', patches: ['patches/x/a.patch'], cpus: 2 });
    await writeFile(join(root, 'scenarios', 'demo.json'), text);
    const s = await loadScenario('demo', spec, root);
    expect(s).toMatchObject({ name: 'demo', file: join(root, 'scenarios', 'demo.json'), description: 'demo', values: { patch: [join(root, 'patches/x/a.patch')], cpus: 2 } });
    expect(s.sha256).toMatch(/^[0-9a-f]{64}$/);
    await expect(loadScenario('nope', spec, root)).rejects.toThrow(/--scenario nope: no such scenario .*give one of demo or the path of a \.json file/);
    await writeFile(join(root, 'scenarios', 'broken.json'), JSON.stringify({ patches: ['patches/x/missing.patch'] }));
    await expect(loadScenario('broken', spec, root)).rejects.toMatchObject({ kind: 'usage', message: expect.stringMatching(/patch patches\/x\/missing\.patch does not exist/) });
  });

  it('the scenarios shipped in scenarios/ load, their patches exist', async () => {
    const names = (await readdir(join(PROJECT_ROOT, 'scenarios'))).filter((n) => n.endsWith('.json')).map((n) => n.slice(0, -5));
    expect(names).toEqual(expect.arrayContaining(['v6.19-vfork-stall', 'v6.19-vfork-stall-fixed']));
    for (const n of names) {
      const s = await loadScenario(n, spec, PROJECT_ROOT);
      expect(s.description).toBeTruthy();
      for (const p of s.values.patch as string[]) expect(p.startsWith(join(PROJECT_ROOT, 'patches'))).toBe(true);
    }
    const s = await loadScenario('v6.19-vfork-stall', spec, PROJECT_ROOT);
    expect(s.values).toMatchObject({ tree: 'debian:7.2', profile: 'default', cpus: 4, duration: 60 });
    expect((s.values.patch as string[]).map((p) => p.slice(PROJECT_ROOT.length + 1))).toEqual(['patches/7.2/0001-restore-rc3-fixup-walk.patch', 'patches/7.2/mmcid-tracepoints.patch', 'patches/7.2/mmcid-trace-walk-restored.patch']);
  });
});

describe('override rules', () => {
  it('the command line beats the scenario, the scenario beats defaults, arrays replace', () => {
    const argv = { cpus: 2, memory: 1024, duration: 60, patch: ['mine.patch'], config: [], profile: 'default', accel: 'auto' };
    const explicit = explicitOptions(argv, ['cpus', 'memory', 'duration', 'patch', 'config', 'profile', 'accel'], { memory: true, duration: true, config: true, profile: true, accel: true });
    expect([...explicit]).toEqual(['cpus', 'patch']);
    const { set, overridden } = mergeScenario({ cpus: 4, memory: 512, patch: ['a.patch', 'b.patch'], config: ['CONFIG_X=y'], profile: 'debug' }, explicit);
    expect(set).toEqual({ memory: 512, config: ['CONFIG_X=y'], profile: 'debug' });
    expect(overridden).toEqual(['cpus', 'patch']);
  });

  it('without the parser\'s list of defaulted options, a value equal to its default counts as not given', () => {
    expect([...explicitOptions({ cpus: 4, memory: 512, trace: ['x'] }, ['cpus', 'memory', 'trace', 'title'], null, { cpus: 4, memory: 1024 })]).toEqual(['memory', 'trace']);
  });

  it('an option given on the command line drops the scenario\'s options it excludes', () => {
    expect(mergeScenario({ count: 10, signature: 'x' }, new Set(['until'])).set).toEqual({ signature: 'x' });
    expect(mergeScenario({ signature: 'x', cpus: 3 }, new Set(['title'])).set).toEqual({ cpus: 3 });
    expect(mergeScenario({ tree: 'debian:7.2', patch: ['a'], revert: ['b'], profile: 'p', cpus: 3 }, new Set(['kernel'])).set).toEqual({ cpus: 3 });
    expect(mergeScenario({ kernel: '/k/bzImage', cpus: 3 }, new Set(['tree'])).set).toEqual({ cpus: 3 });
  });

  it('through yargs with the real run options: explicit flags win, the rest comes from the scenario, then the defaults', async () => {
    const file = join(root, 'over.json');
    await writeFile(file, JSON.stringify({ description: 'o', cpus: 3, memory: 512, 'hang-timeout': 30, patches: [join(root, 'patches/x/a.patch')], trace: ['a', 'b'], verbose: true, signature: 'sig' }));
    const a = await parseRun(['run', '--scenario', file, '--cpus', '4', '--trace', 'c', '--no-verbose', '--title', 'T', '--patch', '/p/mine.patch']);
    expect(a.cpus).toBe('4');                        // given, even though it equals the default
    expect(a.memory).toBe(512);                      // from the scenario
    expect(a['hang-timeout']).toBe(30);
    expect(a.hangTimeout).toBe(30);
    expect(a.duration).toBeUndefined();              // the default (RUN_DEFAULTS, applied after parsing)
    expect(a.trace).toEqual(['c']);                  // replaced, not appended
    expect(a.patch).toEqual(['/p/mine.patch']);
    expect(a.verbose).toBe(false);
    expect(a.title).toBe('T');
    expect(a.signature).toBeUndefined();             // excluded by --title
    expect(a[SCENARIO_ARG]).toMatchObject({ name: file, file, description: 'o' });
    const b = await parseRun(['run', '--scenario', file]);
    expect(b).toMatchObject({ cpus: 3, memory: 512, patch: [join(root, 'patches/x/a.patch')], verbose: true, signature: 'sig', trace: ['a', 'b'] });
    const c = await parseRun(['run', '--cpus', '2']);
    expect(c[SCENARIO_ARG]).toBeUndefined();
    expect(c.memory).toBeUndefined();
  });
});
