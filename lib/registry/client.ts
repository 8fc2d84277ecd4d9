// The registry client: learns what a tag points to now (HEAD with the four manifest types, GET-and-hash when the
// digest header is missing), answers Bearer/Basic challenges with the right credential, and reads index children.
// Failures come back as classified Resolution values; nothing here throws for a registry problem.

import { bytesMatchDigest, digestOf, isDigest } from '../image/digest.ts';
import { effectiveTag, type ImageReference, registryApiHost, repoKey } from '../image/reference.ts';
import { RegistryError } from '../shared/errors.ts';
import { type Challenge, parseWWWAuthenticate, preferredChallenge } from './challenge.ts';
import type { Credential } from './credentials.ts';
import { type HttpResponse, HttpTransport, TransportError } from './http.ts';
import { isSchema1MediaType, MANIFEST_ACCEPT, mediaTypeOf } from './media-types.ts';
import {
  type ChildrenResult,
  failure,
  isHardFailure,
  parseRetryAfter,
  type Resolution,
  type ResolutionFailure,
  type ResolutionOk,
} from './resolution.ts';
import { parseTokenResponse, TokenCache, tokenKey } from './tokens.ts';

export type { ChildrenResult, Resolution, ResolutionFailure, ResolutionOk } from './resolution.ts';

/** The slice of a pino logger the client uses. Messages carry image, registry and status, never credentials. */
export interface Logger {
  debug(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
}

export interface RegistryClientOptions {
  /** host[:port] of registries (and token realms) spoken to over plain HTTP. Nothing is insecure by default. */
  insecureRegistries?: string[];
  /** Extra CA certificate(s), PEM, trusted in addition to the system roots. */
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

/** Requests made, for the run summary and the benchmark. */
export interface RegistryStats {
  heads: number;
  gets: number;
  tokens: number;
}

const MAX_MANIFEST_BYTES = 4 * 1024 * 1024;
const MAX_TOKEN_BYTES = 1024 * 1024;
const MAX_ERROR_TEXT = 200;

interface Ctx {
  ref: ImageReference;
  cred: Credential | undefined;
  base: URL;
  /** API host[:port]: the key for the auth scheme this registry asked for. */
  host: string;
}

type Outcome = HttpResponse | ResolutionFailure;

function isFailure(o: Outcome): o is ResolutionFailure {
  return (o as ResolutionFailure).ok === false;
}

const silent: Logger = { debug() {}, warn() {} };

export class RegistryClient {
  readonly stats: RegistryStats = { heads: 0, gets: 0, tokens: 0 };
  readonly #transport: HttpTransport;
  readonly #tokens: TokenCache;
  readonly #insecure: ReadonlySet<string>;
  readonly #userAgent: string;
  readonly #log: Logger;
  readonly #now: () => number;
  /** The challenge each registry host answered with last: later repositories get their token up front. */
  readonly #hostAuth = new Map<string, Challenge>();
  /** Per host: the challenge `GET /v2/` announced (see #ping). */
  readonly #pings = new Map<string, Promise<Challenge | undefined>>();
  readonly #children = new Map<string, Promise<ChildrenResult>>();

  constructor(opts: RegistryClientOptions = {}) {
    this.#insecure = new Set((opts.insecureRegistries ?? []).map(normaliseHost).filter((h) => h !== ''));
    this.#now = opts.now ?? Date.now;
    this.#tokens = new TokenCache(this.#now);
    this.#userAgent = opts.userAgent ?? 'k8s-auto-updater';
    this.#log = opts.logger ?? silent;
    const transport: ConstructorParameters<typeof HttpTransport>[0] = {
      timeoutMs: opts.timeoutMs ?? 15_000,
      maxSocketsPerOrigin: Math.max(1, opts.concurrencyPerRegistry ?? 8),
      insecureHosts: this.#insecure,
    };
    if (opts.ca !== undefined) transport.ca = opts.ca;
    this.#transport = new HttpTransport(transport);
  }

