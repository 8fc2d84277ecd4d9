// The simulated kubelet's image puller: resolves a reference against a real registry (HEAD with the four manifest
// types, Basic and Bearer auth from pull-secret credentials, GET for config digests and index children), over
// http for loopback registries unless told they use TLS. Written independently of lib/registry on purpose.

import { createHash } from 'node:crypto';
import http from 'node:http';
import https from 'node:https';
import type { Credential } from './credentials.ts';
import { apiHost, type ImageRef, normalized } from './image-ref.ts';

const OCI_INDEX = 'application/vnd.oci.image.index.v1+json';
const DOCKER_LIST = 'application/vnd.docker.distribution.manifest.list.v2+json';
const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
const DOCKER_MANIFEST = 'application/vnd.docker.distribution.manifest.v2+json';
const ACCEPT = [OCI_INDEX, DOCKER_LIST, OCI_MANIFEST, DOCKER_MANIFEST].join(', ');

export interface RegistryConfig {
  /** https when true; default: https when `ca` is set, else http for loopback hosts (127.0.0.1, localhost, [::1]) and https otherwise. */
  tls?: boolean;
  /** PEM CA to trust for this registry's certificate. */
  ca?: string;
}

export interface PullerOptions {
  registries?: Record<string, RegistryConfig>;
  /** The platform the nodes run, to pick an index child; default linux/amd64. */
  platform?: { os: string; architecture: string };
  timeoutMs?: number;
}

export interface Resolved {
  /** The digest the reference resolved to: the index digest for a multi-arch tag. */
  digest: string;
  mediaType: string;
  /** The image config digest of the node's platform; only when asked for. */
  configDigest?: string;
}

/** A failed pull, with a message in the style of containerd's. */
export class PullError extends Error {
  readonly status: number | undefined;
  constructor(message: string, status?: number) {
    super(message);
    this.status = status;
  }
}

interface Res {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
}

/** Whether a registry host is on the loopback interface. */
export function isLoopbackHost(host: string): boolean {
  return /^(127\.\d+\.\d+\.\d+|localhost|\[::1\])(:\d+)?$/.test(host);
}

interface Challenge {
  scheme: string;
  params: Record<string, string>;
}

/** Parses WWW-Authenticate (several challenges, quoted values with commas); Bearer first. */
export function parseChallenges(header: string | undefined): Challenge[] {
  const out: Challenge[] = [];
  if (!header) return out;
  const re = /\s*([A-Za-z][\w-]*)(?:\s+|$)/y;
  let i = 0;
  while (i < header.length) {
    re.lastIndex = i;
    const m = re.exec(header);
    if (!m) break;
    const c: Challenge = { scheme: m[1]!.toLowerCase(), params: {} };
    i = re.lastIndex;
    const param = /\s*([\w-]+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^\s,]*))\s*(,?)/y;
    for (;;) {
      param.lastIndex = i;
      const p = param.exec(header);
      if (!p) break;
      c.params[p[1]!.toLowerCase()] = p[2] !== undefined ? p[2].replace(/\\(.)/g, '$1') : p[3]!;
      i = param.lastIndex;
      if (!p[4]) break;
    }
    out.push(c);
    while (i < header.length && /[\s,]/.test(header[i]!)) i++;
  }
  return out.sort((a, b) => (a.scheme === 'bearer' ? -1 : 0) - (b.scheme === 'bearer' ? -1 : 0));
}

export class ImagePuller {
  private readonly opts: PullerOptions;
  private readonly agents = new Map<string, http.Agent>();
  private readonly tokens = new Map<string, { value: string; expires: number }>();
  /** Requests sent so far, by method (for tests). */
  readonly counts = { head: 0, get: 0, token: 0 };

  constructor(opts: PullerOptions = {}) {
    this.opts = opts;
  }

  private base(registry: string): { url: string; cfg: RegistryConfig } {
    const cfg = this.opts.registries?.[registry] ?? {};
    // A CA given for a host means it speaks TLS, loopback or not.
    const tls = cfg.tls ?? (cfg.ca !== undefined ? true : !isLoopbackHost(registry));
    return { url: `${tls ? 'https' : 'http'}://${apiHost(registry)}`, cfg };
  }

