// Every Authorization decision of the registry client: which credentials may be tried for a repository (and in what
// order), which challenges are honoured (only the registry's own origin's: a 401 reached through a redirect to
// another origin gets nothing), Bearer tokens (fetched, cached, refreshed), Basic, registry tokens. Requests of any
// kind (manifests today, tag lists next) go through authorizedFetch; nothing else sets an Authorization header.

import { type ImageReference, registryApiHost } from '../image/reference.ts';
import { type Challenge, parseWWWAuthenticate, preferredChallenge } from './challenge.ts';
import type { Credential } from './credentials.ts';
import { statusFailure, transportFailure } from './failures.ts';
import type { HttpResponse, HttpTransport } from './http.ts';
import { failure, isHardFailure, type ResolutionFailure } from './resolution.ts';
import { parseTokenResponse, TokenCache, tokenKey } from './tokens.ts';

/** The slice of a pino logger the registry client uses. Messages carry image, registry and status, never secrets. */
export interface Logger {
  debug(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
}

/** What a request is about: a repository of a registry (a parsed image reference fits). */
export type RepositoryRef = Pick<ImageReference, 'registry' | 'repository' | 'familiar'> &
  Partial<Pick<ImageReference, 'tag' | 'digest'>>;

/** One repository on one registry with one credential (or none): whom a request may authenticate to, and how. */
export interface AuthTarget {
  ref: RepositoryRef;
  cred: Credential | undefined;
  /** The registry's own origin (`https://host[:port]`): the only origin whose challenges are answered. */
  base: URL;
  /** API host[:port]: the key for the auth scheme this registry asked for. */
  host: string;
}

export interface AuthorizedRequest {
  method: 'GET' | 'HEAD';
  /** Path (and query) on the registry, e.g. `/v2/<name>/manifests/<ref>` or `/v2/<name>/tags/list?n=100`. */
  path: string;
  /** Accept header; none when undefined. */
  accept?: string;
  maxBodyBytes: number;
  /** The token scope to ask for; default `repository:<name>:pull`. */
  scope?: string;
  /** The counter this request adds to: default `heads`/`gets` by method (manifest requests). */
  count?: 'tagLists';
}

/** Requests made, for the run summary and the benchmark. */
export interface RegistryStats {
  heads: number;
  /** Manifest GETs: what Docker Hub counts as pulls. */
  gets: number;
  tokens: number;
  /** Tag list pages (not pulls); absent until one is asked for. */
  tagLists?: number;
}

export interface RegistryAuthOptions {
  transport: HttpTransport;
  /** host[:port] values spoken to over plain HTTP (registries and token realms). */
  insecure: ReadonlySet<string>;
  userAgent: string;
  logger: Logger;
  now: () => number;
  /** Counters the auth layer increments (requests and token fetches). */
  stats: RegistryStats;
}

const MAX_TOKEN_BYTES = 1024 * 1024;

/** Token and challenge state for one run, shared by every request of the client. */
export class RegistryAuth {
  readonly #transport: HttpTransport;
  readonly #insecure: ReadonlySet<string>;
  readonly #userAgent: string;
  readonly #log: Logger;
  readonly #now: () => number;
  readonly #stats: RegistryStats;
  readonly #tokens: TokenCache;
  /** The challenge each registry host answered with last: later repositories get their token up front. */
  readonly #hostAuth = new Map<string, Challenge>();
  /** Per host: the challenge `GET /v2/` announced (see #ping). */
  readonly #pings = new Map<string, Promise<Challenge | undefined>>();

  constructor(opts: RegistryAuthOptions) {
    this.#transport = opts.transport;
    this.#insecure = opts.insecure;
    this.#userAgent = opts.userAgent;
    this.#log = opts.logger;
    this.#now = opts.now;
    this.#stats = opts.stats;
    this.#tokens = new TokenCache(this.#now);
  }

  /** The target for a repository and credential: the registry's API origin, HTTP only when listed as insecure. */
  target(ref: RepositoryRef, cred: Credential | undefined): AuthTarget {
    const host = registryApiHost(ref.registry);
    const insecure = this.#insecure.has(host) || this.#insecure.has(ref.registry);
    return { ref, cred, host, base: new URL(`${insecure ? 'http' : 'https'}://${host}`) };
  }

  /**
   * Runs `attempt` with each credential keyed for the repository, in order, until one is not refused; with none,
   * once anonymously. A credential keyed for another registry is never used (and a warning says so). The answer
   * is the first success or registry-level fault; else a 404 (it says more than another credential's 401).
   */
  async withCredentials<T extends { ok: true }>(
    ref: RepositoryRef,
    creds: readonly Credential[],
    attempt: (target: AuthTarget) => Promise<T | ResolutionFailure>,
  ): Promise<T | ResolutionFailure> {
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
      const r = await attempt(this.target(ref, cred));
      if (r.ok) return r;
      if (r.kind !== 'unauthorized' && r.kind !== 'not-found') return r;
      if (soft === undefined || soft.kind === 'unauthorized') soft = r;
    }
    return soft as ResolutionFailure;
  }