  /**
   * What the reference's tag (or digest) points to now. `creds` are tried in order (next on 401/403/404); with none
   * the registry is asked anonymously. Never rejects: registry problems come back as `{ ok: false }`.
   */
  async resolve(ref: ImageReference, creds: Credential[] = []): Promise<Resolution> {
    try {
      return await this.#withCredentials(ref, creds, (ctx) => this.#resolveWith(ctx));
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
      p = this.#withCredentials(ref, creds, (ctx) => this.#childrenWith(ctx, digest)).catch((err: unknown) =>
        failure('protocol', `${ref.familiar}: unexpected error: ${err instanceof Error ? err.message : err}`),
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

  async #withCredentials<T extends { ok: true }>(
    ref: ImageReference,
    creds: Credential[],
    attempt: (ctx: Ctx) => Promise<T | ResolutionFailure>,
  ): Promise<T | ResolutionFailure> {
    // A credential goes only to the registry it is keyed for, whatever the caller passed.
    const usable = creds.filter((c) => {
      const ok = c.matches(ref);
      if (!ok)
        this.#log.warn(
          { image: ref.familiar, credential: c.toString() },
          'credential not keyed for this image',
        );
      return ok;
    });
    const attempts: Array<Credential | undefined> = usable.length > 0 ? usable : [undefined];
    let soft: ResolutionFailure | undefined;
    for (const cred of attempts) {
      const r = await attempt(this.#ctx(ref, cred));
      if (r.ok) return r;
      if (r.kind !== 'unauthorized' && r.kind !== 'not-found') return r;
      // A 404 says more than a 401 from another credential: keep it as the answer.
      if (soft === undefined || soft.kind === 'unauthorized') soft = r;
    }
    return soft as ResolutionFailure;
  }

  #ctx(ref: ImageReference, cred: Credential | undefined): Ctx {
    const host = registryApiHost(ref.registry);
    const insecure = this.#insecure.has(host) || this.#insecure.has(ref.registry);
    return { ref, cred, host, base: new URL(`${insecure ? 'http' : 'https'}://${host}`) };
  }

  async #resolveWith(ctx: Ctx): Promise<ResolutionOk | ResolutionFailure> {
    const { ref } = ctx;
    const path = `/v2/${ref.repository}/manifests/${ref.digest ?? effectiveTag(ref)}`;
    const head = await this.#send(ctx, 'HEAD', path);
    if (isFailure(head)) return head;
    if (head.status !== 200) return this.#statusFailure(ctx, head);
    const mediaType = mediaTypeOf(head.headers['content-type']);
    if (isSchema1MediaType(mediaType)) {
      return failure('protocol', `${ref.familiar}: ${ctx.base.origin} answered a schema1 manifest`, {
        retryable: false,
      });
    }
    const header = head.headers['docker-content-digest']?.trim();
    if (header !== undefined && header !== '') {
      if (!isDigest(header)) {
        return failure(
          'protocol',
          `${ref.familiar}: ${ctx.base.origin} sent a malformed Docker-Content-Digest`,
          {
            status: head.status,
          },
        );
      }
      return { ok: true, digest: header, mediaType, children: [] };
    }
    // No digest header: hash the raw bytes as received (re-serialising JSON would change them).
    const get = await this.#send(ctx, 'GET', path);
    if (isFailure(get)) return get;
    if (get.status !== 200) return this.#statusFailure(ctx, get);
    const manifest = parseManifest(get.body);
    if (manifest === undefined) {
      return failure(
        'protocol',
        `${ref.familiar}: ${ctx.base.origin} answered a body that is not a manifest`,
        {
          status: get.status,
        },
      );
    }
    const digest = digestOf(get.body);
    const claimed = get.headers['docker-content-digest']?.trim();
    if (claimed && claimed !== digest && claimed.startsWith('sha256:')) {
      return failure(
        'protocol',
        `${ref.familiar}: manifest body does not hash to its Docker-Content-Digest`,
        {
          status: get.status,
        },
      );
    }
    const bodyType = typeof manifest.mediaType === 'string' ? manifest.mediaType : '';
    return {
      ok: true,
      digest,
      mediaType: mediaTypeOf(get.headers['content-type']) || bodyType,
      children: [],
    };
  }

