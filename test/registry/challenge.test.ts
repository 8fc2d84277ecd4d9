import t from 'tap';
import { type Challenge, parseWWWAuthenticate, preferredChallenge } from '../../lib/registry/challenge.ts';

const cases: Array<[string, string, Challenge[]]> = [
  [
    'Docker Hub bearer',
    'Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/nginx:pull"',
    [
      {
        scheme: 'bearer',
        params: {
          realm: 'https://auth.docker.io/token',
          service: 'registry.docker.io',
          scope: 'repository:library/nginx:pull',
        },
      },
    ],
  ],
  [
    'a quoted scope with a comma',
    'Bearer realm="https://r/token",scope="repository:a:pull,push",service="svc"',
    [
      {
        scheme: 'bearer',
        params: { realm: 'https://r/token', scope: 'repository:a:pull,push', service: 'svc' },
      },
    ],
  ],
  ['basic', 'Basic realm="Registry Realm"', [{ scheme: 'basic', params: { realm: 'Registry Realm' } }]],
  [
    'case-insensitive scheme and param names, case-preserved values',
    'BEARER Realm="https://Auth.Example.com/Token",SERVICE="Reg"',
    [{ scheme: 'bearer', params: { realm: 'https://Auth.Example.com/Token', service: 'Reg' } }],
  ],
  [
    'escaped quotes and backslashes in a quoted string',
    'Basic realm="say \\"hi\\" \\\\ there"',
    [{ scheme: 'basic', params: { realm: 'say "hi" \\ there' } }],
  ],
  [
    'two challenges in one header',
    'Basic realm="r1", Bearer realm="https://t/token",service="s"',
    [
      { scheme: 'basic', params: { realm: 'r1' } },
      { scheme: 'bearer', params: { realm: 'https://t/token', service: 's' } },
    ],
  ],
  [
    'a challenge with no params followed by another',
    'Negotiate, Basic realm="x"',
    [
      { scheme: 'negotiate', params: {} },
      { scheme: 'basic', params: { realm: 'x' } },
    ],
  ],
  [
    'token68',
    'Negotiate abc+/def==, Basic realm=x',
    [
      { scheme: 'negotiate', params: {}, token68: 'abc+/def==' },
      { scheme: 'basic', params: { realm: 'x' } },
    ],
  ],
  [
    'white space around = and between params',
    'Bearer  realm = "https://r/t" ,  service = s ',
    [{ scheme: 'bearer', params: { realm: 'https://r/t', service: 's' } }],
  ],
  [
    'an unquoted URL realm (sent by some registries)',
    'Bearer realm=https://r.example.com/token?x=1,service=svc',
    [{ scheme: 'bearer', params: { realm: 'https://r.example.com/token?x=1', service: 'svc' } }],
  ],
  [
    'a repeated param keeps the first value',
    'Bearer realm="https://good/t",realm="https://evil/t"',
    [{ scheme: 'bearer', params: { realm: 'https://good/t' } }],
  ],
  [
    'an unterminated quoted string',
    'Bearer realm="https://r/t',
    [{ scheme: 'bearer', params: { realm: 'https://r/t' } }],
  ],
  ['an empty header', '', []],
  ['only separators', ' , ,, ', []],
  [
    'a scope with several space-separated scopes',
    'Bearer realm="https://r/t",scope="repository:a:pull repository:b:pull"',
    [{ scheme: 'bearer', params: { realm: 'https://r/t', scope: 'repository:a:pull repository:b:pull' } }],
  ],
  [
    'an empty quoted value',
    'Bearer realm="",service="s"',
    [{ scheme: 'bearer', params: { realm: '', service: 's' } }],
  ],
];

for (const [name, header, want] of cases) {
  t.test(`when the header is ${name} then every challenge is read`, async (t) => {
    t.strictSame(parseWWWAuthenticate(header), want);
  });
}

t.test('when both Basic and Bearer are offered then Bearer is preferred', async (t) => {
  const c = preferredChallenge(parseWWWAuthenticate('Basic realm="a", Bearer realm="https://b/t"'));
  t.equal(c?.scheme, 'bearer');
  t.equal(c?.params.realm, 'https://b/t');
});

t.test('when only an unknown scheme is offered then there is nothing to answer', async (t) => {
  t.equal(preferredChallenge(parseWWWAuthenticate('Negotiate abc')), undefined);
  t.equal(preferredChallenge(parseWWWAuthenticate('Basic realm=x'))?.scheme, 'basic');
});

t.test('when the input is not a string then no challenge is returned', async (t) => {
  t.same(parseWWWAuthenticate(undefined as unknown as string), []);
});

t.test('when a param is named __proto__ then the params object is not polluted', async (t) => {
  const [c] = parseWWWAuthenticate('Bearer __proto__="x",realm="r"');
  t.equal(c?.params.realm, 'r');
  t.equal(Object.getPrototypeOf(c?.params), Object.prototype);
});
