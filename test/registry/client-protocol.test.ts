// Protocol details the real registry cannot be made to show: redirects to another host, token realms on another
// host, identity and registry tokens, several challenges, schema1 answers and token lifetimes. Scripted loopback
// servers record exactly what the client sent.

import { createServer, type IncomingHttpHeaders, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import t from 'tap';
import { digestOf } from '../../lib/image/digest.ts';
import { parseImageReference } from '../../lib/image/reference.ts';
import { RegistryClient } from '../../lib/registry/client.ts';
import { Credential } from '../../lib/registry/credentials.ts';
import { parseTokenResponse } from '../../lib/registry/tokens.ts';

interface Seen {
  method: string;
  url: string;
  headers: IncomingHttpHeaders;
  body: string;
}

type Handler = (req: IncomingMessage, res: ServerResponse, body: string) => void;

/** A loopback server answering with `handler`, recording every request. */
async function server(t: { teardown(fn: () => void): void }, handler: Handler) {
  const seen: Seen[] = [];
  const srv = createServer((req, res) => {
    let body = '';
    req.on('data', (c) => (body += c));
    req.on('end', () => {
      // The client's one-time `GET /v2/` auth probe: answered as an open registry and not recorded, so each test's
      // handler sees (and scripts the challenges of) the real requests only.
      if (req.url === '/v2/' && req.method === 'GET') {
        res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
        return;
      }
      seen.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers, body });
      handler(req, res, body);
    });
  });
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  t.teardown(() => {
    srv.closeAllConnections();
    srv.close();
  });
  const host = `127.0.0.1:${(srv.address() as AddressInfo).port}`;
  return { host, url: `http://${host}`, seen };
}

const MANIFEST = Buffer.from(
  JSON.stringify({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.manifest.v1+json', layers: [] }),
);
const DIGEST = digestOf(MANIFEST);
const SECRET = 'p4ssw0rd-local';

function answerManifest(res: ServerResponse, withDigest = true) {
  res.writeHead(200, {
    'content-type': 'application/vnd.oci.image.manifest.v1+json',
    'content-length': MANIFEST.length,
    ...(withDigest ? { 'docker-content-digest': DIGEST } : {}),
  });
  res.end(MANIFEST);
}

const cred = (host: string, extra: Partial<ConstructorParameters<typeof Credential>[0]> = {}) =>
  new Credential({ rawKey: host, source: 'test', username: 'user', password: SECRET, ...extra });

function client(hosts: string[]) {
  return new RegistryClient({ insecureRegistries: hosts, timeoutMs: 5_000 });
}

t.test('when the registry redirects to another host then Authorization is not carried along', async (t) => {
  const other = await server(t, (_req, res) => answerManifest(res));
  const reg = await server(t, (req, res) => {
    if (!req.headers.authorization) {
      res.writeHead(401, { 'www-authenticate': 'Basic realm="r"' });
      return res.end();
    }
    if (req.url?.includes('/same/')) {
      res.writeHead(307, { location: req.url.replace('/same/', '/landed/') });
      return res.end();
    }
    if (req.url?.includes('/landed/')) return answerManifest(res);
    res.writeHead(307, { location: `${other.url}/cdn/manifest` });
    res.end();
  });
  const c = client([reg.host, other.host]);
  t.teardown(() => c.close());
  const r = await c.resolve(parseImageReference(`${reg.host}/app:v1`), [cred(reg.host)]);
  t.match(r, { ok: true, digest: DIGEST });
  t.equal(other.seen.length, 1);
  t.equal(other.seen[0]?.headers.authorization, undefined, 'the other host got no credential');

  const same = await c.resolve(parseImageReference(`${reg.host}/same/app:v1`), [cred(reg.host)]);
  t.match(same, { ok: true });
  t.match(reg.seen.at(-1), { url: '/v2/landed/app/manifests/v1', headers: { authorization: /^Basic / } });
});

t.test(
  'when the registry announces a token realm on another host then only that realm gets the credential',
  async (t) => {
    const tokens = await server(t, (_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ access_token: 'tok-123', expires_in: 300 }));
    });
    const reg = await server(t, (req, res) => {
      if (req.headers.authorization !== 'Bearer tok-123') {
        res.writeHead(401, {
          // Two challenges; no scope: the client must build repository:<name>:pull itself.
          'www-authenticate': `Basic realm="basic", Bearer realm="${tokens.url}/token?tenant=x",service="svc"`,
        });
        return res.end();
      }
      answerManifest(res);
    });
    const c = client([reg.host, tokens.host]);
    t.teardown(() => c.close());
    const r = await c.resolve(parseImageReference(`${reg.host}/team/app:v1`), [cred(reg.host)]);
    t.match(r, { ok: true, digest: DIGEST });
    const tokenReq = new URL(tokens.seen[0]?.url ?? '', tokens.url);
    t.same(Object.fromEntries(tokenReq.searchParams), {
      tenant: 'x',
      service: 'svc',
      scope: 'repository:team/app:pull',
    });
    t.match(tokens.seen[0]?.headers.authorization, /^Basic /, 'the announced realm got Basic');
    t.notOk(
      reg.seen.some((s) => s.headers.authorization?.startsWith('Basic')),
      'Bearer was preferred over Basic',
    );
  },
);

