// Manifest requests on top of the auth module: what a tag points to now (HEAD with the four manifest types,
// GET-and-hash when the digest header is missing) and the child digests of an index. Every fault of one answer
// (schema1, a body that is no manifest, a digest that does not match) is classified for that reference only.

import { bytesMatchDigest, digestOf, isDigest } from '../image/digest.ts';
import { effectiveTag } from '../image/reference.ts';
import { type AuthTarget, isFailure, type RegistryAuth } from './auth.ts';
import { statusFailure } from './failures.ts';
import type { HttpResponse } from './http.ts';
import { isSchema1MediaType, MANIFEST_ACCEPT, mediaTypeOf } from './media-types.ts';
import { failure, type ResolutionFailure, type ResolutionOk } from './resolution.ts';

const MAX_MANIFEST_BYTES = 4 * 1024 * 1024;

interface Manifest {
  schemaVersion?: unknown;
  mediaType?: unknown;
  manifests?: unknown[];
}

/** Reads manifests through `auth`; every method resolves to a value (never rejects for a registry problem). */
export class ManifestReader {
  readonly #auth: RegistryAuth;
  readonly #now: () => number;

  constructor(auth: RegistryAuth, now: () => number) {
    this.#auth = auth;
    this.#now = now;
  }

  /** The digest and media type the target's tag (or digest) points to now. */
  async resolve(target: AuthTarget): Promise<ResolutionOk | ResolutionFailure> {
    const { ref, base } = target;
    const path = `/v2/${ref.repository}/manifests/${ref.digest ?? effectiveTag(ref)}`;
    const head = await this.#fetch(target, 'HEAD', path);
    if (isFailure(head)) return head;
    if (head.status !== 200) return this.#statusFailure(target, head);
    const mediaType = mediaTypeOf(head.headers['content-type']);
    if (isSchema1MediaType(mediaType)) return schema1(target);
    const header = head.headers['docker-content-digest']?.trim();
    if (header !== undefined && header !== '') {
      if (!isDigest(header)) {
        return failure(
          'invalid-manifest',
          `${ref.familiar}: ${base.origin} sent a malformed Docker-Content-Digest for this tag`,
          { status: head.status, retryable: false },
        );
      }
      return { ok: true, digest: header, mediaType, children: [] };
    }
    // No digest header: hash the raw bytes as received (re-serialising JSON would change them).
    const get = await this.#fetch(target, 'GET', path);
    if (isFailure(get)) return get;
    if (get.status !== 200) return this.#statusFailure(target, get);
    const parsed = parseManifest(get.body);
    if (parsed === 'schema1') return schema1(target);
    if (parsed === undefined) {
      return failure(
        'invalid-manifest',
        `${ref.familiar}: ${base.origin} answered a body that is not a manifest`,
        {
          status: get.status,
          retryable: false,
        },
      );
    }
    const digest = digestOf(get.body);
    const claimed = get.headers['docker-content-digest']?.trim();
    if (claimed && claimed !== digest && claimed.startsWith('sha256:')) {
      return failure(
        'invalid-manifest',
        `${ref.familiar}: manifest body does not hash to its Docker-Content-Digest`,
        {
          status: get.status,
          retryable: false,
        },
      );
    }
    const bodyType = typeof parsed.mediaType === 'string' ? parsed.mediaType : '';
    return {
      ok: true,
      digest,
      mediaType: mediaTypeOf(get.headers['content-type']) || bodyType,
      children: [],
    };
  }

  /** Child manifest digests of the index `digest` (empty for a single manifest), checked against the digest. */
  async children(
    target: AuthTarget,
    digest: string,
  ): Promise<{ ok: true; children: string[] } | ResolutionFailure> {
    const { ref, base } = target;
    if (!isDigest(digest)) {
      return failure('invalid-manifest', `${ref.familiar}: ${JSON.stringify(digest)} is not a digest`, {
        retryable: false,
      });
    }
    const get = await this.#fetch(target, 'GET', `/v2/${ref.repository}/manifests/${digest}`);
    if (isFailure(get)) return get;
    if (get.status !== 200) return this.#statusFailure(target, get);
    if (!bytesMatchDigest(get.body, digest)) {
      return failure(
        'invalid-manifest',
        `${ref.familiar}: the body of ${digest} from ${base.origin} does not hash to it`,
        {
          status: get.status,
          retryable: false,
        },
      );
    }
    const parsed = parseManifest(get.body);
    if (parsed === undefined || parsed === 'schema1') {
      return failure('invalid-manifest', `${ref.familiar}: ${digest} from ${base.origin} is not a manifest`, {
        retryable: false,
      });
    }
    const list = Array.isArray(parsed.manifests) ? parsed.manifests : [];
    const children = list
      .map((m) => (typeof m === 'object' && m !== null ? (m as { digest?: unknown }).digest : undefined))
      .filter(isDigest);
    return { ok: true, children };
  }

  #fetch(
    target: AuthTarget,
    method: 'HEAD' | 'GET',
    path: string,
  ): Promise<HttpResponse | ResolutionFailure> {
    return this.#auth.authorizedFetch(target, {
      method,
      path,
      accept: MANIFEST_ACCEPT,
      maxBodyBytes: MAX_MANIFEST_BYTES,
    });
  }

  #statusFailure(target: AuthTarget, res: HttpResponse): ResolutionFailure {
    return statusFailure(target.ref, target.cred, res, target.base.origin, this.#now());
  }
}

function schema1(target: AuthTarget): ResolutionFailure {
  return failure(
    'unsupported-manifest',
    `${target.ref.familiar}: ${target.base.origin} answered a schema1 manifest, whose digest never matches what a ` +
      'runtime pulled: push the image again with a current client',
    { retryable: false },
  );
}

// Enough of a check that garbage is never hashed into a "new digest": a JSON object with schemaVersion 2
// ('schema1' for a schemaVersion 1 body, which is unsupported rather than malformed).
function parseManifest(body: Buffer): Manifest | 'schema1' | undefined {
  try {
    const json: unknown = JSON.parse(body.toString('utf8'));
    if (typeof json !== 'object' || json === null || Array.isArray(json)) return undefined;
    const m = json as Manifest;
    if (m.schemaVersion === 1) return 'schema1';
    if (m.schemaVersion !== 2) return undefined;
    if (m.manifests !== undefined && !Array.isArray(m.manifests)) return undefined;
    return m;
  } catch {
    return undefined;
  }
}
