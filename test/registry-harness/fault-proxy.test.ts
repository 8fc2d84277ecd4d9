// The fault proxy forwards to the real registry (and its token server) unchanged unless told otherwise, injects
// each fault as documented, and counts what the client did.

import { createHash } from 'node:crypto';
import t from 'tap';
import { createClient, parseChallenge } from '../harness/registry/client.ts';
import { fetchBuffer, header } from '../harness/registry/http.ts';
import {
  MANIFEST_ACCEPT,
  type PushedImage,
  pushImage,
  type Registry,
  startFaultProxy,
  startRegistry,
} from '../harness/registry/index.ts';
import { requireBin } from '../harness/require-bin.ts';

const manifest = (base: string, repo: string, ref: string, method = 'HEAD') =>
  fetchBuffer(`${base}/v2/${repo}/manifests/${ref}`, { method, headers: { Accept: MANIFEST_ACCEPT } });

if (requireBin(t, 'docker-registry')) {
  t.test('in front of a registry without auth', async (t) => {
    const reg = await startRegistry();
    t.teardown(reg.stop);
    const pushed = await pushImage(reg, 'proxied/app', 'v1', { format: 'oci-index' });
    const proxy = await startFaultProxy(reg);
    t.teardown(proxy.stop);
    t.beforeEach(() => {
      proxy.clear();
      proxy.resetCounts();
    });

    t.test('when no fault is set then HEAD through the proxy gives the registry digest', async (t) => {
      t.match(proxy.host, /^127\.0\.0\.1:\d+$/);
      t.equal(proxy.url, `http://${proxy.host}`);
      const res = await manifest(proxy.url, 'proxied/app', 'v1');
      t.equal(res.status, 200);
      t.equal(header(res, 'docker-content-digest'), pushed.digest);
      t.ok(res.rawHeaders.includes('Docker-Content-Digest'), 'header case as the registry sent it');
      t.same(proxy.log(), [
        { method: 'HEAD', path: '/v2/proxied/app/manifests/v1', status: 200, host: proxy.host },
      ]);
    });

    t.test(
      'when a client HEADs and GETs manifests then counts tell them apart from other calls',
      async (t) => {
        await fetchBuffer(`${proxy.url}/v2/`);
        await manifest(proxy.url, 'proxied/app', 'v1');
        await manifest(proxy.url, 'proxied/app', 'v1');
        await manifest(proxy.url, 'proxied/app', 'v1', 'GET');
        await fetchBuffer(`${proxy.url}/v2/proxied/app/tags/list`);
        t.same(proxy.counts(), { head: 2, get: 1, token: 0, total: 5 });
        proxy.resetCounts();
        t.same(proxy.counts(), { head: 0, get: 0, token: 0, total: 0 });
        t.same(proxy.log(), []);
      },
    );

    t.test('when latency is set then the answer arrives no sooner than that', async (t) => {
      proxy.set({ latencyMs: 250 });
      const started = performance.now();
      const res = await manifest(proxy.url, 'proxied/app', 'v1');
      const elapsed = performance.now() - started;
      t.equal(res.status, 200);
      t.ok(elapsed >= 240, `took ${Math.round(elapsed)} ms`);
    });

    t.test(
      'when 429 with retryAfterSeconds is set then the answer carries Retry-After and a registry error',
      async (t) => {
        proxy.set({ status: 429, retryAfterSeconds: 7 });
        const res = await manifest(proxy.url, 'proxied/app', 'v1', 'GET');
        t.equal(res.status, 429);
        t.equal(header(res, 'retry-after'), '7');
        t.equal(JSON.parse(res.body.toString()).errors[0].code, 'TOOMANYREQUESTS');
        t.equal(proxy.log()[0]?.status, 429);
      },
    );

    t.test('when a status fault has times 2 then only the first two matching requests fail', async (t) => {
      proxy.set({ status: 503, times: 2 });
      const statuses = [];
      for (let i = 0; i < 3; i++) statuses.push((await manifest(proxy.url, 'proxied/app', 'v1')).status);
      t.same(statuses, [503, 503, 200]);
    });

    t.test('when a fault has a match then only matching paths are affected', async (t) => {
      proxy.set({ status: 500, match: /\/manifests\// });
      t.equal((await fetchBuffer(`${proxy.url}/v2/`)).status, 200);
      t.equal((await manifest(proxy.url, 'proxied/app', 'v1')).status, 500);
    });

    t.test('when reset is set then the client sees a socket error and the log status 0', async (t) => {
      proxy.set({ reset: true });
      await t.rejects(manifest(proxy.url, 'proxied/app', 'v1'), { code: /ECONNRESET|EPIPE/ });
      t.equal(proxy.log()[0]?.status, 0);
      t.equal(proxy.counts().head, 1);
    });

    t.test(
      'when stripDigestHeader is set then Docker-Content-Digest is absent and the rest forwarded',
      async (t) => {
        proxy.set({ stripDigestHeader: true });
        const res = await manifest(proxy.url, 'proxied/app', 'v1', 'GET');
        t.equal(res.status, 200);
        t.equal(header(res, 'docker-content-digest'), undefined);
        t.equal(header(res, 'content-type'), pushed.mediaType);
        const digest = `sha256:${createHash('sha256').update(res.body).digest('hex')}`;
        t.equal(digest, pushed.digest, 'the body is intact, so a client can hash it instead');
      },
    );

    t.test('when contentType is set then the answer carries it and the rest is forwarded', async (t) => {
      const schema1 = 'application/vnd.docker.distribution.manifest.v1+prettyjws';
      proxy.set({ contentType: schema1 });
      const res = await manifest(proxy.url, 'proxied/app', 'v1', 'GET');
      t.equal(res.status, 200);
      t.equal(header(res, 'content-type'), schema1);
      t.equal(header(res, 'docker-content-digest'), pushed.digest);
    });

    t.test('when malformedBody is set then status and headers pass but the body is garbage', async (t) => {
      proxy.set({ malformedBody: true });
      const res = await manifest(proxy.url, 'proxied/app', 'v1', 'GET');
      t.equal(res.status, 200);
      t.equal(header(res, 'docker-content-digest'), pushed.digest);
      t.equal(Number(header(res, 'content-length')), res.body.length);
      t.throws(() => JSON.parse(res.body.toString()));
      t.not(`sha256:${createHash('sha256').update(res.body).digest('hex')}`, pushed.digest);
    });

    t.test('when the fault is cleared then requests pass again', async (t) => {
      proxy.set({ status: 500 });
      proxy.clear();
      t.equal((await manifest(proxy.url, 'proxied/app', 'v1')).status, 200);
    });

    t.test('when a fault is given at start then it applies from the first request', async (t) => {
      const p2 = await startFaultProxy(reg, { fault: { status: 502, times: 1 } });
      t.teardown(p2.stop);
      t.equal((await fetchBuffer(`${p2.url}/v2/`)).status, 502);
      t.equal((await fetchBuffer(`${p2.url}/v2/`)).status, 200);
    });

    t.test('when an image is pushed through the proxy then upload Locations stay on the proxy', async (t) => {
      const viaProxy: Registry = { ...reg, url: proxy.url, host: proxy.host };
      const image = await pushImage(viaProxy, 'through/proxy', 'v1', { format: 'docker', seed: 'via-proxy' });
      t.equal(header(await manifest(reg.url, 'through/proxy', 'v1'), 'docker-content-digest'), image.digest);
      t.ok(proxy.log().some((e) => e.method === 'PUT' && e.path.includes('/blobs/uploads/')));
    });
  });

  t.test('in front of a bearer registry', async (t) => {
    if (!requireBin(t, 'openssl')) return;
    const reg = await startRegistry({ auth: 'bearer' });
    t.teardown(reg.stop);
    const pushed: PushedImage = await pushImage(reg, 'hub/app', 'v1');
    const proxy = await startFaultProxy(reg);
    t.teardown(proxy.stop);
    t.beforeEach(() => {
      proxy.clear();
      proxy.resetCounts();
    });

    t.test('when challenged then the realm points at the proxy and the token flow is counted', async (t) => {
      const res = await fetchBuffer(`${proxy.url}/v2/`);
      t.equal(parseChallenge(header(res, 'www-authenticate'))?.params.realm, `${proxy.url}/__token`);
      const before = reg.tokenServer!.issued();
      const client = createClient({ url: proxy.url });
      const head = await client.request('/v2/hub/app/manifests/v1', {
        method: 'HEAD',
        headers: { Accept: MANIFEST_ACCEPT },
        scope: 'repository:hub/app:pull',
      });
      t.equal(header(head, 'docker-content-digest'), pushed.digest);
      t.equal(reg.tokenServer!.issued(), before + 1);
      t.same(proxy.counts(), { head: 2, get: 0, token: 1, total: 4 });
      t.same(
        proxy.log().map((e) => [e.method, e.path.split('?')[0], e.status, e.authorization]),
        [
          ['GET', '/v2/', 401, undefined],
          ['HEAD', '/v2/hub/app/manifests/v1', 401, undefined],
          ['GET', '/__token', 200, undefined],
          ['HEAD', '/v2/hub/app/manifests/v1', 200, 'bearer'],
        ],
      );
    });

    t.test('when credentials are sent to the token path then the log records basic', async (t) => {
      const client = createClient({ url: proxy.url, credentials: reg.credentials! });
      await client.request('/v2/hub/app/manifests/v1', { method: 'HEAD', scope: 'repository:hub/app:pull' });
      t.equal(proxy.log().find((e) => e.path.startsWith('/__token'))?.authorization, 'basic');
    });

    t.test('when the token path is faulted then the token request fails', async (t) => {
      proxy.set({ match: /^\/__token/, status: 503 });
      const client = createClient({ url: proxy.url });
      await t.rejects(
        client.request('/v2/hub/app/manifests/v1', { method: 'HEAD', scope: 'repository:hub/app:pull' }),
        /HTTP 503/,
      );
      t.equal(proxy.counts().token, 1);
    });
  });

  t.test(
    'when the registry serves TLS then the proxy speaks plain HTTP to clients and trusts caPem upstream',
    async (t) => {
      if (!requireBin(t, 'openssl')) return;
      const reg = await startRegistry({ tls: true });
      t.teardown(reg.stop);
      const proxy = await startFaultProxy(reg);
      t.teardown(proxy.stop);
      const viaProxy: Registry = { host: proxy.host, url: proxy.url, stop: async () => {} };
      const pushed = await pushImage(viaProxy, 'tls/app', 'v1', { format: 'docker-list' });
      await t.rejects(manifest(reg.url, 'tls/app', 'v1'), 'the registry itself still needs the CA');
      const direct = await fetchBuffer(`${reg.url}/v2/tls/app/manifests/v1`, {
        method: 'HEAD',
        headers: { Accept: MANIFEST_ACCEPT },
        ca: reg.caPem!,
      });
      t.equal(header(direct, 'docker-content-digest'), pushed.digest);
      t.equal(header(await manifest(proxy.url, 'tls/app', 'v1'), 'docker-content-digest'), pushed.digest);
    },
  );

  t.test('when the proxy is stopped then it no longer accepts connections', async (t) => {
    const reg = await startRegistry();
    t.teardown(reg.stop);
    const proxy = await startFaultProxy(reg);
    await proxy.stop();
    await proxy.stop();
    await t.rejects(fetchBuffer(`${proxy.url}/v2/`, { timeoutMs: 2000 }), { code: 'ECONNREFUSED' });
  });
}
