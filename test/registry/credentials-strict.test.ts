// Pull-secret parsing like the kubelet (strict base64 for `auth`) and keys with userinfo kept out of every message.

import { Writable } from 'node:stream';
import t from 'tap';
import { parseImageReference } from '../../lib/image/reference.ts';
import {
  type Credential,
  decodeBase64,
  describeKey,
  keyringFromSecrets,
  parseDockerConfig,
} from '../../lib/registry/credentials.ts';
import { createLogger } from '../../lib/shared/log.ts';

const b64 = (s: string) => Buffer.from(s).toString('base64');
const PASSWORD = 'Pa55-in-the-key';

t.test('when `auth` is strict base64 (CR/LF allowed) then the entry is used', async (t) => {
  const value = b64('alice:pw-with-some-length'); // 36 characters
  for (const [name, auth] of [
    ['plain', value],
    ['with CRLF line breaks', `${value.slice(0, 12)}\r\n${value.slice(12)}\n`],
  ] as const) {
    const warnings: string[] = [];
    const entries = parseDockerConfig({ auths: { 'reg.io': { auth } } }, 'secret ns/regcred', warnings);
    t.same(warnings, [], name);
    t.equal(entries.length, 1, name);
    t.equal(entries[0]?.username, 'alice', name);
  }
});

t.test(
  'when `auth` is not strict base64 then the entry is unusable, named by secret, never by value',
  async (t) => {
    const value = b64(`alice:${PASSWORD}`);
    const bad: Array<[string, string]> = [
      ['an inner space', `${value.slice(0, 8)} ${value.slice(8)}`],
      ['a tab', `${value}\t`],
      ['a leading space', ` ${value}`],
      ['the URL-safe alphabet', b64('a:\u00fb\u00ff\u00fe').replace(/\+/g, '-').replace(/\//g, '_')],
      ['missing padding', b64('u:pw1').replace(/=+$/, '')],
      ['padding in the middle', `${b64('u:pw')}${b64('u:pw')}`],
    ];
    for (const [name, auth] of bad) {
      t.equal(decodeBase64(auth), undefined, `${name}: not base64`);
      const warnings: string[] = [];
      const entries = parseDockerConfig({ auths: { 'reg.io': { auth } } }, 'secret shop/regcred', warnings);
      t.same(entries, [], `${name}: no credential`);
      t.equal(warnings.length, 1, `${name}: one warning`);
      t.match(
        warnings[0],
        /^secret shop\/regcred entry "reg\.io": "auth" is not base64 of user:password: ignored$/,
      );
      t.notMatch(warnings[0], auth.trim(), `${name}: the value is not in the warning`);
    }
  },
);

t.test(
  'when a secret holds a non-strict `auth` then keyringFromSecrets warns with the secret name',
  async (t) => {
    const config = { auths: { 'reg.io': { auth: ` ${b64(`u:${PASSWORD}`)}` } } };
    const { keyring, warnings } = keyringFromSecrets([
      {
        metadata: { name: 'regcred', namespace: 'shop' },
        type: 'kubernetes.io/dockerconfigjson',
        data: { '.dockerconfigjson': b64(JSON.stringify(config)) },
      },
    ]);
    t.equal(keyring.size, 0);
    t.same(warnings, ['secret shop/regcred entry "reg.io": "auth" is not base64 of user:password: ignored']);
  },
);

t.test('when a docker config key carries userinfo then no message repeats it', async (t) => {
  t.equal(describeKey(`https://bob:${PASSWORD}@reg.io/v1/`), '"https://[redacted]@reg.io/v1/"');
  t.equal(describeKey(`bob:${PASSWORD}@reg.io`), '"[redacted]@reg.io"');
  t.equal(
    describeKey(`https://bob:pa/ss${PASSWORD}@reg.io`),
    '"https://[redacted]@reg.io"',
    "a '/' in the password",
  );
  t.equal(describeKey(`reg.io/v2/?token=${PASSWORD}`), '"reg.io/v2/?[redacted]"');
  t.equal(describeKey('reg.io:5000/team'), '"reg.io:5000/team"', 'a plain key is shown as written');

  const warnings: string[] = [];
  const entries = parseDockerConfig(
    {
      auths: {
        [`https://bob:${PASSWORD}@bad.io`]: { auth: '%%%' },
        [`https://bob:${PASSWORD}@empty.io`]: {},
        [`https://bob:pa/ss${PASSWORD}@slash.io`]: { username: 'u', password: 'p' },
        [`https://bob:${PASSWORD}@good.io/v1/`]: { username: 'u', password: 'p' },
      },
    },
    'secret shop/regcred',
    warnings,
  );
  t.equal(warnings.length, 3);
  for (const w of warnings) t.notMatch(w, PASSWORD);
  t.match(
    warnings[2],
    /slash\.io"?: not a registry host: ignored/,
    "a key whose userinfo holds a '/' is rejected",
  );
  t.equal(entries.length, 1);
  const good = entries[0] as Credential;
  t.equal(good.key, 'good.io', 'the key used for matching and messages has no userinfo');
  t.ok(good.matches(parseImageReference('good.io/app')));
  t.notMatch(`${good} ${JSON.stringify(good)}`, PASSWORD);
});

t.test('when the logger is given a URL with userinfo then the output carries no password', async (t) => {
  const chunks: string[] = [];
  const stream = new Writable({
    write(chunk, _enc, cb) {
      chunks.push(String(chunk));
      cb();
    },
  });
  const log = await createLogger({ level: 'debug', format: 'json', stream });
  const url = `https://bob:${PASSWORD}@reg.io/v1/`;
  log.warn({ key: url, nested: { registry: url, list: [url] } }, `docker config key ${url} ignored`);
  log.info(`format arg %s`, url);
  log.child({ endpoint: url }).child({ pod: 'shop/web' }).debug('grandchild bindings');
  const out = chunks.join('');
  t.equal(out.split('\n').filter(Boolean).length, 3, 'three lines');
  const last = JSON.parse(out.trim().split('\n').at(-1) as string);
  t.same(
    [last.app, last.endpoint, last.pod],
    ['k8s-auto-updater', 'https://[redacted]@reg.io/v1/', 'shop/web'],
    'bindings kept, scrubbed',
  );
  t.equal(out.match(/"endpoint"/g)?.length, 1, 'the raw binding is gone, not shadowed');
  t.notMatch(out, PASSWORD);
  t.notMatch(out, 'bob:');
  t.match(out, 'https://[redacted]@reg.io/v1/', 'the rest of the URL stays readable');
});
