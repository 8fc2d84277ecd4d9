// Bearer token bookkeeping: reading a token endpoint's answer and caching tokens per (realm, service, scope,
// credential) until shortly before they expire, so a run costs one token per repository.

/** distribution's token spec: expires_in defaults to 60 s, and no token lives less than that. */
export const DEFAULT_TOKEN_TTL_SECONDS = 60;

export interface TokenAnswer {
  token: string;
  /** Epoch milliseconds after which the token must not be used (expiry minus a safety margin). */
  expiresAt: number;
}

/**
 * Reads a token endpoint body (`token` or `access_token`, `expires_in`, optional `issued_at`). Returns undefined
 * when it is not JSON or has no token. `now` is epoch ms.
 */
export function parseTokenResponse(body: Buffer | string, now: number): TokenAnswer | undefined {
  let json: unknown;
  try {
    json = JSON.parse(body.toString());
  } catch {
    return undefined;
  }
  if (typeof json !== 'object' || json === null) return undefined;
  const o = json as Record<string, unknown>;
  const token =
    typeof o.token === 'string' && o.token !== ''
      ? o.token
      : typeof o.access_token === 'string' && o.access_token !== ''
        ? o.access_token
        : undefined;
  if (token === undefined) return undefined;
  const expiresIn =
    typeof o.expires_in === 'number' && Number.isFinite(o.expires_in) && o.expires_in > 0
      ? o.expires_in // a shorter lifetime than the spec's minimum is trusted: using an expired token costs a 401
      : DEFAULT_TOKEN_TTL_SECONDS;
  // issued_at moves the start back when the server issued the token earlier than we received it; a future
  // issued_at (clock skew) must not extend the lifetime, so the start is never later than now.
  const issued = typeof o.issued_at === 'string' ? Date.parse(o.issued_at) : Number.NaN;
  const start = Number.isFinite(issued) ? Math.min(issued, now) : now;
  const ttlMs = expiresIn * 1000;
  const margin = Math.min(10_000, ttlMs / 10);
  return { token, expiresAt: start + ttlMs - margin };
}

/** The cache key for a token: realm, service, scope and the credential's non-secret identity. */
export function tokenKey(
  realm: string,
  service: string | undefined,
  scope: string,
  identity: string,
): string {
  return JSON.stringify([realm, service ?? '', scope, identity]);
}

/** Tokens and in-flight token requests by key; a request in flight is shared by everyone who needs the same token. */
export class TokenCache {
  readonly #tokens = new Map<string, TokenAnswer>();
  readonly #inflight = new Map<string, Promise<unknown>>();
  readonly #now: () => number;

  constructor(now: () => number = Date.now) {
    this.#now = now;
  }

  /** A cached token that is still valid, else undefined (and the stale entry is dropped). */
  get(key: string): string | undefined {
    const hit = this.#tokens.get(key);
    if (hit === undefined) return undefined;
    if (hit.expiresAt <= this.#now()) {
      this.#tokens.delete(key);
      return undefined;
    }
    return hit.token;
  }

  set(key: string, answer: TokenAnswer): void {
    this.#tokens.set(key, answer);
  }

  /** Drops the entry when it still holds `token` (the registry rejected it: do not send it again). */
  invalidate(key: string, token: string): void {
    if (this.#tokens.get(key)?.token === token) this.#tokens.delete(key);
  }

  /** Runs `fetch` once per key at a time; concurrent callers share its promise. */
  async once<T>(key: string, fetch: () => Promise<T>): Promise<T> {
    const running = this.#inflight.get(key);
    if (running !== undefined) return running as Promise<T>;
    const p = fetch().finally(() => this.#inflight.delete(key));
    this.#inflight.set(key, p);
    return p;
  }
}
