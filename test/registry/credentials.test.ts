import { inspect } from 'node:util';
import t from 'tap';
import { parseImageReference } from '../../lib/image/reference.ts';
import {
  Credential,
  globMatch,
  Keyring,
  keyringFromSecrets,
  parseDockerConfig,
  type SecretLike,
} from '../../lib/registry/credentials.ts';

const b64 = (s: string) => Buffer.from(s).toString('base64');
const SECRET = 'hunter2-very-secret';

function cred(rawKey: string, username = 'u', password = SECRET): Credential {
  return new Credential({ rawKey, source: 'test', username, password });
}

t.test('key normalisation', async (t) => {
  const cases: Array<[string, string]> = [
    ['https://index.docker.io/v1/', 'index.docker.io'],
    ['index.docker.io', 'index.docker.io'],
    ['http://registry.example.com:5000/v2/', 'registry.example.com:5000'],
    ['registry.example.com:5000', 'registry.example.com:5000'],
    ['quay.io/coreos', 'quay.io/coreos'],
    ['https://quay.io/v2/coreos/etcd', 'quay.io/coreos/etcd'],
    ['HTTPS://GHCR.IO/', 'ghcr.io'],
    ['*.example.com', '*.example.com'],
    ['https://user@host.example.com/v1/', 'host.example.com'],
  ];
  for (const [raw, key] of cases) {
    t.equal(cred(raw).key, key, `${raw} → ${key}`);
  }
});

t.test('when matching keys against images then kubelet rules apply', async (t) => {
  const cases: Array<[string, string, string, boolean]> = [
    ['an exact host', 'registry.example.com', 'registry.example.com/app:1', true],
    ['another host', 'registry.example.com', 'other.example.com/app', false],
    ['a glob per dot-part', '*.example.com', 'registry.example.com/app', true],
    ['a glob does not span dots', '*.example.com', 'a.b.example.com/app', false],
    ['a glob needs the same number of parts', '*.example.com', 'example.com/app', false],
    ['a glob in the middle', 'registry.*.com', 'registry.example.com/app', true],
    // kubelet parses keys as URLs: '?' starts a query, so it cannot be a glob in a host.
    ['a question mark ends the host as in a URL', 'reg?.io', 'reg1.io/app', false],
    ['a character class', 'reg[0-9].io', 'reg7.io/app', true],
    ['a character class miss', 'reg[0-9].io', 'regx.io/app', false],
    ['equal ports', 'registry.example.com:5000', 'registry.example.com:5000/app', true],
    ['a key with a port vs an image without', 'registry.example.com:5000', 'registry.example.com/app', false],
    [
      'a key without a port vs an image with one',
      'registry.example.com',
      'registry.example.com:5000/app',
      false,
    ],
    ['other ports', 'registry.example.com:5000', 'registry.example.com:5001/app', false],
    ['a path prefix', 'quay.io/coreos', 'quay.io/coreos/etcd', true],
    ['a path that is not a prefix', 'quay.io/coreos', 'quay.io/other/etcd', false],
    ['a glob with a port', '*.example.com:5000', 'r.example.com:5000/app', true],
    ['a loopback host with a port', '127.0.0.1:5000', '127.0.0.1:5000/app', true],
    ['a loopback host on another port', '127.0.0.1:5000', '127.0.0.1:5001/app', false],
    ['Hub via index.docker.io/v1/', 'https://index.docker.io/v1/', 'nginx', true],
    ['Hub via docker.io', 'docker.io', 'myorg/app', true],
    ['Hub via registry-1.docker.io', 'registry-1.docker.io', 'docker.io/library/nginx', true],
    ['Hub key with a path prefix', 'docker.io/myorg', 'myorg/app', true],
    ['Hub key with another org', 'docker.io/myorg', 'otherorg/app', false],
    ['a Hub key never matches another registry', 'index.docker.io', 'ghcr.io/org/app', false],
    ['a registry key never matches Hub', 'ghcr.io', 'nginx', false],
  ];
  for (const [name, key, image, want] of cases) {
    t.equal(cred(key).matches(parseImageReference(image)), want, `${name}: ${key} vs ${image}`);
    t.equal(
      new Keyring([cred(key)]).lookup(parseImageReference(image)).length,
      want ? 1 : 0,
      `${name} (keyring)`,
    );
  }
});

