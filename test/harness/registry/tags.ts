// Many tags fast: the manifest an existing tag points to, PUT again under other tags (the registry stores it once).
// What a repository with thousands of tags (library/node has 9,000+) needs, in seconds instead of pushes.

import { createClient } from './client.ts';
import { MANIFEST_ACCEPT } from './media-types.ts';
import type { Registry } from './types.ts';

/** Tags the manifest of `repo:from` as each of `tags` (`concurrency` PUTs at a time); rejects on a refusal. */
export async function tagImage(
  reg: Registry,
  repo: string,
  from: string,
  tags: readonly string[],
  concurrency = 16,
): Promise<void> {
  const client = createClient({
    url: reg.url,
    ...(reg.caPem !== undefined ? { caPem: reg.caPem } : {}),
    ...(reg.credentials !== undefined ? { credentials: reg.credentials } : {}),
  });
  const scope = `repository:${repo}:pull,push`;
  const got = await client.request(`/v2/${repo}/manifests/${from}`, {
    method: 'GET',
    headers: { Accept: MANIFEST_ACCEPT },
    scope,
  });
  if (got.status !== 200) throw new Error(`tagImage ${repo}:${from}: GET answered ${got.status}`);
  const type = String(got.headers['content-type'] ?? '');
  let next = 0;
  const worker = async () => {
    while (next < tags.length) {
      const tag = tags[next++] as string;
      const res = await client.request(`/v2/${repo}/manifests/${tag}`, {
        method: 'PUT',
        headers: { 'Content-Type': type },
        body: got.body,
        scope,
      });
      if (res.status !== 201)
        throw new Error(`tagImage ${repo}:${tag}: PUT answered ${res.status} ${res.body.toString()}`);
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, tags.length) }, worker));
}
