import { describe, expect, it } from 'vitest';
import { debianMirrors, parseDeb822Sources, parseMadison, parseOneLineSources, privateAptConf, privateSources } from '../../src/source/apt.ts';

// What a Debian 12 host carries: deb822 in sources.list.d, sometimes one-line entries too.
const DEB822 = `Types: deb
# http://snapshot.debian.org/archive/debian/20250520T000000Z
URIs: http://deb.debian.org/debian
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: http://deb.debian.org/debian-security
Suites: bookworm-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: https://deb.nodesource.com/node_20.x
Suites: nodistro
Components: main
Enabled: no
`;
const ONE_LINE = `# a comment
deb [arch=amd64 signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://mirror.example.org/debian/ bookworm main contrib
deb-src http://mirror.example.org/debian bookworm main
deb https://packages.cloud.google.com/apt cloud-sdk-bookworm main
`;

describe('the private apt configuration', () => {
  it('reads deb822 stanzas, skipping disabled ones', () => {
    const e = parseDeb822Sources(DEB822);
    expect(e).toHaveLength(2);
    expect(e[0]).toMatchObject({ types: ['deb'], uris: ['http://deb.debian.org/debian'], suites: ['bookworm', 'bookworm-updates'], signedBy: '/usr/share/keyrings/debian-archive-keyring.gpg' });
  });
  it('reads one-line entries with options', () => {
    const e = parseOneLineSources(ONE_LINE);
    expect(e.map((x) => [x.types[0], x.uris[0], x.suites[0]])).toEqual([
      ['deb', 'http://mirror.example.org/debian/', 'bookworm'],
      ['deb-src', 'http://mirror.example.org/debian', 'bookworm'],
      ['deb', 'https://packages.cloud.google.com/apt', 'cloud-sdk-bookworm'],
    ]);
    expect(e[0].signedBy).toBe('/usr/share/keyrings/debian-archive-keyring.gpg');
  });
  it('keeps the host Debian archive mirrors only (not security, not third parties), once each', () => {
    const m = debianMirrors([...parseDeb822Sources(DEB822), ...parseOneLineSources(ONE_LINE)]);
    expect(m).toEqual([
      { uri: 'http://deb.debian.org/debian', signedBy: '/usr/share/keyrings/debian-archive-keyring.gpg' },
      { uri: 'http://mirror.example.org/debian', signedBy: '/usr/share/keyrings/debian-archive-keyring.gpg' },
    ]);
  });
  it('asks the same mirror for the newer suites, with its keyring', () => {
    const text = privateSources([{ uri: 'http://deb.debian.org/debian' }], ['sid', 'trixie-backports']);
    expect(text).toBe('Types: deb\nURIs: http://deb.debian.org/debian\nSuites: sid trixie-backports\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n');
  });
  it('keeps state, lists, archives and sources under its own dir; reads the host dpkg status only', () => {
    const conf = privateAptConf('/c/apt');
    expect(conf).toContain('Dir::State::Lists "/c/apt/state/lists";');
    expect(conf).toContain('Dir::Cache::Archives "/c/apt/cache/archives";');
    expect(conf).toContain('Dir::Etc::SourceList "/dev/null";');
    expect(conf).toContain('Dir::Etc::SourceParts "/c/apt/sources.list.d";');
    expect(conf).toContain('Dir::State::status "/var/lib/dpkg/status";');
    // nothing points into the host's apt state or configuration
    expect(conf).not.toMatch(/"\/etc\/apt|"\/var\/lib\/apt|"\/var\/cache\/apt/);
  });
  it('reads apt-cache madison, newest first, with the suite', () => {
    const v = parseMadison(` linux-source-7.2 |   7.2.13-1 | http://deb.debian.org/debian sid/main amd64 Packages
 linux-source-7.2 | 7.2.12-1~bpo13+1 | http://deb.debian.org/debian trixie-backports/main amd64 Packages
`);
    expect(v).toEqual([{ version: '7.2.13-1', suite: 'sid' }, { version: '7.2.12-1~bpo13+1', suite: 'trixie-backports' }]);
  });
});
