// Seeded fuzzing of everything that reads untrusted input: image references, WWW-Authenticate headers, docker
// configs and pull secrets, and whole registry answers from a local server that says random things. The bar: no
// crash, no unhandled rejection, and every registry result is a well-formed Resolution.

import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import t from 'tap';
import { digestOf, isDigest } from '../../lib/image/digest.ts';
import { InvalidReferenceError, parseImageReference } from '../../lib/image/reference.ts';
import { parseWWWAuthenticate } from '../../lib/registry/challenge.ts';
import { RegistryClient } from '../../lib/registry/client.ts';
import {
  Credential,
  Keyring,
  keyringFromSecrets,
  parseDockerConfig,
} from '../../lib/registry/credentials.ts';
import type { ChildrenResult, Resolution } from '../../lib/registry/resolution.ts';
import { DigestResolver } from '../../lib/registry/resolver.ts';

const SEED = Number(process.env.FUZZ_SEED ?? 20261121);

/** mulberry32: small, seeded, good enough to vary inputs reproducibly. */
function rng(seed: number) {
  let a = seed >>> 0;
  const next = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let x = Math.imul(a ^ (a >>> 15), 1 | a);
    x = (x + Math.imul(x ^ (x >>> 7), 61 | x)) ^ x;
    return ((x ^ (x >>> 14)) >>> 0) / 4294967296;
  };
  const int = (n: number) => Math.floor(next() * n);
  const pick = <T>(xs: readonly T[]): T => xs[int(xs.length)] as T;
  const str = (alphabet: string, max: number) =>
    Array.from({ length: int(max + 1) }, () => alphabet[int(alphabet.length)]).join('');
  return { next, int, pick, str };
}

const unhandled: unknown[] = [];
const onUnhandled = (e: unknown) => unhandled.push(e);
process.on('unhandledRejection', onUnhandled);
t.teardown(() => {
  process.off('unhandledRejection', onUnhandled);
});

t.test(
  'random image references either parse consistently or are rejected with InvalidReferenceError',
  async (t) => {
    const r = rng(SEED);
    const parts = [
      'nginx',
      'a',
      'localhost',
      'Reg.IO',
      'ghcr.io',
      '127.0.0.1',
      '[::1]',
      'x-y',
      'a__b',
      'a.b',
      'UP',
    ];
    const seps = ['/', ':', '@', '.', '-', '_', '__', '', ':5000/', `@sha256:${'a'.repeat(64)}`];
    let parsed = 0;
    for (let i = 0; i < 3000; i++) {
      const s =
        r.next() < 0.5
          ? Array.from({ length: 1 + r.int(5) }, () => r.pick(parts) + r.pick(seps)).join('')
          : r.str('abcAZ09:/@._-[]%+ ', 40);
      let ref: ReturnType<typeof parseImageReference>;
      try {
        ref = parseImageReference(s);
      } catch (err) {
        if (!(err instanceof InvalidReferenceError)) t.fail(`${JSON.stringify(s)} threw ${err}`);
        continue;
      }
      parsed++;
      const again = parseImageReference(ref.canonical);
      if (
        again.registry !== ref.registry ||
        again.repository !== ref.repository ||
        again.tag !== ref.tag ||
        again.digest !== ref.digest
      ) {
        t.fail(`${JSON.stringify(s)}: canonical ${ref.canonical} reparses differently`);
      }
      const viaFamiliar = parseImageReference(ref.familiar);
      if (viaFamiliar.canonical !== ref.canonical) t.fail(`${JSON.stringify(s)}: familiar form drifts`);
    }
    t.ok(parsed > 30, `${parsed} of 3000 parsed (the generator reaches valid references)`);
  },
);

t.test('random WWW-Authenticate headers never crash the parser', async (t) => {
  const r = rng(SEED + 1);
  const atoms = [
    'Bearer',
    'Basic',
    'realm',
    'service',
    'scope',
    '=',
    '"',
    '\\',
    ',',
    ' ',
    'https://a/b',
    'x:y,z',
    '==',
  ];
  for (let i = 0; i < 3000; i++) {
    const h =
      r.next() < 0.5
        ? Array.from({ length: r.int(12) }, () => r.pick(atoms)).join('')
        : r.str('Bb aer="\\,=:/x\t', 60);
    const cs = parseWWWAuthenticate(h);
    for (const c of cs) {
      if (typeof c.scheme !== 'string' || c.scheme === '' || c.scheme !== c.scheme.toLowerCase()) {
        t.fail(`bad scheme from ${JSON.stringify(h)}`);
      }
      for (const [k, v] of Object.entries(c.params)) {
        if (k !== k.toLowerCase() || typeof v !== 'string') t.fail(`bad param from ${JSON.stringify(h)}`);
      }
    }
  }
  t.pass('3000 headers parsed');
});

