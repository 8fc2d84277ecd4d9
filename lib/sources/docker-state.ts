// Reads what a fresh pull left in the engine (RepoDigests, Id, platform) as the tag's state. Pure: no engine calls.
// dockerd lists only the digest it pulled by (the index digest for a multi-arch tag); Podman lists every digest the
// image is known by, index and platform manifest alike, under every name the image has.

import type { ImageInspectInfo } from 'dockerode';
import { type ImageReference, repoKey, tryParseImageReference } from '../image/reference.ts';
import type { TagState } from '../model/candidate.ts';

/**
 * The digests RepoDigests lists for this repository, matched by parsed registry + repository (so `nginx@…` counts
 * for docker.io/library/nginx and `host:5000/app@…` never counts for `host:5000/app2`), in the engine's order.
 */
export function repoDigestsFor(
  ref: Pick<ImageReference, 'registry' | 'repository'>,
  repoDigests: unknown,
): string[] {
  if (!Array.isArray(repoDigests)) return [];
  const want = repoKey(ref);
  const out: string[] = [];
  for (const entry of repoDigests) {
    if (typeof entry !== 'string') continue;
    const parsed = tryParseImageReference(entry);
    if (parsed?.digest === undefined || repoKey(parsed) !== want) continue;
    if (!out.includes(parsed.digest)) out.push(parsed.digest);
  }
  return out;
}

/** `os/arch[/variant]` of an inspected image, as the engines report it. */
export function imagePlatform(
  image: Pick<ImageInspectInfo, 'Os' | 'Architecture'> & { Variant?: string },
): string {
  return [image.Os, image.Architecture, image.Variant]
    .filter((p) => typeof p === 'string' && p !== '')
    .join('/');
}

/**
 * The tag's state after a successful pull: `digest` is dockerd's `Digest:` line when it gave one, else the first
 * repo digest the engine lists; `children` the repository's other repo digests; `configIds` the image Id. Fails
 * (soft) when the engine knows no digest for the repository, since then nothing can be compared.
 */
export function tagStateFromImage(
  ref: Pick<ImageReference, 'registry' | 'repository' | 'canonical'>,
  image: Pick<ImageInspectInfo, 'Id' | 'RepoDigests'>,
  digestLine: string | undefined,
): TagState {
  const listed = repoDigestsFor(ref, image.RepoDigests);
  const digest = digestLine ?? listed[0];
  if (digest === undefined) {
    return {
      ok: false,
      reason: 'registry-unreachable',
      message: `the engine pulled ${ref.canonical} but lists no repo digest for ${repoKey(ref)}: cannot compare`,
    };
  }
  const state: TagState = { ok: true, digest, children: listed.filter((d) => d !== digest) };
  if (typeof image.Id === 'string' && image.Id !== '') state.configIds = [image.Id];
  return state;
}
