import t from 'tap';
import { compareVersions, familyOf, parseVersionTag } from '../../lib/image/version.ts';

t.test(
  'when tags of real-world shapes are parsed then prefix, components, prerelease, variant and revision split right',
  async (t) => {
    const rows: [string, Record<string, unknown> | undefined][] = [
      ['1.2.3', { prefix: '', components: ['1', '2', '3'], variant: '' }],
      ['v1.2.3', { prefix: 'v', components: ['1', '2', '3'], variant: '' }],
      ['3.2.1-alpine', { prefix: '', components: ['3', '2', '1'], variant: '-alpine' }],
      ['1.21.0-alpine3.16', { prefix: '', components: ['1', '21', '0'], variant: '-alpine3.16' }],
      ['2024.05.01-r3', { prefix: '', components: ['2024', '5', '1'], variant: '', revision: 3 }],
      ['1.2.3-rc.1', { components: ['1', '2', '3'], prerelease: 'rc.1', variant: '' }],
      ['1.2.3-beta2-alpine', { components: ['1', '2', '3'], prerelease: 'beta2', variant: '-alpine' }],
      ['15.4-debian-12-r5', { components: ['15', '4'], variant: '-debian-12', revision: 5 }],
      ['alpine3.16-1.2', { prefix: 'alpine3.16-', components: ['1', '2'], variant: '' }],
      ['release-2.0', { prefix: 'release-', components: ['2', '0'] }],
      ['1.2.3-musl', { components: ['1', '2', '3'], variant: '-musl' }],
      ['latest', undefined],
      ['main', undefined],
      ['sha-3f2a9c1', undefined],
      ['1.2.3a', undefined],
    ];
    t.equal(rows.length, 15);
    for (const [tag, want] of rows) {
      const got = parseVersionTag(tag);
      if (want === undefined) t.equal(got, undefined, `${tag} is not a version`);
      else t.match(got, want, tag);
    }
  },
);

t.test(
  'when versions are compared then components are numbers, prereleases sort below releases, revisions last',
  async (t) => {
    const ascending = [
      '1.2.3-alpha',
      '1.2.3-alpha.2',
      '1.2.3-alpha.10',
      '1.2.3-beta',
      '1.2.3-rc.1',
      '1.2.3',
      '1.2.3-r1',
      '1.2.3-r10',
      '1.2.9',
      '1.2.10',
      '1.10.0',
      '10.0.0',
    ];
    const parsed = ascending.map((s) => parseVersionTag(s));
    t.equal(parsed.filter(Boolean).length, ascending.length);
    for (let i = 1; i < parsed.length; i++) {
      const a = parsed[i - 1];
      const b = parsed[i];
      if (!a || !b) throw new Error('unparsed');
      t.equal(compareVersions(a, b), -1, `${a.tag} < ${b.tag}`);
      t.equal(compareVersions(b, a), 1, `${b.tag} > ${a.tag}`);
    }
    const [x, y] = ['3.9', '3.10'].map((s) => parseVersionTag(s));
    if (!x || !y) throw new Error('unparsed');
    t.equal(compareVersions(x, y), -1, '3.9 < 3.10 (numeric, not string order)');
    const [big, bigger] = ['20240501235959123', '20240501235959124'].map((s) => parseVersionTag(s));
    if (!big || !bigger) throw new Error('unparsed');
    t.equal(compareVersions(big, bigger), -1, 'components beyond 2^53 still compare exactly');
  },
);

t.test('when families are compared then prefix, variant and number of components all count', async (t) => {
  const fam = (s: string) => {
    const v = parseVersionTag(s);
    if (!v) throw new Error(`${s} unparsed`);
    return familyOf(v);
  };
  t.equal(fam('3.2.1-alpine'), fam('3.3.0-alpine'));
  t.not(fam('3.2.1-alpine'), fam('3.3.0'));
  t.not(fam('v1.2.3'), fam('1.2.3'));
  t.not(fam('1.21.0'), fam('1.22'));
  t.equal(fam('1.2.3-rc.1'), fam('1.2.3'), 'a prerelease is of its release family');
});
