// pushImage writes deterministic images of every format through the real push API, and the registry serves them
// back under the digests pushImage reports.

import t from 'tap';
import { createClient } from '../harness/registry/client.ts';
import { fetchBuffer, header } from '../harness/registry/http.ts';
import {
  deleteTag,
  type ImageFormat,
  MANIFEST_ACCEPT,
  MEDIA_TYPES,
  pushImage,
  type Registry,
  startRegistry,
} from '../harness/registry/index.ts';
import { requireBin } from '../harness/require-bin.ts';

const headDigest = async (reg: Registry, repo: string, ref: string, accept = MANIFEST_ACCEPT) => {
  const res = await fetchBuffer(`${reg.url}/v2/${repo}/manifests/${ref}`, {
    method: 'HEAD',
    headers: { Accept: accept },
  });
  return {
    status: res.status,
    digest: header(res, 'docker-content-digest'),
    type: header(res, 'content-type'),
  };
};

if (requireBin(t, 'docker-registry')) {
  t.test('on a registry without auth', async (t) => {
    const reg = await startRegistry();
    t.teardown(reg.stop);

    const expectedType: Record<ImageFormat, string> = {
      oci: MEDIA_TYPES.ociManifest,
      docker: MEDIA_TYPES.dockerManifest,
      'oci-index': MEDIA_TYPES.ociIndex,
      'docker-list': MEDIA_TYPES.dockerList,
    };
    for (const format of Object.keys(expectedType) as ImageFormat[]) {
      t.test(
        `when ${format.startsWith('o') ? 'an' : 'a'} ${format} image is pushed then HEAD with the four Accept types gives its digest`,
        async (t) => {
          const pushed = await pushImage(reg, `fmt/${format}`, 'v1', { format });
          t.equal(pushed.mediaType, expectedType[format]);
          t.match(pushed.digest, /^sha256:[0-9a-f]{64}$/);
          const head = await headDigest(reg, `fmt/${format}`, 'v1');
          t.equal(head.status, 200);
          t.equal(head.digest, pushed.digest);
          t.equal(head.type, expectedType[format]);
        },
      );
    }

    t.test(
      'when a single-platform image is pushed then its config blob is served under configDigest',
      async (t) => {
        const pushed = await pushImage(reg, 'single/cfg', 'v1', {
          format: 'docker',
          platforms: ['linux/arm64/v8'],
        });
        t.equal(pushed.children, undefined);
        const cfg = await fetchBuffer(`${reg.url}/v2/single/cfg/blobs/${pushed.configDigest}`);
        t.equal(cfg.status, 200);
        t.match(JSON.parse(cfg.body.toString()), { os: 'linux', architecture: 'arm64', variant: 'v8' });
      },
    );

    t.test(
      'when an OCI index is pushed then it lists one child per platform, each pullable by digest',
      async (t) => {
        const pushed = await pushImage(reg, 'multi/app', 'v1', { format: 'oci-index' });
        t.equal(pushed.configDigest, undefined);
        t.same(
          pushed.children?.map((c) => c.platform),
          [
            { os: 'linux', architecture: 'amd64' },
            { os: 'linux', architecture: 'arm64' },
          ],
        );
        const res = await fetchBuffer(`${reg.url}/v2/multi/app/manifests/v1`, {
          headers: { Accept: MANIFEST_ACCEPT },
        });
        const index = JSON.parse(res.body.toString());
        t.same(
          index.manifests.map((m: { digest: string; platform: unknown }) => ({
            digest: m.digest,
            platform: m.platform,
          })),
          pushed.children?.map((c) => ({ digest: c.digest, platform: c.platform })),
        );
        for (const child of pushed.children ?? []) {
          const head = await headDigest(reg, 'multi/app', child.digest);
          t.equal(head.digest, child.digest);
          t.equal(head.type, MEDIA_TYPES.ociManifest);
          const manifest = await fetchBuffer(`${reg.url}/v2/multi/app/manifests/${child.digest}`, {
            headers: { Accept: MANIFEST_ACCEPT },
          });
          t.equal(JSON.parse(manifest.body.toString()).config.digest, child.configDigest);
        }
        t.not(pushed.children?.[0]?.digest, pushed.children?.[1]?.digest, 'platforms differ in bytes');
      },
    );

    t.test(
      'when a Docker list is pushed with three platforms then the list holds Docker manifests',
      async (t) => {
        const platforms = ['linux/amd64', 'linux/arm64', 'linux/arm/v7'];
        const pushed = await pushImage(reg, 'multi/list', 'v1', { format: 'docker-list', platforms });
        const res = await fetchBuffer(`${reg.url}/v2/multi/list/manifests/v1`, {
          headers: { Accept: MANIFEST_ACCEPT },
        });
        const list = JSON.parse(res.body.toString());
        t.equal(list.mediaType, MEDIA_TYPES.dockerList);
        t.same(
          list.manifests.map((m: { mediaType: string }) => m.mediaType),
          [MEDIA_TYPES.dockerManifest, MEDIA_TYPES.dockerManifest, MEDIA_TYPES.dockerManifest],
        );
        t.same(pushed.children?.[2]?.platform, { os: 'linux', architecture: 'arm', variant: 'v7' });
      },
    );

    t.test('when the same image is pushed twice then the digests are identical', async (t) => {
      const a = await pushImage(reg, 'det/a', 'v1', { format: 'oci-index', seed: 's1' });
      const b = await pushImage(reg, 'det/b', 'v1', { format: 'oci-index', seed: 's1' });
      t.same(a, b);
    });

    t.test('when re-pushed with another seed then the tag moves to a new digest', async (t) => {
      const first = await pushImage(reg, 'moving/app', 'latest', { format: 'docker', seed: 'one' });
      const second = await pushImage(reg, 'moving/app', 'latest', { format: 'docker', seed: 'two' });
      t.not(second.digest, first.digest);
      t.not(second.configDigest, first.configDigest);
      t.equal((await headDigest(reg, 'moving/app', 'latest')).digest, second.digest);
      t.equal(
        (await headDigest(reg, 'moving/app', first.digest)).status,
        200,
        'the old manifest stays pullable by digest',
      );
    });

    t.test(
      'when an OCI manifest is HEADed without the OCI types then distribution answers 404',
      async (t) => {
        await pushImage(reg, 'accept/oci', 'v1', { format: 'oci' });
        const head = await headDigest(reg, 'accept/oci', 'v1', MEDIA_TYPES.dockerManifest);
        t.equal(head.status, 404);
      },
    );

    t.test('when a tag is deleted then HEAD on it answers 404', async (t) => {
      await pushImage(reg, 'gone/app', 'v1');
      await deleteTag(reg, 'gone/app', 'v1');
      t.equal((await headDigest(reg, 'gone/app', 'v1')).status, 404);
    });

    t.test('when the platform string is malformed then pushImage rejects', async (t) => {
      await t.rejects(pushImage(reg, 'bad/platform', 'v1', { platforms: ['linux'] }), /bad platform/);
    });
  });

  t.test(
    'when the registry needs basic auth then pushImage authenticates and anonymous HEAD is refused',
    async (t) => {
      if (!requireBin(t, 'htpasswd')) return;
      const reg = await startRegistry({ auth: 'basic' });
      t.teardown(reg.stop);
      const pushed = await pushImage(reg, 'private/app', 'v1', { format: 'docker-list' });
      t.equal((await headDigest(reg, 'private/app', 'v1')).status, 401);
      const client = createClient({ url: reg.url, credentials: reg.credentials! });
      const res = await client.request('/v2/private/app/manifests/v1', {
        method: 'HEAD',
        headers: { Accept: MANIFEST_ACCEPT },
      });
      t.equal(header(res, 'docker-content-digest'), pushed.digest);
    },
  );

  t.test('on a bearer registry', async (t) => {
    if (!requireBin(t, 'openssl')) return;
    const reg = await startRegistry({ auth: 'bearer' });
    t.teardown(reg.stop);
    const ts = reg.tokenServer!;

    t.test('when pushing then pushImage gets a push-scoped token as the first user', async (t) => {
      await pushImage(reg, 'hub/app', 'v1', { format: 'oci' });
      t.same(ts.requests(), [{ scope: 'repository:hub/app:pull,push', user: 'alice' }]);
    });

    t.test('when an anonymous client pulls then a pull token resolves the pushed digest', async (t) => {
      const pushed = await pushImage(reg, 'hub/pub', 'v1', { format: 'oci-index' });
      const client = createClient({ url: reg.url });
      const res = await client.request('/v2/hub/pub/manifests/v1', {
        method: 'HEAD',
        headers: { Accept: MANIFEST_ACCEPT },
        scope: 'repository:hub/pub:pull',
      });
      t.equal(res.status, 200);
      t.equal(header(res, 'docker-content-digest'), pushed.digest);
    });

    t.test('when an anonymous client tries to push then the registry refuses', async (t) => {
      const client = createClient({ url: reg.url });
      const res = await client.request('/v2/hub/anon/blobs/uploads/', {
        method: 'POST',
        scope: 'repository:hub/anon:pull,push',
      });
      t.equal(res.status, 401);
    });
  });

  t.test('when the registry serves TLS then pushImage trusts caPem', async (t) => {
    if (!requireBin(t, 'openssl')) return;
    const reg = await startRegistry({ tls: true });
    t.teardown(reg.stop);
    const pushed = await pushImage(reg, 'tls/app', 'v1', { format: 'docker' });
    const res = await fetchBuffer(`${reg.url}/v2/tls/app/manifests/v1`, {
      method: 'HEAD',
      headers: { Accept: MANIFEST_ACCEPT },
      ca: reg.caPem!,
    });
    t.equal(header(res, 'docker-content-digest'), pushed.digest);
  });

  t.test('when two registries get the same push then the digests agree (deterministic bytes)', async (t) => {
    const [a, b] = await Promise.all([startRegistry(), startRegistry()]);
    t.teardown(a.stop);
    t.teardown(b.stop);
    const opts = { format: 'docker-list', seed: 'same', platforms: ['linux/amd64', 'linux/arm64'] } as const;
    t.same(await pushImage(a, 'x/y', 'v1', opts), await pushImage(b, 'other/name', 'tag', opts));
  });
}
