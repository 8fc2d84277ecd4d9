// The registry client: what a tag points to now and the children of an index, for one run. A facade over the
// layers below it: http.ts (transport, trust, redirects), auth.ts (every Authorization decision), manifests.ts
// (manifest requests), failures.ts (classification). Failures come back as classified Resolution values; nothing
// here throws for a registry problem.

import { type ImageReference, repoKey } from '../image/reference.ts';
import { RegistryError } from '../shared/errors.ts';
import { type Logger, RegistryAuth, type RegistryStats } from './auth.ts';
import type { Credential } from './credentials.ts';
import { HttpTransport } from './http.ts';
import { ManifestReader } from './manifests.ts';
import { type ChildrenResult, failure, type Resolution } from './resolution.ts';

export type { AuthorizedRequest, AuthTarget, Logger, RegistryStats, RepositoryRef } from './auth.ts';
export type { ChildrenResult, Resolution, ResolutionFailure, ResolutionOk } from './resolution.ts';

export interface RegistryClientOptions {
  /** host[:port] of registries (and token realms) spoken to over plain HTTP. Nothing is insecure by default. */
  insecureRegistries?: string[];
  /** Extra CA certificate(s), PEM, trusted in addition to Node's default trust (which keeps NODE_EXTRA_CA_CERTS). */
  ca?: string | Buffer;
  /** Whole-request timeout (default 15 s). */
  timeoutMs?: number;
  userAgent?: string;
  /** Connections per registry origin (default 8). */
  concurrencyPerRegistry?: number;
  logger?: Logger;
  /** Clock for token expiry (epoch ms); tests inject one. */
  now?: () => number;
}

const silent: Logger = { debug() {}, warn() {} };

export class RegistryClient {
  readonly stats: RegistryStats = { heads: 0, gets: 0, tokens: 0 };
  /** The auth layer, for requests other than manifests (tag listing): authorizedFetch, withCredentials. */
  readonly auth: RegistryAuth;
  readonly #transport: HttpTransport;
  readonly #manifests: ManifestReader;
  readonly #children = new Map<string, Promise<ChildrenResult>>();

  constructor(opts: RegistryClientOptions = {}) {
    const insecure = new Set((opts.insecureRegistries ?? []).map(normaliseHost).filter((h) => h !== ''));
    const now = opts.now ?? Date.now;
    const transport: ConstructorParameters<typeof HttpTransport>[0] = {
      timeoutMs: opts.timeoutMs ?? 15_000,
      maxSocketsPerOrigin: Math.max(1, opts.concurrencyPerRegistry ?? 8),
      insecureHosts: insecure,
    };
    if (opts.ca !== undefined) transport.ca = opts.ca;
    this.#transport = new HttpTransport(transport);
    this.auth = new RegistryAuth({
      transport: this.#transport,
      insecure,
      userAgent: opts.userAgent ?? 'k8s-auto-updater',
      logger: opts.logger ?? silent,
      now,
      stats: this.stats,
    });
    this.#manifests = new ManifestReader(this.auth, now);
  }

  /**
   * What the reference's tag (or digest) points to now. `creds` are tried in order (next on 401/403/404); with none
   * the registry is asked anonymously. Never rejects: registry problems come back as `{ ok: false }`.
   */
  async resolve(ref: ImageReference, creds: Credential[] = []): Promise<Resolution> {
    try {
      return await this.auth.withCredentials(ref, creds, (target) => this.#manifests.resolve(target));
    } catch (err) {
      return failure(
        'protocol',
        `${ref.familiar}: unexpected error: ${err instanceof Error ? err.message : err}`,
      );
    }
  }

  /**
   * Child manifest digests of the index `digest` (empty for a single manifest), read once per digest per run and
   * checked against the digest. Rejects with RegistryError (retryable for 429/5xx/network) when it cannot.
   */
  async indexChildren(ref: ImageReference, digest: string, creds: Credential[] = []): Promise<string[]> {
    const r = await this.tryIndexChildren(ref, digest, creds);
    if (r.ok) return r.children;
    throw new RegistryError(r.message, {
      retryable: r.retryable,
      ...(r.status === undefined ? {} : { status: r.status }),
    });
  }

  /** indexChildren without the exception: a ChildrenResult, never rejects. */
  tryIndexChildren(ref: ImageReference, digest: string, creds: Credential[] = []): Promise<ChildrenResult> {
    const key = `${repoKey(ref)}@${digest}`;
    let p = this.#children.get(key);
    if (p === undefined) {
      p = this.auth
        .withCredentials(ref, creds, (target) => this.#manifests.children(target, digest))
        .catch((err: unknown) =>
          failure(
            'protocol',
            `${ref.familiar}: unexpected error: ${err instanceof Error ? err.message : err}`,
          ),
        );
      const pending = p;
      this.#children.set(key, pending);
      // Only answers are kept: a failure (perhaps with another pod's wrong credentials) may be retried.
      void pending.then((r) => {
        if (!r.ok && this.#children.get(key) === pending) this.#children.delete(key);
      });
    }
    return p;
  }

  /** Closes keep-alive connections so the process can exit promptly. */
  close(): void {
    this.#transport.close();
  }
}

function normaliseHost(entry: string): string {
  return entry
    .trim()
    .replace(/^[a-z][a-z0-9+.-]*:\/\//i, '')
    .replace(/\/.*$/, '')
    .toLowerCase();
}