t.test('when several keys match then the most specific comes first', async (t) => {
  const ring = new Keyring([
    cred('quay.io', 'host'),
    cred('*.quay.io', 'glob'),
    cred('quay.io/coreos', 'path'),
    cred('quay.io/coreos/etcd', 'deeper-path'),
    cred('quay.io', 'host-second'),
    cred('ghcr.io', 'unrelated'),
  ]);
  t.same(
    ring.lookup(parseImageReference('quay.io/coreos/etcd:3')).map((c) => c.username),
    ['deeper-path', 'path', 'host', 'host-second'],
  );
  const globs = new Keyring([cred('*.example.com', 'glob'), cred('a.example.com', 'exact')]);
  t.same(
    globs.lookup(parseImageReference('a.example.com/x')).map((c) => c.username),
    ['exact', 'glob'],
  );
});

t.test('when no key matches then lookup is empty (pull anonymously)', async (t) => {
  t.same(new Keyring([cred('ghcr.io')]).lookup(parseImageReference('quay.io/a/b')), []);
  t.same(new Keyring([]).lookup(parseImageReference('nginx')), []);
});

t.test('parseDockerConfig reads both formats and every entry field', async (t) => {
  const warnings: string[] = [];
  const entries = parseDockerConfig(
    {
      auths: {
        'https://index.docker.io/v1/': { auth: b64(`alice:${SECRET}`) },
        'ghcr.io': { username: 'bob', password: 'pw:with:colons' },
        'acr.example.io': { identitytoken: 'refresh-me' },
        'reg.example.io': { registrytoken: 'bearer-me' },
        'both.example.io': { username: 'ignored', password: 'ignored', auth: b64('winner:pw') },
      },
      credsStore: 'desktop',
    },
    'file',
    warnings,
  );
  t.same(warnings, []);
  t.same(
    entries.map((e) => [e.key, e.username]),
    [
      ['index.docker.io', 'alice'],
      ['ghcr.io', 'bob'],
      ['acr.example.io', undefined],
      ['reg.example.io', undefined],
      ['both.example.io', 'winner'],
    ],
  );
  t.equal(entries[0]?.basicAuthorization(), `Basic ${b64(`alice:${SECRET}`)}`);
  t.equal(entries[1]?.basicAuthorization(), `Basic ${b64('bob:pw:with:colons')}`);
  t.equal(entries[2]?.identityToken(), 'refresh-me');
  t.equal(entries[2]?.basicAuthorization(), undefined);
  t.equal(entries[3]?.registryToken(), 'bearer-me');

  const legacy = parseDockerConfig({ 'https://quay.io': { auth: b64('q:p'), email: 'x@y' } }, 'dockercfg');
  t.same(
    legacy.map((e) => [e.key, e.username]),
    [['quay.io', 'q']],
  );
});

t.test(
  'when docker config entries are unusable then they are skipped with a warning naming no secret',
  async (t) => {
    const warnings: string[] = [];
    const entries = parseDockerConfig(
      {
        auths: {
          'bad-b64.io': { auth: '!!!not base64!!!' },
          'no-colon.io': { auth: b64(`nocolon${SECRET}`) },
          'empty.io': {},
          'string.io': 'oops',
          'good.io': { username: 'u', password: SECRET },
        },
      },
      'secret ns/s',
      warnings,
    );
    t.same(
      entries.map((e) => e.key),
      ['good.io'],
    );
    t.equal(warnings.length, 4);
    for (const w of warnings) {
      t.match(w, /^secret ns\/s entry/);
      t.notMatch(w, SECRET);
    }
    const w2: string[] = [];
    t.same(parseDockerConfig('nope', 'x', w2), []);
    t.same(parseDockerConfig({ auths: 'nope' }, 'x', w2), []);
    t.equal(w2.length, 2);
  },
);

