// Reads `containerStatuses[].imageID` in every runtime's format and says whether it carries a manifest digest
// (comparable with the registry) or only an image config ID (never comparable: unknown means keep).

import { isDigest } from './digest.ts';

export type ParsedImageID =
  /** A manifest digest the tag resolved to at pull time (index digest for multi-arch). */
  | { kind: 'repo-digest'; digest: string; repository?: string }
  /** An image config ID: not a manifest digest, never compared with the registry. */
  | { kind: 'config-id'; id: string }
  | { kind: 'unknown' };

const SCHEME = /^([a-z][a-z0-9+.-]*):\/\//;
const BARE_ID = /^[a-f0-9]{64}$/;

/**
 * Classifies an imageID: `docker.io/library/nginx@sha256:…` and `docker-pullable://nginx@sha256:…` are repo
 * digests; `docker://sha256:…` and bare `sha256:…` are config IDs; anything else (empty, malformed digests,
 * unknown schemes) is unknown. Never throws.
 */
export function parseImageID(imageID: string): ParsedImageID {
  if (typeof imageID !== 'string') return { kind: 'unknown' };
  let s = imageID.trim();
  if (s === '') return { kind: 'unknown' };
  const scheme = SCHEME.exec(s);
  if (scheme) {
    if (scheme[1] !== 'docker' && scheme[1] !== 'docker-pullable') return { kind: 'unknown' };
    s = s.slice(scheme[0].length);
  }
  const at = s.lastIndexOf('@');
  if (at >= 0) {
    const digest = s.slice(at + 1);
    let repository = s.slice(0, at);
    if (!isDigest(digest)) return { kind: 'unknown' };
    // `repo:tag@digest` (seen from some Docker versions): the tag is not part of the repository.
    const colon = repository.lastIndexOf(':');
    if (colon > repository.lastIndexOf('/')) repository = repository.slice(0, colon);
    // `docker://repo@sha256:` does not occur in practice; treat any repo@digest as a repo digest.
    return repository === ''
      ? { kind: 'config-id', id: digest }
      : { kind: 'repo-digest', digest, repository };
  }
  // No repository: the digest of the image config (Docker's image ID, or CRI-O/`kind load` without a repo digest).
  if (isDigest(s)) return { kind: 'config-id', id: s };
  if (BARE_ID.test(s)) return { kind: 'config-id', id: `sha256:${s}` };
  return { kind: 'unknown' };
}

/** The manifest digest an imageID proves the container runs, or undefined when it proves none. */
export function runningDigest(imageID: string): string | undefined {
  const parsed = parseImageID(imageID);
  return parsed.kind === 'repo-digest' ? parsed.digest : undefined;
}
