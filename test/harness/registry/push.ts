// Pushes deterministic tiny images through the distribution push API (no daemon, no skopeo), authenticating like a
// client, and checks that the registry agrees on every digest.

import { createClient, type RegistryClient } from './client.ts';
import { header } from './http.ts';
import { type Blob, buildIndex, buildManifest, parsePlatform } from './image.ts';
import { MANIFEST_ACCEPT } from './media-types.ts';
import type { PushedImage, PushOptions, Registry } from './types.ts';

/** Pushes an image and tags it; rejects on any registry error or when the registry's digest differs from ours. */
export async function pushImage(
  reg: Registry,
  repo: string,
  tag: string,
  opts: PushOptions = {},
): Promise<PushedImage> {
  const format = opts.format ?? 'oci';
  const seed = opts.seed ?? 'seed';
  const multi = format === 'oci-index' || format === 'docker-list';
  const platforms = (opts.platforms ?? (multi ? ['linux/amd64', 'linux/arm64'] : ['linux/amd64'])).map(
    parsePlatform,
  );
  const kind = format === 'oci' || format === 'oci-index' ? 'oci' : 'docker';
  const client = clientFor(reg);
  const scope = `repository:${repo}:pull,push`;
  const first = platforms[0];
  if (first === undefined) throw new Error('pushImage: no platform');

  if (!multi) {
    const m = buildManifest(kind, seed, first);
    await pushBlob(client, repo, scope, m.config);
    await pushBlob(client, repo, scope, m.layer);
    const digest = await putManifest(client, repo, scope, tag, m.mediaType, m.bytes, m.digest);
    return { digest, mediaType: m.mediaType, configDigest: m.config.digest };
  }
  const children = platforms.map((p) => buildManifest(kind, seed, p));
  for (const c of children) {
    await pushBlob(client, repo, scope, c.config);
    await pushBlob(client, repo, scope, c.layer);
    // Children go by digest, as docker buildx and skopeo push them: only the index carries the tag.
    await putManifest(client, repo, scope, c.digest, c.mediaType, c.bytes, c.digest);
  }
  const index = buildIndex(kind, children);
  const digest = await putManifest(client, repo, scope, tag, index.mediaType, index.bytes, index.digest);
  return {
    digest,
    mediaType: index.mediaType,
    children: children.map((c) => ({
      digest: c.digest,
      configDigest: c.config.digest,
      platform: c.platform,
    })),
  };
}

/** Removes a tag by deleting the manifest it points to (distribution 2.8 untags every tag on it); rejects on errors. */
export async function deleteTag(reg: Registry, repo: string, tag: string): Promise<void> {
  const client = clientFor(reg);
  const scope = `repository:${repo}:pull,push,delete`;
  const head = await client.request(`/v2/${repo}/manifests/${tag}`, {
    method: 'HEAD',
    headers: { Accept: MANIFEST_ACCEPT },
    scope,
  });
  const digest = header(head, 'docker-content-digest');
  if (head.status !== 200 || !digest)
    throw new Error(`deleteTag ${repo}:${tag}: HEAD answered ${head.status}`);
  const res = await client.request(`/v2/${repo}/manifests/${digest}`, { method: 'DELETE', scope });
  if (res.status !== 202)
    throw new Error(`deleteTag ${repo}:${tag}: DELETE answered ${res.status} ${res.body.toString()}`);
}

function clientFor(reg: Registry): RegistryClient {
  return createClient({
    url: reg.url,
    ...(reg.caPem !== undefined ? { caPem: reg.caPem } : {}),
    ...(reg.credentials !== undefined ? { credentials: reg.credentials } : {}),
  });
}

async function pushBlob(client: RegistryClient, repo: string, scope: string, b: Blob): Promise<void> {
  const exists = await client.request(`/v2/${repo}/blobs/${b.digest}`, { method: 'HEAD', scope });
  if (exists.status === 200) return;
  const start = await client.request(`/v2/${repo}/blobs/uploads/`, { method: 'POST', scope });
  const location = header(start, 'location');
  if (start.status !== 202 || !location) {
    throw new Error(
      `push blob ${b.digest} to ${repo}: POST answered ${start.status} ${start.body.toString()}`,
    );
  }
  // Location may be absolute or relative, and already carries a query (the upload state).
  const url = new URL(location, 'http://placeholder');
  url.searchParams.set('digest', b.digest);
  const target = /^https?:/.test(location) ? url.href : `${url.pathname}${url.search}`;
  const put = await client.request(target, {
    method: 'PUT',
    headers: { 'Content-Type': 'application/octet-stream' },
    body: b.bytes,
    scope,
  });
  if (put.status !== 201)
    throw new Error(`push blob ${b.digest} to ${repo}: PUT answered ${put.status} ${put.body.toString()}`);
}

async function putManifest(
  client: RegistryClient,
  repo: string,
  scope: string,
  reference: string,
  mediaType: string,
  bytes: Buffer,
  expected: string,
): Promise<string> {
  const res = await client.request(`/v2/${repo}/manifests/${reference}`, {
    method: 'PUT',
    headers: { 'Content-Type': mediaType },
    body: bytes,
    scope,
  });
  if (res.status !== 201)
    throw new Error(`push manifest ${repo}:${reference}: PUT answered ${res.status} ${res.body.toString()}`);
  const digest = header(res, 'docker-content-digest');
  if (digest !== expected)
    throw new Error(`push manifest ${repo}:${reference}: registry digest ${digest}, computed ${expected}`);
  return digest;
}