t.test('keyringFromSecrets reads dockerconfigjson and dockercfg secrets and reports the rest', async (t) => {
  const secrets: SecretLike[] = [
    {
      metadata: { name: 'json', namespace: 'ns' },
      type: 'kubernetes.io/dockerconfigjson',
      data: {
        '.dockerconfigjson': b64(JSON.stringify({ auths: { 'reg.io': { auth: b64(`a:${SECRET}`) } } })),
      },
    },
    {
      metadata: { name: 'cfg', namespace: 'ns' },
      type: 'kubernetes.io/dockercfg',
      data: { '.dockercfg': b64(JSON.stringify({ 'reg.io': { auth: b64('b:pw') } })) },
    },
    { metadata: { name: 'opaque', namespace: 'ns' }, type: 'Opaque', data: { x: b64('y') } },
    { metadata: { name: 'nodata', namespace: 'ns' }, type: 'kubernetes.io/dockerconfigjson' },
    {
      metadata: { name: 'notjson', namespace: 'ns' },
      type: 'kubernetes.io/dockerconfigjson',
      data: { '.dockerconfigjson': b64(`{"auths": ${SECRET}`) },
    },
    {
      metadata: { name: 'notb64', namespace: 'ns' },
      type: 'kubernetes.io/dockerconfigjson',
      data: { '.dockerconfigjson': '%%%' },
    },
  ];
  const { keyring, warnings } = keyringFromSecrets(secrets);
  const found = keyring.lookup(parseImageReference('reg.io/app'));
  t.same(
    found.map((c) => [c.username, c.source]),
    [
      ['a', 'secret ns/json'],
      ['b', 'secret ns/cfg'],
    ],
    'pod secrets in order',
  );
  t.equal(warnings.length, 4);
  t.match(warnings.join('\n'), /secret ns\/opaque: type "Opaque"/);
  t.match(warnings.join('\n'), /secret ns\/notjson: .dockerconfigjson is not valid JSON/);
  t.notMatch(warnings.join('\n'), SECRET);
});

t.test('when a credential is logged or serialised then the secret never appears', async (t) => {
  const c = new Credential({
    rawKey: 'reg.io',
    source: 'secret ns/s',
    username: 'u',
    password: SECRET,
    identityToken: `${SECRET}-id`,
    registryToken: `${SECRET}-reg`,
  });
  const ring = new Keyring([c]);
  const renderings = [
    JSON.stringify(c),
    JSON.stringify({ nested: [c] }),
    JSON.stringify(ring),
    inspect(c, { depth: 10, showHidden: true, getters: true }),
    inspect(ring, { depth: 10, showHidden: true }),
    String(c),
    `${c}`,
    JSON.stringify({ ...c }),
    Object.keys(c).join(','),
  ];
  for (const r of renderings) t.notMatch(r, SECRET, r);
  t.match(JSON.stringify(c), /"password":"\[redacted\]"/);
  t.match(inspect(c), /reg\.io/);
  t.equal(c.basicAuthorization(), `Basic ${b64(`u:${SECRET}`)}`, 'the secret is still usable deliberately');
});

t.test('credential identity tells secrets apart without revealing them', async (t) => {
  const a = cred('reg.io', 'u', 'one');
  t.equal(a.identity, cred('reg.io', 'u', 'one').identity);
  t.not(a.identity, cred('reg.io', 'u', 'two').identity);
  t.not(a.identity, cred('other.io', 'u', 'one').identity);
  t.notMatch(a.identity, /one/);
});

t.test('globMatch follows filepath.Match for one host part', async (t) => {
  t.ok(globMatch('*', 'anything'));
  t.ok(globMatch('a*c', 'abbc'));
  t.ok(globMatch('a?c', 'abc'));
  t.notOk(globMatch('a?c', 'abbc'));
  t.notOk(globMatch('a*c', 'abbd'));
  t.ok(globMatch('[^a]bc', 'xbc'));
  t.notOk(globMatch('[^a]bc', 'abc'));
  t.ok(globMatch('\\*', '*'));
  t.notOk(globMatch('\\*', 'x'));
  t.notOk(globMatch('[', '['), 'a malformed pattern matches nothing');
  t.ok(globMatch('a.b', 'a.b'));
  t.notOk(globMatch('a.b', 'axb'), 'a literal dot is not a regexp wildcard');
});
