// Resolves many image references for one run: one registry request per unique reference and credential set,
// bounded concurrency per registry, and a per-registry circuit that stops querying a registry after a hard fault.

import { effectiveTag, type ImageReference } from '../image/reference.ts';
import { Limiter } from '../shared/concurrency.ts';
import type { Logger, RegistryClient } from './client.ts';
import type { Credential } from './credentials.ts';
import {
  type ChildrenResult,
  type FailureKind,
  failure,
  isHardFailure,
  isReferenceFault,
  type Resolution,
  type ResolutionFailure,
} from './resolution.ts';

export interface DigestResolverOptions {
  /** Requests in flight per registry (default 8). */
  concurrencyPerRegistry?: number;
  /**
   * A 429 whose Retry-After is at most this many seconds (default 5) is waited out and retried once; a longer one
   * (or none) trips the registry's circuit for the run. A CronJob run should stay short: a long wait is better
   * spent by the next scheduled run, and the run reports the registry as rate limited.
   */
  maxRetryAfterSeconds?: number;
  logger?: Logger;
  /** Injected for tests. */
  sleep?: (ms: number) => Promise<void>;
}

/** A registry this run stopped querying, and why. */
export interface RegistryFault {
  registry: string;
  kind: FailureKind;
  status?: number;
  message: string;
}

export interface ResolveRequest {
  ref: ImageReference;
  creds: Credential[];
}

type Client = Pick<RegistryClient, 'resolve' | 'tryIndexChildren'>;

const silent: Logger = { debug() {}, warn() {} };

export class DigestResolver {
  readonly #client: Client;
  readonly #limit: number;
  readonly #maxRetryAfter: number;
  readonly #log: Logger;
  readonly #sleep: (ms: number) => Promise<void>;
  readonly #results = new Map<string, Promise<Resolution>>();
  readonly #limiters = new Map<string, Limiter>();
  readonly #faults = new Map<string, ResolutionFailure>();
  readonly #pausedUntil = new Map<string, number>();

  constructor(client: Client, opts: DigestResolverOptions = {}) {
    this.#client = client;
    this.#limit = Math.max(1, Math.floor(opts.concurrencyPerRegistry ?? 8));
    this.#maxRetryAfter = opts.maxRetryAfterSeconds ?? 5;
    this.#log = opts.logger ?? silent;
    this.#sleep = opts.sleep ?? ((ms) => new Promise((r) => setTimeout(r, ms)));
  }

  /** What the reference points to now; the same reference and credentials share one request. Never rejects. */
  resolve(ref: ImageReference, creds: Credential[] = []): Promise<Resolution> {
    const key = `${ref.registry}/${ref.repository}:${effectiveTag(ref)}@${ref.digest ?? ''}|${creds.map((c) => c.identity).join(',')}`;
    let p = this.#results.get(key);
    if (p === undefined) {
      p = this.#guard(ref, () => this.#resolveOnce(ref, creds));
      this.#results.set(key, p);
    }
    return p;
  }

  /** Resolves every request (deduplicated), results in request order. Never rejects. */
  resolveAll(requests: ResolveRequest[]): Promise<Resolution[]> {
    return Promise.all(requests.map((r) => this.resolve(r.ref, r.creds)));
  }

  /** Child digests of an index, under the same circuit and limits. Never rejects. */
  indexChildren(ref: ImageReference, digest: string, creds: Credential[] = []): Promise<ChildrenResult> {
    return this.#guard(ref, async () => {
      const r = await this.#client.tryIndexChildren(ref, digest, creds);
      if (!r.ok) this.#noteFailure(ref.registry, r);
      return r;
    });
  }

  /** Registries that failed hard this run (the run must report them and exit non-zero). */
  faults(): RegistryFault[] {
    return [...this.#faults].map(([registry, f]) => {
      const out: RegistryFault = { registry, kind: f.kind, message: f.message };
      if (f.status !== undefined) out.status = f.status;
      return out;
    });
  }

  /** True once the registry's circuit is open for this run. */
  isFaulted(registry: string): boolean {
    return this.#faults.has(registry);
  }

  // Runs `work` in a registry slot unless the circuit is open; turns any exception into a failure value.
  async #guard<T extends Resolution | ChildrenResult>(
    ref: ImageReference,
    work: () => Promise<T>,
  ): Promise<T> {
    const registry = ref.registry;
    const release = await this.#limiter(registry).acquire();
    try {
      const tripped = this.#notQueried(registry);
      if (tripped) return tripped as T;
      const pause = (this.#pausedUntil.get(registry) ?? 0) - Date.now();
      if (pause > 0) await this.#sleep(pause);
      return await work();
    } catch (err) {
      const f = failure(
        'protocol',
        `${ref.familiar}: unexpected error: ${err instanceof Error ? err.message : err}`,
      );
      return f as T;
    } finally {
      release();
    }
  }

  async #resolveOnce(ref: ImageReference, creds: Credential[]): Promise<Resolution> {
    let r = await this.#client.resolve(ref, creds);
    const wait = r.ok ? undefined : r.retryAfterSeconds;
    if (!r.ok && r.kind === 'rate-limited' && wait !== undefined && wait <= this.#maxRetryAfter) {
      this.#log.warn(
        { registry: ref.registry, retryAfterSeconds: wait },
        'registry rate limiting: waiting once',
      );
      this.#pausedUntil.set(ref.registry, Date.now() + wait * 1000);
      await this.#sleep(wait * 1000);
      const tripped = this.#notQueried(ref.registry);
      if (tripped) return tripped;
      r = await this.#client.resolve(ref, creds);
    }
    if (!r.ok) this.#noteFailure(ref.registry, r);
    if (!r.ok && isReferenceFault(r)) {
      // One odd image: reported for its pods, while the registry stays open for every other tag.
      this.#log.warn(
        { image: ref.familiar, registry: ref.registry, kind: r.kind, status: r.status },
        `${r.message} (this reference only: the registry is still queried)`,
      );
    }
    return r;
  }

  #noteFailure(registry: string, r: ResolutionFailure): void {
    if (!isHardFailure(r) || this.#faults.has(registry)) return;
    this.#faults.set(registry, r);
    this.#log.warn(
      { registry, kind: r.kind, status: r.status, reason: r.message },
      'registry failed: not queried again',
    );
  }

  #notQueried(registry: string): ResolutionFailure | undefined {
    const cause = this.#faults.get(registry);
    if (cause === undefined) return undefined;
    return failure(cause.kind, `not queried: ${registry} failed earlier in this run: ${cause.message}`, {
      retryable: cause.retryable,
    });
  }

  #limiter(registry: string): Limiter {
    let s = this.#limiters.get(registry);
    if (s === undefined) {
      s = new Limiter(this.#limit);
      this.#limiters.set(registry, s);
    }
    return s;
  }
}
