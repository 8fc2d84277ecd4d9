// Faults of one reference's answer get their own kind and never open the registry's circuit: the other tags on the
// same registry are still asked. Scripted loopback registries; the resolver is the production one.

import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import t from 'tap';
import { digestOf } from '../../lib/image/digest.ts';
import { parseImageReference } from '../../lib/image/reference.ts';
import { RegistryClient } from '../../lib/registry/client.ts';
import { Credential } from '../../lib/registry/credentials.ts';
import { DigestResolver } from '../../lib/registry/resolver.ts';

const MANIFEST = Buffer.from(
  JSON.stringify({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.manifest.v1+json', layers: [] }),
);
const DIGEST = digestOf(MANIFEST);

function answerManifest(res: ServerResponse) {
  res.writeHead(200, {
    'content-type': 'application/vnd.oci.image.manifest.v1+json',
    'content-length': MANIFEST.length,
    'docker-content-digest': DIGEST,
  });
  res.end(MANIFEST);
}

type Odd = (req: IncomingMessage, res: ServerResponse, origin: string) => void;

const ODD: Array<{ name: string; kind: string; message: RegExp; odd: Odd }> = [
  {
    name: 'a Bearer challenge without a realm',
    kind: 'invalid-challenge',
    message: /Bearer challenge without a realm/,
    odd: (_req, res) => {
      res.writeHead(401, { 'www-authenticate': 'Bearer service="reg",scope="repository:odd/app:pull"' });
      res.end();
    },
  },
  {
    name: 'a token realm that is not HTTP(S)',
    kind: 'invalid-challenge',
    message: /token realm file: is not HTTP\(S\)/,
    odd: (_req, res) => {
      res.writeHead(401, { 'www-authenticate': 'Bearer realm="file:///etc/passwd",service="reg"' });
      res.end();
    },
  },
  {
    name: 'a redirect to another scheme',
    kind: 'redirect-refused',
    message: /redirect from .* to a ftp: URL refused/,
    odd: (_req, res) => {
      res.writeHead(307, { location: 'ftp://127.0.0.1/manifest' });
      res.end();
    },
  },
  {
    name: 'a redirect loop',
    kind: 'redirect-refused',
    message: /too many redirects/,
    odd: (req, res) => {
      res.writeHead(302, { location: req.url ?? '/' });
      res.end();
    },
  },
  {
    name: 'a manifest body over the 4 MiB cap',
    kind: 'manifest-too-large',
    message: /exceeds 4194304 bytes/,
    odd: (req, res) => {
      res.writeHead(200, { 'content-type': 'application/vnd.oci.image.manifest.v1+json' });
      // No digest header: the client must GET and hash, and the body is too big to be a manifest.
      res.end(req.method === 'HEAD' ? undefined : Buffer.alloc(5 * 1024 * 1024, 0x20));
    },
  },
  {
    name: 'a schemaVersion 1 body',
    kind: 'unsupported-manifest',
    message: /schema1 manifest/,
    odd: (req, res) => {
      const body = Buffer.from(
        JSON.stringify({ schemaVersion: 1, name: 'odd/app', tag: 'v1', fsLayers: [] }),
      );
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': body.length });
      res.end(req.method === 'HEAD' ? undefined : body);
    },
  },
];

for (const { name, kind, message, odd } of ODD) {
  t.test(`when one reference gets ${name} then it is ${kind} and the registry stays open`, async (t) => {
    const requests: string[] = [];
    const srv = createServer((req, res) => {
      requests.push(`${req.method} ${req.url}`);
      if (req.url === '/v2/') return res.writeHead(200).end('{}');
      if (req.url?.startsWith('/v2/odd/')) return odd(req, res, origin);
      answerManifest(res);
    });
    await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
    t.teardown(() => {
      srv.closeAllConnections();
      srv.close();
    });
    const host = `127.0.0.1:${(srv.address() as AddressInfo).port}`;
    const origin = `http://${host}`;
    const client = new RegistryClient({ insecureRegistries: [host], timeoutMs: 5_000 });
    t.teardown(() => client.close());
    const warnings: string[] = [];
    const resolver = new DigestResolver(client, {
      concurrencyPerRegistry: 1, // the odd reference is answered first, the good ones after it
      logger: { debug() {}, warn: (_o, msg) => warnings.push(msg ?? '') },
    });
    const rs = await resolver.resolveAll([
      { ref: parseImageReference(`${host}/odd/app:v1`), creds: [] },
      { ref: parseImageReference(`${host}/good/one:v1`), creds: [] },
      { ref: parseImageReference(`${host}/good/two:v1`), creds: [] },
    ]);
    t.match(rs[0], { ok: false, kind, retryable: false, message });
    t.match(rs[1], { ok: true, digest: DIGEST });
    t.match(rs[2], { ok: true, digest: DIGEST });
    t.same(resolver.faults(), [], 'no registry fault');
    t.equal(resolver.isFaulted(host), false);
    t.same(
      requests.filter((r) => r.includes('/good/')),
      ['HEAD /v2/good/one/manifests/v1', 'HEAD /v2/good/two/manifests/v1'],
      'both good tags were asked after the odd one',
    );
    t.equal(warnings.length, 1, 'one warning, for the odd reference');
    t.match(warnings[0], /this reference only: the registry is still queried/);
  });
}

t.test(
  "when one pod's credential cannot be sent as a header then only its image is unauthorized",
  async (t) => {
    const seen: Array<string | undefined> = [];
    const srv = createServer((req, res) => {
      if (req.url === '/v2/') return res.writeHead(200).end('{}');
      seen.push(req.headers.authorization);
      answerManifest(res);
    });
    await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
    t.teardown(() => {
      srv.closeAllConnections();
      srv.close();
    });
    const host = `127.0.0.1:${(srv.address() as AddressInfo).port}`;
    const client = new RegistryClient({ insecureRegistries: [host], timeoutMs: 5_000 });
    t.teardown(() => client.close());
    const resolver = new DigestResolver(client, { concurrencyPerRegistry: 1 });
    const broken = new Credential({
      rawKey: `${host}/team`,
      source: 'secret shop/pasted',
      registryToken: 'tok\nen',
    });
    const rs = await resolver.resolveAll([
      { ref: parseImageReference(`${host}/team/app:v1`), creds: [broken] },
      { ref: parseImageReference(`${host}/other/app:v1`), creds: [] },
    ]);
    t.match(rs[0], { ok: false, kind: 'unauthorized', retryable: false, message: /fix the pull secret/ });
    t.match(rs[1], { ok: true, digest: DIGEST });
    t.same(resolver.faults(), [], 'no registry fault');
    t.same(seen, [undefined], 'only the other image reached the registry, anonymously');
  },
);