  /**
   * One request with the auth this registry wants: up front when its challenge is known (from `/v2/` or an earlier
   * repository), else answering one 401 challenge and retrying once. Only the registry's own origin is answered.
   * Resolves to the HTTP answer (any status) or a classified failure; never rejects for a registry problem.
   */
  async authorizedFetch(
    target: AuthTarget,
    req: AuthorizedRequest,
  ): Promise<HttpResponse | ResolutionFailure> {
    const url = new URL(req.path, target.base);
    const known = this.#hostAuth.get(target.host) ?? (await this.#ping(target));
    const scope = req.scope ?? `repository:${target.ref.repository}:pull`;

    let pre = await this.#authorization(target, known, undefined, scope, undefined);
    // The token service itself is down or rate limiting: asking again through a fresh 401 would only repeat that.
    if (typeof pre === 'object' && isHardFailure(pre)) return pre;
    if (typeof pre === 'object') {
      // The remembered challenge no longer works: forget it and let this request's own 401 say what to do.
      if (this.#hostAuth.get(target.host) === known) this.#hostAuth.delete(target.host);
      pre = undefined;
    }
    const first = await this.#send(target, req, url, pre);
    if (isFailure(first) || first.status !== 401) return first;

    if (first.url.origin !== target.base.origin) return this.#foreignChallenge(target, first);
    const challenge = preferredChallenge(parseWWWAuthenticate(first.headers['www-authenticate'] ?? ''));
    if (challenge === undefined) return first;
    const next = await this.#authorization(target, challenge, challenge.params.scope, scope, pre);
    if (typeof next === 'object') return next;
    // Remembered only once it produced credentials, so a broken challenge cannot poison later requests.
    this.#hostAuth.set(target.host, challenge);
    // Nothing new to offer (no credential for Basic, the same header already refused): the 401 stands.
    if (next === undefined || next === pre) return first;
    return this.#send(target, req, url, next);
  }

  // A 401 from an origin a redirect led to: its realm is not the registry's, so nothing is sent there (no Basic,
  // no refresh token, no token request) and nothing is remembered for the registry host.
  #foreignChallenge(target: AuthTarget, res: HttpResponse): ResolutionFailure {
    this.#log.warn(
      { image: target.ref.familiar, registry: target.base.origin, answeredBy: res.url.origin },
      'credentials asked for by another origin after a redirect: not sent',
    );
    return failure(
      'unauthorized',
      `${target.ref.familiar}: ${target.base.origin} redirected to ${res.url.origin}, which asked for credentials ` +
        '(HTTP 401): none sent, a credential goes only to the registry it is keyed for',
      { status: 401 },
    );
  }

  /**
   * The challenge a registry announces on `GET /v2/`, asked once per host and shared by concurrent callers (as docker
   * clients do): a burst of first requests then goes out authenticated instead of each collecting the same 401.
   * Only a hint, and only from the registry's own origin (a probe redirected elsewhere announces nothing).
   */
  #ping(target: AuthTarget): Promise<Challenge | undefined> {
    let p = this.#pings.get(target.host);
    if (p === undefined) {
      p = this.#transport
        .request({
          method: 'GET',
          url: new URL('/v2/', target.base),
          headers: { 'user-agent': this.#userAgent },
          maxBodyBytes: 64 * 1024,
        })
        .then(
          (res) =>
            res.status === 401 && res.url.origin === target.base.origin
              ? preferredChallenge(parseWWWAuthenticate(res.headers['www-authenticate'] ?? ''))
              : undefined,
          () => undefined,
        );
      this.#pings.set(target.host, p);
    }
    return p;
  }

  /**
   * The Authorization value for a challenge: the credential's registry token as is, Basic from the credential, or a
   * Bearer token from the realm the registry announced. `answerScope` is the scope of a challenge this request
   * just received (a remembered one names another repository); `rejected` is a value the registry just refused
   * (a cached token is then fetched anew).
   */
  async #authorization(
    target: AuthTarget,
    challenge: Challenge | undefined,
    answerScope: string | undefined,
    scope: string,
    rejected: string | undefined,
  ): Promise<string | undefined | ResolutionFailure> {
    const registryToken = target.cred?.registryToken();
    if (registryToken !== undefined) return `Bearer ${registryToken}`;
    if (challenge === undefined) return undefined;
    if (challenge.scheme === 'basic') return target.cred?.basicAuthorization();
    if (challenge.scheme !== 'bearer') return undefined;
    const realm = challenge.params.realm;
    if (!realm) {
      return failure(
        'invalid-challenge',
        `${target.ref.familiar}: ${target.base.origin} sent a Bearer challenge without a realm: cannot authenticate`,
        { status: 401, retryable: false },
      );
    }
    return this.#bearer(target, realm, challenge.params.service, answerScope || scope, rejected);
  }

  async #bearer(
    target: AuthTarget,
    realm: string,
    service: string | undefined,
    scope: string,
    rejected: string | undefined,
  ): Promise<string | ResolutionFailure> {
    const { ref, cred, base } = target;
    let realmUrl: URL;
    try {
      realmUrl = new URL(realm);
    } catch {
      return failure(
        'invalid-challenge',
        `${ref.familiar}: ${base.origin} announced an invalid token realm`,
        {
          retryable: false,
        },
      );
    }
    if (realmUrl.protocol !== 'https:' && realmUrl.protocol !== 'http:') {
      return failure(
        'invalid-challenge',
        `${ref.familiar}: token realm ${realmUrl.protocol} is not HTTP(S)`,
        {
          retryable: false,
        },
      );
    }
    if (
      realmUrl.protocol === 'http:' &&
      cred !== undefined &&
      base.protocol === 'https:' &&
      !this.#insecure.has(realmUrl.host)
    ) {
      return failure(
        'protocol',
        `${ref.familiar}: refusing to send ${cred} over plain HTTP to token realm ${realmUrl.origin} ` +
          '(list its host with --insecure-registry to allow it)',
        { retryable: false },
      );
    }
    const key = tokenKey(realm, service, scope, cred?.identity ?? 'anonymous');
    const cached = this.#tokens.get(key);
    if (cached !== undefined) {
      if (`Bearer ${cached}` !== rejected) return `Bearer ${cached}`;
      this.#tokens.invalidate(key, cached);
    }
    return this.#tokens.once(key, () => this.#fetchToken(target, realmUrl, service, scope, key));
  }

  async #fetchToken(
    target: AuthTarget,
    realmUrl: URL,
    service: string | undefined,
    scope: string,
    key: string,
  ): Promise<string | ResolutionFailure> {
    const { ref, cred } = target;
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
    this.#stats.tokens++;
    const where = `token realm ${realmUrl.origin}`;
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
      return transportFailure(ref, err, where, 'token');
    }
    this.#log.debug(
      { image: ref.familiar, realm: realmUrl.origin, scope, status: res.status },
      'token request',
    );
    if (res.status === 200) {
      const answer = parseTokenResponse(res.body, this.#now());
      if (answer === undefined) {
        return failure('protocol', `${ref.familiar}: ${where} answered without a token`, { status: 200 });
      }
      this.#tokens.set(key, answer);
      return `Bearer ${answer.token}`;
    }
    const status = res.status;
    if (status === 400 || status === 401 || status === 403) {
      const who = cred === undefined ? 'anonymous access' : String(cred);
      return failure('unauthorized', `${ref.familiar}: ${where} refused ${who} (HTTP ${status})`, { status });
    }
    return statusFailure(ref, cred, res, where, this.#now());
  }

  async #send(
    target: AuthTarget,
    req: AuthorizedRequest,
    url: URL,
    authorization: string | undefined,
  ): Promise<HttpResponse | ResolutionFailure> {
    const headers: Record<string, string> = { 'user-agent': this.#userAgent };
    if (req.accept !== undefined) headers.accept = req.accept;
    if (authorization !== undefined) headers.authorization = authorization;
    if (req.count === 'tagLists') this.#stats.tagLists = (this.#stats.tagLists ?? 0) + 1;
    else if (req.method === 'HEAD') this.#stats.heads++;
    else this.#stats.gets++;
    try {
      // The transport drops Authorization on a redirect to another origin.
      const res = await this.#transport.request({
        method: req.method,
        url,
        headers,
        maxBodyBytes: req.maxBodyBytes,
      });
      this.#log.debug(
        {
          image: target.ref.familiar,
          method: req.method,
          url: url.href,
          ...(res.url.origin === url.origin ? {} : { answeredBy: res.url.origin }),
          status: res.status,
          auth: authorization?.split(' ')[0]?.toLowerCase() ?? 'none',
          rateLimitRemaining: res.headers['ratelimit-remaining'],
        },
        'registry request',
      );
      return res;
    } catch (err) {
      return transportFailure(target.ref, err, target.base.origin);
    }
  }
}

/** True when an authorizedFetch outcome is a failure value rather than an HTTP answer. */
export function isFailure(o: HttpResponse | ResolutionFailure): o is ResolutionFailure {
  return (o as ResolutionFailure).ok === false;
}
