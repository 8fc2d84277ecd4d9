// The public shapes of the registry test harness, shared by the registry client tests, the simulator's kubelet and
// the benchmark: keep them stable.

export interface RegistryOptions {
  /** How the registry authenticates clients; default 'none'. */
  auth?: 'none' | 'basic' | 'bearer';
  /** Serve HTTPS with a throwaway CA (IP SAN 127.0.0.1); the registry then speaks HTTP/2 like the real thing. */
  tls?: boolean;
  /** Accounts for basic/bearer; default { alice: 'alice-secret' }. */
  users?: Record<string, string>;
  /** Bearer: the tokens' lifetime and the token response's expires_in (default 300). */
  tokenTtlSeconds?: number;
}

export interface TokenServerInfo {
  /** The token realm, e.g. 'http://127.0.0.1:PORT/token'. */
  url: string;
  /** How many tokens were issued so far. */
  issued(): number;
  /** Every token request so far, with its scope(s) (space-joined) and the authenticated user, if any. */
  requests(): Array<{ scope: string; user?: string }>;
}

export interface Registry {
  /** '127.0.0.1:PORT' as used in image references. */
  host: string;
  /** 'http(s)://127.0.0.1:PORT'. */
  url: string;
  /** The CA that signed the registry's certificate, when tls. */
  caPem?: string;
  /** The first user, when auth is not 'none'. */
  credentials?: { username: string; password: string };
  /** The Docker Hub-like token server, when auth is 'bearer'. */
  tokenServer?: TokenServerInfo;
  /** Stops the registry (and token server) and removes its storage; never rejects. */
  stop(): Promise<void>;
}

export type ImageFormat = 'oci' | 'docker' | 'oci-index' | 'docker-list';

export interface Platform {
  os: string;
  architecture: string;
  variant?: string;
}

export interface PushedImage {
  /** The manifest (or index) digest, equal to the registry's Docker-Content-Digest. */
  digest: string;
  mediaType: string;
  /** Single-platform formats only. */
  configDigest?: string;
  /** Index/list formats only: one entry per platform, in the order given. */
  children?: Array<{ digest: string; configDigest: string; platform: Platform }>;
}

export interface PushOptions {
  /** Default 'oci'. */
  format?: ImageFormat;
  /** Derives the layer content: same seed → same digests; another seed → new bytes ("the tag moved"). Default 'seed'. */
  seed?: string;
  /** 'os/arch[/variant]'; default ['linux/amd64'] for single formats, ['linux/amd64', 'linux/arm64'] for index/list. */
  platforms?: readonly string[];
}

export interface Fault {
  /** Tested against the request path (with query); default: every request. */
  match?: RegExp;
  /** Added before forwarding (or before answering the fault status). */
  latencyMs?: number;
  /** Answer this status instead of forwarding (e.g. 500, 503, 429). */
  status?: number;
  /** With status (429/503): the Retry-After header. */
  retryAfterSeconds?: number;
  /** Destroy the connection (TCP RST) instead of answering. */
  reset?: boolean;
  /** Forward, but drop Docker-Content-Digest from the response. */
  stripDigestHeader?: boolean;
  /** Forward status and headers, but replace the body with garbage (Content-Length adjusted). */
  malformedBody?: boolean;
  /** Forward, but with this Content-Type (e.g. a schema1 media type, as a legacy image is served). */
  contentType?: string;
  /** Only the first N matching requests after set(); default: all. */
  times?: number;
}

export interface ProxyCounts {
  /** Manifest HEADs (/v2/<name>/manifests/<ref>). */
  head: number;
  /** Manifest GETs. */
  get: number;
  /** Token-realm GETs (the proxy rewrites the Bearer realm to its own /__token). */
  token: number;
  /** Every request the proxy received. */
  total: number;
}

export interface ProxyLogEntry {
  method: string;
  path: string;
  /** The status the client got; 0 when the connection was reset. */
  status: number;
  authorization?: 'basic' | 'bearer' | undefined;
  /** The Host header the client sent. */
  host: string;
}

export interface FaultProxy {
  url: string;
  /** '127.0.0.1:PORT': use as the registry host in image references. */
  host: string;
  /** Replaces the active fault (and restarts its `times` budget). */
  set(f: Fault): void;
  clear(): void;
  counts(): ProxyCounts;
  log(): ProxyLogEntry[];
  /** Forgets counts and log (the fault stays). */
  resetCounts(): void;
  stop(): Promise<void>;
}