  async #childrenWith(
    ctx: Ctx,
    digest: string,
  ): Promise<{ ok: true; children: string[] } | ResolutionFailure> {
    const { ref } = ctx;
    if (!isDigest(digest))
      return failure('protocol', `${ref.familiar}: ${JSON.stringify(digest)} is not a digest`);
    const get = await this.#send(ctx, 'GET', `/v2/${ref.repository}/manifests/${digest}`);
    if (isFailure(get)) return get;
    if (get.status !== 200) return this.#statusFailure(ctx, get);
    if (!bytesMatchDigest(get.body, digest)) {
      return failure(
        'protocol',
        `${ref.familiar}: the body of ${digest} from ${ctx.base.origin} does not hash to it`,
        {
          status: get.status,
        },
      );
    }
    const manifest = parseManifest(get.body);
    if (manifest === undefined) {
      return failure('protocol', `${ref.familiar}: ${digest} from ${ctx.base.origin} is not a manifest`);
    }
    const list = Array.isArray(manifest.manifests) ? manifest.manifests : [];
    const children = list
      .map((m) => (typeof m === 'object' && m !== null ? (m as { digest?: unknown }).digest : undefined))
      .filter(isDigest);
    return { ok: true, children };
  }

  /** One request with the auth this registry wants; answers one 401 challenge and retries once. */
  async #send(ctx: Ctx, method: 'HEAD' | 'GET', path: string): Promise<Outcome> {
    const url = new URL(path, ctx.base);
    const known = this.#hostAuth.get(ctx.host) ?? (await this.#ping(ctx));
    return this.#sendWith(ctx, method, url, known);
  }

  /**
   * The challenge a registry announces on `GET /v2/`, asked once per host and shared by concurrent callers (as docker
   * clients do): a burst of first requests then goes out authenticated instead of each collecting the same 401.
   * Only a hint: a request that still gets a 401 answers its own challenge.
   */
  #ping(ctx: Ctx): Promise<Challenge | undefined> {
    let p = this.#pings.get(ctx.host);
    if (p === undefined) {
      p = this.#transport
        .request({
          method: 'GET',
          url: new URL('/v2/', ctx.base),
          headers: { 'user-agent': this.#userAgent },
          maxBodyBytes: 64 * 1024,
        })
        .then(
          (res) =>
            res.status === 401
              ? preferredChallenge(parseWWWAuthenticate(res.headers['www-authenticate'] ?? ''))
              : undefined,
          () => undefined,
        );
      this.#pings.set(ctx.host, p);
    }
    return p;
  }

  async #sendWith(
    ctx: Ctx,
    method: 'HEAD' | 'GET',
    url: URL,
    known: Challenge | undefined,
  ): Promise<Outcome> {
    let pre = await this.#authorization(ctx, known, false, undefined);
    // The token service itself is down or rate limiting: asking again through a fresh 401 would only repeat that.
    if (typeof pre === 'object' && isHardFailure(pre)) return pre;
    if (typeof pre === 'object') {
      // The remembered challenge no longer works: forget it and let this request's own 401 say what to do.
      if (this.#hostAuth.get(ctx.host) === known) this.#hostAuth.delete(ctx.host);
      pre = undefined;
    }
    const first = await this.#http(ctx, method, url, pre);
    if (isFailure(first) || first.status !== 401) return first;

    const challenge = preferredChallenge(parseWWWAuthenticate(first.headers['www-authenticate'] ?? ''));
    if (challenge === undefined) return first;
    const next = await this.#authorization(ctx, challenge, true, pre);
    if (typeof next === 'object') return next;
    // Remembered only once it produced credentials, so a broken challenge cannot poison later requests.
    this.#hostAuth.set(ctx.host, challenge);
    // Nothing new to offer (no credential for Basic, the same header already refused): the 401 stands.
    if (next === undefined || next === pre) return first;
    return this.#http(ctx, method, url, next);
  }

  /**
   * The Authorization value for a challenge: Basic from the credential, or a Bearer token from the realm the
   * registry announced. `rejected` is a value the registry just refused (a cached token is then fetched anew).
   */
  async #authorization(
    ctx: Ctx,
    challenge: Challenge | undefined,
    fromThisAnswer: boolean,
    rejected: string | undefined,
  ): Promise<string | undefined | ResolutionFailure> {
    const registryToken = ctx.cred?.registryToken();
    if (registryToken !== undefined) return `Bearer ${registryToken}`;
    if (challenge === undefined) return undefined;
    if (challenge.scheme === 'basic') return ctx.cred?.basicAuthorization();
    if (challenge.scheme !== 'bearer') return undefined;
    const realm = challenge.params.realm;
    if (!realm) {
      return failure(
        'protocol',
        `${ctx.ref.familiar}: ${ctx.base.origin} sent a Bearer challenge without a realm`,
        {
          status: 401,
        },
      );
    }
    // A cached challenge's scope names another repository; a fresh one may omit it.
    const scope =
      fromThisAnswer && challenge.params.scope
        ? challenge.params.scope
        : `repository:${ctx.ref.repository}:pull`;
    return this.#bearer(ctx, realm, challenge.params.service, scope, rejected);
  }

  async #bearer(
    ctx: Ctx,
    realm: string,
    service: string | undefined,
    scope: string,
    rejected: string | undefined,
  ): Promise<string | ResolutionFailure> {
    let realmUrl: URL;
    try {
      realmUrl = new URL(realm);
    } catch {
      return failure('protocol', `${ctx.ref.familiar}: ${ctx.base.origin} announced an invalid token realm`);
    }
    if (realmUrl.protocol !== 'https:' && realmUrl.protocol !== 'http:') {
      return failure('protocol', `${ctx.ref.familiar}: token realm ${realmUrl.protocol} is not HTTP(S)`);
    }
    if (
      realmUrl.protocol === 'http:' &&
      ctx.cred !== undefined &&
      ctx.base.protocol === 'https:' &&
      !this.#insecure.has(realmUrl.host)
    ) {
      return failure(
        'protocol',
        `${ctx.ref.familiar}: refusing to send ${ctx.cred} over plain HTTP to token realm ${realmUrl.origin} ` +
          '(list its host with --insecure-registry to allow it)',
        { retryable: false },
      );
    }
    const key = tokenKey(realm, service, scope, ctx.cred?.identity ?? 'anonymous');
    const cached = this.#tokens.get(key);
    if (cached !== undefined) {
      if (`Bearer ${cached}` !== rejected) return `Bearer ${cached}`;
      this.#tokens.invalidate(key, cached);
    }
    return this.#tokens.once(key, () => this.#fetchToken(ctx, realmUrl, service, scope, key));
  }

  async #fetchToken(
    ctx: Ctx,
    realmUrl: URL,
    service: string | undefined,
    scope: string,
    key: string,
  ): Promise<string | ResolutionFailure> {
    const { ref, cred } = ctx;
    const headers: Record<string, string> = { 'user-agent': this.#userAgent, accept: 'application/json' };
    const identityToken = cred?.identityToken();
    let method: 'GET' | 'POST' = 'GET';
    let body: string | undefined;
    const url = new URL(realmUrl);
    if (identityToken !== undefined) {
      // docker's OAuth2 flow for identity tokens (ACR, some enterprise registries): POST a refresh grant.
      method = 'POST';
      const form = new URLSearchParams({ grant_type: 'refresh_token', refresh_token: identityToken, scope });
      if (service !== undefined) form.set('service', service);
      form.set('client_id', this.#userAgent);
      body = form.toString();
      headers['content-type'] = 'application/x-www-form-urlencoded';
    } else {
      if (service !== undefined) url.searchParams.set('service', service);
      url.searchParams.set('scope', scope);
      const basic = cred?.basicAuthorization();
      if (basic !== undefined) headers.authorization = basic;
    }
    this.stats.tokens++;
    let res: HttpResponse;
    try {
      res = await this.#transport.request({
        method,
        url,
        headers,
        maxBodyBytes: MAX_TOKEN_BYTES,
        ...(body === undefined ? {} : { body }),
      });
    } catch (err) {
      return this.#transportFailure(ctx, err, `token realm ${realmUrl.origin}`);
    }
    this.#log.debug(
      { image: ref.familiar, realm: realmUrl.origin, scope, status: res.status },
      'token request',
    );
    const who = cred === undefined ? 'anonymous access' : String(cred);
    if (res.status === 200) {
      const answer = parseTokenResponse(res.body, this.#now());
      if (answer === undefined) {
        return failure(
          'protocol',
          `${ref.familiar}: token realm ${realmUrl.origin} answered without a token`,
          {
            status: 200,
          },
        );
      }
      this.#tokens.set(key, answer);
      return `Bearer ${answer.token}`;
    }
    const status = res.status;
    if (status === 400 || status === 401 || status === 403) {
      return failure(
        'unauthorized',
        `${ref.familiar}: token realm ${realmUrl.origin} refused ${who} (HTTP ${status})`,
        {
          status,
        },
      );
    }
    return this.#statusFailure(ctx, res, `token realm ${realmUrl.origin}`);
  }

  async #http(
    ctx: Ctx,
    method: 'HEAD' | 'GET',
    url: URL,
    authorization: string | undefined,
  ): Promise<Outcome> {
    const headers: Record<string, string> = { 'user-agent': this.#userAgent, accept: MANIFEST_ACCEPT };
    if (authorization !== undefined) headers.authorization = authorization;
    if (method === 'HEAD') this.stats.heads++;
    else this.stats.gets++;
    try {
      const res = await this.#transport.request({ method, url, headers, maxBodyBytes: MAX_MANIFEST_BYTES });
      this.#log.debug(
        {
          image: ctx.ref.familiar,
          method,
          url: url.href,
          status: res.status,
          auth: authorization?.split(' ')[0]?.toLowerCase() ?? 'none',
          rateLimitRemaining: res.headers['ratelimit-remaining'],
        },
        'registry request',
      );
      return res;
    } catch (err) {
      return this.#transportFailure(ctx, err, ctx.base.origin);
    }
  }

  #transportFailure(ctx: Ctx, err: unknown, where: string): ResolutionFailure {
    const image = ctx.ref.familiar;
    if (err instanceof TransportError) {
      switch (err.kind) {
        case 'timeout':
        case 'network':
          return failure('unreachable', `${image}: ${err.message}`, { retryable: true });
        case 'tls':
          return failure('unreachable', `${image}: ${err.message}`, { retryable: false });
        default:
          return failure('protocol', `${image}: ${err.message}`, { retryable: false });
      }
    }
    return failure(
      'unreachable',
      `${image}: request to ${where} failed: ${err instanceof Error ? err.message : err}`,
    );
  }

  #statusFailure(ctx: Ctx, res: HttpResponse, where = ctx.base.origin): ResolutionFailure {
    const { ref, cred } = ctx;
    const status = res.status;
    const detail = registryErrorCode(res.body);
    const suffix = `(HTTP ${status}${detail ? ` ${detail}` : ''})`;
    if (status === 401 || status === 403) {
      const who = cred === undefined ? 'anonymous access' : String(cred);
      return failure('unauthorized', `${ref.familiar}: ${where} refused ${who} ${suffix}`, { status });
    }
    if (status === 404) {
      return failure(
        'not-found',
        `${ref.familiar}: ${ref.digest ?? effectiveTag(ref)} not found at ${where} ${suffix}`,
        {
          status,
        },
      );
    }
    const retryAfterSeconds = parseRetryAfter(res.headers['retry-after'], this.#now());
    if (status === 429) {
      return failure('rate-limited', `${ref.familiar}: ${where} is rate limiting ${suffix}`, {
        status,
        retryAfterSeconds,
      });
    }
    if (status >= 500 && status <= 599) {
      return failure('unreachable', `${ref.familiar}: ${where} failed ${suffix}`, {
        status,
        retryAfterSeconds,
      });
    }
    return failure('protocol', `${ref.familiar}: unexpected answer from ${where} ${suffix}`, {
      status,
      retryable: false,
    });
  }
}