t.test('random docker configs and secrets never throw and never leak into warnings', async (t) => {
  const r = rng(SEED + 2);
  const SECRET = 'fuzz-secret-value';
  const randomValue = (depth: number): unknown => {
    switch (r.int(depth > 2 ? 5 : 7)) {
      case 0:
        return r.str('abc:=+/', 12);
      case 1:
        return r.int(100);
      case 2:
        return null;
      case 3:
        return Buffer.from(`${r.str('ab', 3)}:${SECRET}`).toString('base64');
      case 4:
        return r.next() < 0.5;
      case 5:
        return Array.from({ length: r.int(3) }, () => randomValue(depth + 1));
      default: {
        const o: Record<string, unknown> = {};
        for (let i = r.int(4); i > 0; i--) {
          o[
            r.pick(['auth', 'username', 'password', 'identitytoken', 'registrytoken', 'auths', 'reg.io', 'x'])
          ] = randomValue(depth + 1);
        }
        return o;
      }
    }
  };
  for (let i = 0; i < 1500; i++) {
    const warnings: string[] = [];
    const entries = parseDockerConfig(randomValue(0), 'fuzz', warnings);
    const ring = new Keyring(entries);
    ring.lookup(parseImageReference('reg.io/app'));
    const secret = {
      metadata: { name: 's', namespace: 'n' },
      type: r.pick(['kubernetes.io/dockerconfigjson', 'kubernetes.io/dockercfg', 'Opaque', undefined]),
      data: {
        [r.pick(['.dockerconfigjson', '.dockercfg'])]:
          r.next() < 0.7
            ? Buffer.from(JSON.stringify(randomValue(0)) ?? 'x').toString('base64')
            : r.str('%$ab', 10),
      },
    };
    const built = keyringFromSecrets([secret as never]);
    for (const w of [...warnings, ...built.warnings]) if (w.includes(SECRET)) t.fail(`warning leaks: ${w}`);
  }
  t.same(keyringFromSecrets(null as never).warnings, []);
  t.pass('1500 configs');
});

// ---- random registry answers ----------------------------------------------------------------------------------

const KINDS = new Set([
  'unauthorized',
  'not-found',
  'unsupported-manifest',
  'invalid-manifest',
  'invalid-challenge',
  'redirect-refused',
  'manifest-too-large',
  'rate-limited',
  'unreachable',
  'protocol',
]);

function resolutionProblem(x: Resolution | ChildrenResult): string | undefined {
  if (typeof x !== 'object' || x === null) return 'not an object';
  if (x.ok === true) {
    if ('digest' in x) {
      if (!isDigest(x.digest)) return `bad digest ${x.digest}`;
      if (typeof x.mediaType !== 'string') return 'mediaType';
    }
    if (!Array.isArray(x.children) || !x.children.every(isDigest)) return 'children';
    return undefined;
  }
  if (x.ok !== false) return 'ok flag';
  if (!KINDS.has(x.kind)) return `kind ${x.kind}`;
  if (typeof x.retryable !== 'boolean') return 'retryable';
  if (typeof x.message !== 'string' || x.message === '') return 'message';
  if (x.status !== undefined && !Number.isInteger(x.status)) return 'status';
  if (x.retryAfterSeconds !== undefined && !(x.retryAfterSeconds >= 0)) return 'retryAfterSeconds';
  return undefined;
}

