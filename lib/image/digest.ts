// Content digests (`sha256:<hex>`): validation and hashing of raw bytes, shared by image references, imageIDs and
// the registry client so every part of the product agrees on what a well-formed digest is.

import { createHash } from 'node:crypto';

/** Hex length per algorithm, as go-digest registers them (lower-case hex only). */
const HEX_LENGTH: Readonly<Record<string, number>> = { sha256: 64, sha384: 96, sha512: 128 };

/** True when `s` is `<algorithm>:<lower hex>` for sha256, sha384 or sha512 with the exact length. Never throws. */
export function isDigest(s: unknown): s is string {
  if (typeof s !== 'string') return false;
  const colon = s.indexOf(':');
  if (colon < 0) return false;
  const len = HEX_LENGTH[s.slice(0, colon)];
  if (len === undefined) return false;
  const hex = s.slice(colon + 1);
  return hex.length === len && /^[a-f0-9]+$/.test(hex);
}

/** Digest of raw bytes with the given algorithm (sha256 by default). Throws on an unknown algorithm. */
export function digestOf(bytes: Uint8Array, algorithm = 'sha256'): string {
  if (HEX_LENGTH[algorithm] === undefined) throw new Error(`unsupported digest algorithm ${algorithm}`);
  return `${algorithm}:${createHash(algorithm).update(bytes).digest('hex')}`;
}

/** True when the raw bytes hash to `digest` (using the digest's own algorithm). False for a malformed digest. */
export function bytesMatchDigest(bytes: Uint8Array, digest: string): boolean {
  if (!isDigest(digest)) return false;
  const algorithm = digest.slice(0, digest.indexOf(':'));
  return digestOf(bytes, algorithm) === digest;
}

/** `sha256:0123456789ab`: enough to tell digests apart in messages; `missing` when there is none. */
export function shortDigest(digest: string | undefined, missing = 'unknown'): string {
  if (!digest) return missing;
  const colon = digest.indexOf(':');
  return colon < 0 ? digest.slice(0, 12) : digest.slice(0, colon + 13);
}