t.test(
  'when the credential has an identity token then it is exchanged with an OAuth2 refresh grant',
  async (t) => {
    const tokens = await server(t, (_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ access_token: 'from-refresh' }));
    });
    const reg = await server(t, (req, res) => {
      if (req.headers.authorization !== 'Bearer from-refresh') {
        res.writeHead(401, { 'www-authenticate': `Bearer realm="${tokens.url}/oauth2/token",service="svc"` });
        return res.end();
      }
      answerManifest(res);
    });
    const c = client([reg.host, tokens.host]);
    t.teardown(() => c.close());
    const r = await c.resolve(parseImageReference(`${reg.host}/app:v1`), [
      new Credential({ rawKey: reg.host, source: 'test', identityToken: 'refresh-xyz' }),
    ]);
    t.match(r, { ok: true });
    const seen = tokens.seen[0];
    t.equal(seen?.method, 'POST');
    t.equal(seen?.headers.authorization, undefined);
    const form = new URLSearchParams(seen?.body);
    t.equal(form.get('grant_type'), 'refresh_token');
    t.equal(form.get('refresh_token'), 'refresh-xyz');
    t.equal(form.get('scope'), 'repository:app:pull');
    t.equal(form.get('service'), 'svc');
  },
);

t.test('when the credential has a registry token then it is sent as a Bearer token directly', async (t) => {
  const reg = await server(t, (req, res) => {
    if (req.headers.authorization !== 'Bearer direct-token') {
      res.writeHead(401, { 'www-authenticate': 'Bearer realm="http://127.0.0.1:1/never"' });
      return res.end();
    }
    answerManifest(res);
  });
  const c = client([reg.host]);
  t.teardown(() => c.close());
  const r = await c.resolve(parseImageReference(`${reg.host}/app:v1`), [
    new Credential({ rawKey: reg.host, source: 'test', registryToken: 'direct-token' }),
  ]);
  t.match(r, { ok: true });
  t.equal(c.stats.tokens, 0);
});

t.test('when a remembered token is rejected then a fresh one is fetched once', async (t) => {
  let issued = 0;
  const tokens = await server(t, (_req, res) => {
    issued++;
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ token: `t${issued}`, expires_in: 300 }));
  });
  let valid = 't1';
  const reg = await server(t, (req, res) => {
    if (req.headers.authorization !== `Bearer ${valid}`) {
      res.writeHead(401, { 'www-authenticate': `Bearer realm="${tokens.url}/token",service="s"` });
      return res.end();
    }
    answerManifest(res);
  });
  const c = client([reg.host, tokens.host]);
  t.teardown(() => c.close());
  const image = parseImageReference(`${reg.host}/app:v1`);
  t.match(await c.resolve(image, []), { ok: true });
  valid = 't2'; // the server revoked t1 early
  t.match(await c.resolve(image, []), { ok: true });
  t.equal(issued, 2);
});

t.test('when the registry answers schema1 then the digest is not trusted', async (t) => {
  const reg = await server(t, (_req, res) => {
    res.writeHead(200, {
      'content-type': 'application/vnd.docker.distribution.manifest.v1+prettyjws',
      'docker-content-digest': DIGEST,
    });
    res.end();
  });
  const c = client([reg.host]);
  t.teardown(() => c.close());
  t.match(await c.resolve(parseImageReference(`${reg.host}/old:v1`), []), {
    ok: false,
    kind: 'unsupported-manifest',
    retryable: false,
  });
});

t.test('when the GET fallback body contradicts its own digest header then it is refused', async (t) => {
  const reg = await server(t, (req, res) => {
    if (req.method === 'HEAD') {
      res.writeHead(200, { 'content-type': 'application/vnd.oci.image.manifest.v1+json' });
      return res.end();
    }
    res.writeHead(200, { 'docker-content-digest': `sha256:${'0'.repeat(64)}` });
    res.end(MANIFEST);
  });
  const c = client([reg.host]);
  t.teardown(() => c.close());
  t.match(await c.resolve(parseImageReference(`${reg.host}/x:v1`), []), {
    ok: false,
    kind: 'invalid-manifest',
    retryable: false,
  });
  t.same(c.stats, { heads: 1, gets: 1, tokens: 0 });
});

t.test(
  'when the HEAD sends every manifest type then index types come first and schema1 is absent',
  async (t) => {
    const reg = await server(t, (_req, res) => answerManifest(res));
    const c = client([reg.host]);
    t.teardown(() => c.close());
    await c.resolve(parseImageReference(`${reg.host}/x:v1`), []);
    t.equal(
      reg.seen[0]?.headers.accept,
      'application/vnd.oci.image.index.v1+json, application/vnd.docker.distribution.manifest.list.v2+json, ' +
        'application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json',
    );
    t.equal(reg.seen[0]?.method, 'HEAD');
    t.equal(reg.seen[0]?.url, '/v2/x/manifests/v1');
  },
);

t.test('token lifetimes follow expires_in and issued_at', async (t) => {
  const now = Date.parse('2026-01-01T00:00:00Z');
  const at = (body: object) => parseTokenResponse(Buffer.from(JSON.stringify(body)), now);
  t.same(at({ token: 'a' }), { token: 'a', expiresAt: now + 60_000 - 6_000 }, 'default 60 s, 10% margin');
  t.same(
    at({ token: 'a', expires_in: 300 }),
    { token: 'a', expiresAt: now + 300_000 - 10_000 },
    'margin at most 10 s',
  );
  t.same(
    at({ access_token: 'b', expires_in: 300, issued_at: '2025-12-31T23:58:00Z' }),
    { token: 'b', expiresAt: now - 120_000 + 300_000 - 10_000 },
    'issued two minutes ago: two minutes less',
  );
  t.same(
    at({ token: 'c', expires_in: 300, issued_at: '2026-01-01T01:00:00Z' }),
    { token: 'c', expiresAt: now + 300_000 - 10_000 },
    'a future issued_at does not extend the lifetime',
  );
  t.equal(at({ token: '' }), undefined);
  t.equal(at({ expires_in: 300 }), undefined);
  t.equal(parseTokenResponse(Buffer.from('nope'), now), undefined);
  t.equal(at({ token: 'd', access_token: 'e' })?.token, 'd', 'token wins over access_token');
});