t.test('random registry answers always give a well-formed Resolution', async (t) => {
  const r = rng(SEED + 3);
  const validManifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.index.v1+json',
      manifests: [{ digest: `sha256:${'e'.repeat(64)}` }, { digest: 'junk' }],
    }),
  );
  const bodies = [
    Buffer.alloc(0),
    validManifest,
    Buffer.from('{"token":"t0k","expires_in":1}'),
    Buffer.from('{"access_token":"a","issued_at":"garbage"}'),
    Buffer.from('{"errors":[{"code":"DENIED"}]}'),
    Buffer.from('not json'),
    Buffer.from('{"schemaVersion":2,"manifests":"x"}'),
    Buffer.from([0, 255, 1, 2]),
  ];
  let origin = '';
  const handle = (req: IncomingMessage, res: ServerResponse) => {
    const roll = r.next();
    if (roll < 0.05) {
      (req.socket as Socket).destroy();
      return;
    }
    const status = r.pick([200, 200, 200, 401, 403, 404, 429, 500, 503, 301, 307, 400, 204, 418, 999]);
    const headers: Record<string, string> = {};
    if (r.next() < 0.5) {
      headers['docker-content-digest'] = r.pick([
        digestOf(validManifest),
        'sha256:zz',
        '',
        `sha512:${'f'.repeat(128)}`,
        'nonsense',
      ]);
    }
    if (r.next() < 0.5) {
      headers['content-type'] = r.pick([
        'application/vnd.oci.image.index.v1+json',
        'application/vnd.docker.distribution.manifest.v1+prettyjws',
        'text/html; charset=utf-8',
        '',
      ]);
    }
    if (status === 401 || r.next() < 0.1) {
      headers['www-authenticate'] = r.pick([
        `Bearer realm="${origin}/token",service="s"`,
        `Bearer realm="${origin}/token?x=1",scope="repository:x:pull,push"`,
        'Basic realm="r"',
        'Bearer service="no-realm"',
        'Bearer realm="ftp://nope"',
        'Bearer realm="not a url"',
        r.str('Bb ="\\,', 20),
      ]);
    }
    if (r.next() < 0.3)
      headers['retry-after'] = r.pick(['5', '0', 'Wed, 21 Oct 2015 07:28:00 GMT', 'soon', '-3']);
    if (status >= 300 && status < 400) {
      headers.location = r.pick([`${origin}/v2/x/manifests/y`, '/relative', 'ftp://x/y', 'http://[bad', '']);
    }
    const body = req.method === 'HEAD' ? Buffer.alloc(0) : r.pick(bodies);
    try {
      res.writeHead(status === 999 ? 200 : status, headers);
      res.end(body);
    } catch {
      res.destroy();
    }
  };
  const server = createServer(handle);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(() => {
    server.closeAllConnections();
    server.close();
  });
  const host = `127.0.0.1:${(server.address() as AddressInfo).port}`;
  origin = `http://${host}`;
  const client = new RegistryClient({ insecureRegistries: [host], timeoutMs: 2000 });
  t.teardown(() => client.close());
  const cred = new Credential({ rawKey: host, source: 'fuzz', username: 'u', password: 'p' });

  const problems: string[] = [];
  const seen = new Map<string, number>();
  const note = (x: Resolution | ChildrenResult) => {
    const k = x.ok ? 'ok' : x.kind;
    seen.set(k, (seen.get(k) ?? 0) + 1);
  };
  for (let i = 0; i < 250; i++) {
    const ref = parseImageReference(`${host}/fuzz/app${i % 7}:${i % 3 === 0 ? 'latest' : `v${i}`}`);
    const creds = i % 2 === 0 ? [] : [cred];
    const res = await client.resolve(ref, creds);
    note(res);
    const p = resolutionProblem(res);
    if (p) problems.push(`resolve #${i}: ${p}: ${JSON.stringify(res)}`);
    const kids = await client.tryIndexChildren(ref, digestOf(validManifest), creds);
    const q = resolutionProblem(kids);
    if (q) problems.push(`children #${i}: ${q}: ${JSON.stringify(kids)}`);
  }
  // The resolver on top: whatever the answers, every result is a Resolution.
  const resolver = new DigestResolver(client, { sleep: async () => {} });
  const many = await resolver.resolveAll(
    Array.from({ length: 40 }, (_, i) => ({ ref: parseImageReference(`${host}/fuzz/r${i}:v1`), creds: [] })),
  );
  for (const [i, res] of many.entries()) {
    const p = resolutionProblem(res);
    if (p) problems.push(`resolver #${i}: ${p}`);
  }
  t.same(problems, [], `seed ${SEED}`);
  t.ok((seen.get('ok') ?? 0) > 0 && seen.size >= 4, `outcomes vary: ${JSON.stringify([...seen])}`);
  await new Promise((r) => setImmediate(r));
  t.same(unhandled, [], 'no unhandled rejection');
});
