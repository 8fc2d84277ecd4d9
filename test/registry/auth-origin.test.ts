// A credential goes only to the registry it is keyed for: a challenge is honoured only from the registry's own
// origin. Loopback servers on other ports are other origins; each records exactly what it was sent.

import { createServer, type IncomingHttpHeaders, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import t from 'tap';
import { digestOf } from '../../lib/image/digest.ts';
import { parseImageReference } from '../../lib/image/reference.ts';
import { RegistryClient } from '../../lib/registry/client.ts';
import { Credential } from '../../lib/registry/credentials.ts';

interface Seen {
  method: string;
  url: string;
  headers: IncomingHttpHeaders;
  body: string;
}

type Handler = (req: IncomingMessage, res: ServerResponse) => void;

/** A loopback server answering with `handler` and recording every request, the /v2/ probe included. */
async function server(t: { teardown(fn: () => void): void }, handler: Handler) {
  const seen: Seen[] = [];
  const srv = createServer((req, res) => {
    let body = '';
    req.on('data', (c) => {
      body += c;
    });
    req.on('end', () => {
      seen.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers, body });
      handler(req, res);
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
const SECRET = 'p4ssw0rd-for-the-registry-only';
const REFRESH = 'refresh-token-for-the-registry-only';

function answerManifest(res: ServerResponse) {
  res.writeHead(200, {
    'content-type': 'application/vnd.oci.image.manifest.v1+json',
    'content-length': MANIFEST.length,
    'docker-content-digest': DIGEST,
  });
  res.end(MANIFEST);
}

/** A token service that hands out tokens to anyone: it records whether a secret reached it. */
async function tokenService(t: { teardown(fn: () => void): void }) {
  return server(t, (_req, res) => {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ token: 'foreign-token', expires_in: 300 }));
  });
}

const basic = (host: string) =>
  new Credential({ rawKey: host, source: 'secret shop/regcred', username: 'user', password: SECRET });
const refresh = (host: string) =>
  new Credential({ rawKey: host, source: 'secret shop/acr', identityToken: REFRESH });

const everything = (...servers: Array<{ seen: Seen[] }>) =>
  JSON.stringify(servers.flatMap((s) => s.seen.map((x) => [x.url, x.headers, x.body])));

for (const [name, credFor] of [
  ['Basic', basic],
  ['a refresh token', refresh],
] as const) {
  t.test(
    `when a manifest request is redirected to another origin whose 401 names its own realm then the pull secret (${name}) goes nowhere`,
    async (t) => {
      const realm = await tokenService(t);
      const foreign = await server(t, (_req, res) => {
        res.writeHead(401, {
          'www-authenticate': `Bearer realm="${realm.url}/token",service="foreign",scope="repository:app:pull"`,
        });
        res.end();
      });
      // The registry is open (its /v2/ says 200) but sends manifests of redirect/* elsewhere.
      const reg = await server(t, (req, res) => {
        if (req.url === '/v2/') return res.writeHead(200).end('{}');
        if (req.url?.startsWith('/v2/redirect/')) {
          res.writeHead(307, { location: `${foreign.url}/v2/app/manifests/v1` });
          return res.end();
        }
        answerManifest(res);
      });
      const c = new RegistryClient({
        insecureRegistries: [reg.host, foreign.host, realm.host],
        timeoutMs: 5_000,
      });
      t.teardown(() => c.close());
      const cred = credFor(reg.host);

      const r = await c.resolve(parseImageReference(`${reg.host}/redirect/app:v1`), [cred]);
      t.match(r, {
        ok: false,
        kind: 'unauthorized',
        status: 401,
        message: new RegExp(
          `redirected to ${foreign.url.replace(/\./g, '\\.')}, which asked for credentials`,
        ),
      });
      t.equal(realm.seen.length, 0, 'the foreign realm was never asked for a token');
      t.equal(foreign.seen.length, 1, 'one request reached the other origin');
      t.equal(foreign.seen[0]?.headers.authorization, undefined, 'without Authorization');
      t.same(c.stats, { heads: 1, gets: 0, tokens: 0 }, 'one HEAD, no retry with credentials, no token');

      // Nothing was remembered for the registry host: its next repository goes out exactly as before.
      t.match(await c.resolve(parseImageReference(`${reg.host}/plain/app:v1`), [cred]), {
        ok: true,
        digest: DIGEST,
      });
      t.same(
        reg.seen.map((s) => [s.method, s.url, s.headers.authorization]),
        [
          ['GET', '/v2/', undefined],
          ['HEAD', '/v2/redirect/app/manifests/v1', undefined],
          ['HEAD', '/v2/plain/app/manifests/v1', undefined],
        ],
        'the registry never asked for credentials, so it got none',
      );
      t.equal(realm.seen.length, 0);
      const sent = everything(reg, foreign, realm);
      t.notMatch(sent, Buffer.from(`user:${SECRET}`).toString('base64'), 'the Basic value went nowhere');
      t.notMatch(sent, REFRESH, 'the refresh token went nowhere');
    },
  );
}

t.test(
  'when the other origin asks for Basic then the registry host does not learn Basic from it',
  async (t) => {
    const foreign = await server(t, (_req, res) => {
      res.writeHead(401, { 'www-authenticate': 'Basic realm="elsewhere"' });
      res.end();
    });
    const reg = await server(t, (req, res) => {
      if (req.url === '/v2/') return res.writeHead(200).end('{}');
      if (req.url?.startsWith('/v2/redirect/')) {
        res.writeHead(302, { location: `${foreign.url}/blob` });
        return res.end();
      }
      answerManifest(res);
    });
    const c = new RegistryClient({ insecureRegistries: [reg.host, foreign.host], timeoutMs: 5_000 });
    t.teardown(() => c.close());
    const cred = basic(reg.host);
    t.match(await c.resolve(parseImageReference(`${reg.host}/redirect/app:v1`), [cred]), {
      ok: false,
      kind: 'unauthorized',
    });
    t.match(await c.resolve(parseImageReference(`${reg.host}/plain/app:v1`), [cred]), { ok: true });
    t.same(
      reg.seen.filter((s) => s.headers.authorization !== undefined).map((s) => s.url),
      [],
      'Basic never went out: only a 401 of the registry itself may ask for it',
    );
    t.equal(foreign.seen.length, 1);
    t.equal(foreign.seen[0]?.headers.authorization, undefined);
  },
);

t.test(
  'when the /v2/ probe is redirected to another origin then its challenge is not honoured',
  async (t) => {
    const realm = await tokenService(t);
    const foreign = await server(t, (_req, res) => {
      res.writeHead(401, { 'www-authenticate': `Bearer realm="${realm.url}/token",service="foreign"` });
      res.end();
    });
    const reg = await server(t, (req, res) => {
      if (req.url === '/v2/') {
        res.writeHead(307, { location: `${foreign.url}/v2/` });
        return res.end();
      }
      answerManifest(res);
    });
    const c = new RegistryClient({
      insecureRegistries: [reg.host, foreign.host, realm.host],
      timeoutMs: 5_000,
    });
    t.teardown(() => c.close());
    const r = await c.resolve(parseImageReference(`${reg.host}/app:v1`), [basic(reg.host)]);
    t.match(r, { ok: true, digest: DIGEST });
    t.equal(realm.seen.length, 0, 'no token was fetched from the realm the other origin named');
    t.same(
      reg.seen.map((s) => [s.method, s.url, s.headers.authorization]),
      [
        ['GET', '/v2/', undefined],
        ['HEAD', '/v2/app/manifests/v1', undefined],
      ],
    );
    t.same(c.stats, { heads: 1, gets: 0, tokens: 0 });
  },
);

t.test(
  'when the registry itself answers 401 with a realm on another host then that realm is used',
  async (t) => {
    // The registry's own challenge may name any realm (Docker Hub: auth.docker.io): that is not a foreign challenge.
    const realm = await tokenService(t);
    const reg = await server(t, (req, res) => {
      if (req.headers.authorization === 'Bearer foreign-token') return answerManifest(res);
      res.writeHead(401, { 'www-authenticate': `Bearer realm="${realm.url}/token",service="reg"` });
      res.end();
    });
    const c = new RegistryClient({ insecureRegistries: [reg.host, realm.host], timeoutMs: 5_000 });
    t.teardown(() => c.close());
    t.match(await c.resolve(parseImageReference(`${reg.host}/app:v1`), [basic(reg.host)]), {
      ok: true,
      digest: DIGEST,
    });
    t.equal(realm.seen.length, 1, 'one token request');
    t.match(realm.seen[0]?.headers.authorization, /^Basic /, 'with the credential keyed for the registry');
    t.same(c.stats, { heads: 1, gets: 0, tokens: 1 }, 'the /v2/ probe announced the realm: one HEAD');
  },
);