  private agent(url: URL, cfg: RegistryConfig): http.Agent {
    const k = `${url.protocol}//${url.host}`;
    let a = this.agents.get(k);
    if (!a) {
      a =
        url.protocol === 'https:'
          ? new https.Agent({ keepAlive: true, ca: cfg.ca })
          : new http.Agent({ keepAlive: true });
      this.agents.set(k, a);
    }
    return a;
  }

  private request(
    method: string,
    url: string,
    headers: Record<string, string>,
    cfg: RegistryConfig,
  ): Promise<Res> {
    const u = new URL(url);
    const mod = u.protocol === 'https:' ? https : http;
    return new Promise<Res>((resolve, reject) => {
      const req = mod.request(
        u,
        { method, headers, agent: this.agent(u, cfg), timeout: this.opts.timeoutMs ?? 10_000 },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () =>
            resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }),
          );
          res.on('error', reject);
        },
      );
      req.on('timeout', () => req.destroy(new Error(`timeout after ${this.opts.timeoutMs ?? 10_000} ms`)));
      req.on('error', reject);
      req.end();
    });
  }

  private async token(
    ch: Challenge,
    scope: string,
    cred: Credential | undefined,
    cfg: RegistryConfig,
  ): Promise<string> {
    const realm = ch.params.realm;
    if (!realm) throw new PullError('bearer challenge without realm');
    // Keyed by the whole credential: a wrong password for the same user must not reuse a good token.
    const who = cred ? createHash('sha256').update(`${cred.username}:${cred.password}`).digest('hex') : '';
    const tokenKey = `${realm}|${ch.params.service ?? ''}|${scope}|${who}`;
    const cached = this.tokens.get(tokenKey);
    if (cached && cached.expires > Date.now()) return cached.value;
    const u = new URL(realm);
    if (ch.params.service) u.searchParams.set('service', ch.params.service);
    u.searchParams.set('scope', scope);
    const headers: Record<string, string> = {};
    if (cred)
      headers.authorization = `Basic ${Buffer.from(`${cred.username}:${cred.password}`).toString('base64')}`;
    this.counts.token++;
    const res = await this.request('GET', u.toString(), headers, cfg);
    if (res.status !== 200)
      throw new PullError(
        `failed to fetch ${cred ? 'oauth' : 'anonymous'} token: unexpected status from GET request to ${u.origin}${u.pathname}: ${res.status}`,
        res.status,
      );
    const body = JSON.parse(res.body.toString('utf8'));
    const value: string | undefined = body.token ?? body.access_token;
    if (!value) throw new PullError('token response without token');
    const ttl = Number(body.expires_in ?? 60);
    this.tokens.set(tokenKey, { value, expires: Date.now() + Math.max(0, ttl - 10) * 1000 });
    return value;
  }

  /** One manifest request with the auth dance: anonymous first, then what the challenge asks for. */
  private async manifest(
    method: 'HEAD' | 'GET',
    ref: ImageRef,
    reference: string,
    cred: Credential | undefined,
  ): Promise<Res> {
    const { url, cfg } = this.base(ref.registry);
    const target = `${url}/v2/${ref.repository}/manifests/${reference}`;
    const headers: Record<string, string> = { accept: ACCEPT };
    const scope = `repository:${ref.repository}:pull`;
    if (method === 'HEAD') this.counts.head++;
    else this.counts.get++;
    let res = await this.request(method, target, headers, cfg);
    if (res.status !== 401) return res;
    const challenges = parseChallenges(String(res.headers['www-authenticate'] ?? ''));
    const ch = challenges[0];
    if (!ch) return res;
    if (ch.scheme === 'bearer') {
      headers.authorization = `Bearer ${await this.token(ch, ch.params.scope ?? scope, cred, cfg)}`;
    } else if (ch.scheme === 'basic' && cred) {
      headers.authorization = `Basic ${Buffer.from(`${cred.username}:${cred.password}`).toString('base64')}`;
    } else {
      return res;
    }
    if (method === 'HEAD') this.counts.head++;
    else this.counts.get++;
    res = await this.request(method, target, headers, cfg);
    return res;
  }

  private async resolveWith(
    ref: ImageRef,
    cred: Credential | undefined,
    wantConfig: boolean,
  ): Promise<Resolved> {
    const name = normalized(ref);
    const reference = ref.digest ?? ref.tag ?? 'latest';
    const fail = (res: Res): never => {
      if (res.status === 404)
        throw new PullError(`failed to resolve reference "${name}": ${name}: not found`, 404);
      if (res.status === 401 || res.status === 403)
        throw new PullError(
          `failed to resolve reference "${name}": pull access denied, repository does not exist or may require authorization: server message: insufficient_scope: authorization failed (${res.status})`,
          res.status,
        );
      throw new PullError(
        `failed to resolve reference "${name}": unexpected status from HEAD request: ${res.status}`,
        res.status,
      );
    };
    const head = await this.manifest('HEAD', ref, reference, cred);
    if (head.status !== 200) fail(head);
    let digest = String(head.headers['docker-content-digest'] ?? '');
    let mediaType = String(head.headers['content-type'] ?? '')
      .split(';')[0]!
      .trim();
    let body: Buffer | undefined;
    if (!digest) {
      const get = await this.manifest('GET', ref, reference, cred);
      if (get.status !== 200) fail(get);
      body = get.body;
      digest = `sha256:${createHash('sha256').update(get.body).digest('hex')}`;
      mediaType = String(get.headers['content-type'] ?? mediaType)
        .split(';')[0]!
        .trim();
    }
    if (ref.digest && digest !== ref.digest) {
      throw new PullError(`failed to resolve reference "${name}": digest mismatch: got ${digest}`);
    }
    if (!wantConfig) return { digest, mediaType };
    if (!body) {
      const get = await this.manifest('GET', ref, digest, cred);
      if (get.status !== 200) fail(get);
      body = get.body;
    }
    let manifest = JSON.parse(body.toString('utf8'));
    if (mediaType === OCI_INDEX || mediaType === DOCKER_LIST || Array.isArray(manifest.manifests)) {
      const want = this.opts.platform ?? { os: 'linux', architecture: 'amd64' };
      const child = (manifest.manifests ?? []).find(
        (m: { platform?: { os?: string; architecture?: string } }) =>
          m.platform?.os === want.os && m.platform?.architecture === want.architecture,
      );
      if (!child)
        throw new PullError(`failed to pull "${name}": no match for platform in manifest: not found`);
      const get = await this.manifest('GET', ref, child.digest, cred);
      if (get.status !== 200) fail(get);
      manifest = JSON.parse(get.body.toString('utf8'));
    }
    const configDigest: string | undefined = manifest.config?.digest;
    if (!configDigest) throw new PullError(`failed to pull "${name}": manifest has no config`);
    return { digest, mediaType, configDigest };
  }

  /**
   * Resolves ref with each matching credential in turn (anonymously when there is none); rejects with a
   * PullError carrying a containerd-style message when none works.
   */
  async resolve(ref: ImageRef, creds: Credential[], wantConfig: boolean): Promise<Resolved> {
    const attempts: Array<Credential | undefined> = creds.length ? creds : [undefined];
    let last: unknown;
    for (const cred of attempts) {
      try {
        return await this.resolveWith(ref, cred, wantConfig);
      } catch (e) {
        last = e;
        if (!(e instanceof PullError) || (e.status !== 401 && e.status !== 403)) break;
      }
    }
    if (last instanceof PullError) throw last;
    const msg = last instanceof Error ? last.message : String(last);
    throw new PullError(`failed to resolve reference "${normalized(ref)}": failed to do request: ${msg}`);
  }

  /** Closes the keep-alive connections. */
  close(): void {
    for (const a of this.agents.values()) a.destroy();
    this.agents.clear();
  }
}