function normaliseHost(entry: string): string {
  return entry
    .trim()
    .replace(/^[a-z][a-z0-9+.-]*:\/\//i, '')
    .replace(/\/.*$/, '')
    .toLowerCase();
}

interface Manifest {
  schemaVersion?: unknown;
  mediaType?: unknown;
  manifests?: unknown[];
}

// Enough of a check that garbage is never hashed into a "new digest": a JSON object with schemaVersion 2.
function parseManifest(body: Buffer): Manifest | undefined {
  try {
    const json: unknown = JSON.parse(body.toString('utf8'));
    if (typeof json !== 'object' || json === null || Array.isArray(json)) return undefined;
    const m = json as Manifest;
    if (m.schemaVersion !== 2) return undefined;
    if (m.manifests !== undefined && !Array.isArray(m.manifests)) return undefined;
    return m;
  } catch {
    return undefined;
  }
}

// The distribution error code (MANIFEST_UNKNOWN, DENIED, TOOMANYREQUESTS …) from an error body, when there is one.
function registryErrorCode(body: Buffer): string | undefined {
  if (body.length === 0 || body.length > 64 * 1024) return undefined;
  try {
    const json = JSON.parse(body.toString('utf8')) as { errors?: Array<{ code?: unknown }> };
    const code = json?.errors?.[0]?.code;
    return typeof code === 'string' ? code.slice(0, MAX_ERROR_TEXT).replace(/[^\w.-]/g, '') : undefined;
  } catch {
    return undefined;
  }
}
