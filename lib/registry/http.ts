// The registry client's transport: node:http/node:https with a keep-alive agent per origin, an extra CA, a
// whole-request timeout, a body size cap, and redirects that never carry Authorization to another origin.

import http from 'node:http';
import https from 'node:https';
import tls from 'node:tls';

export interface HttpRequest {
  method: 'GET' | 'HEAD' | 'POST';
  url: URL;
  headers: Record<string, string>;
  body?: string;
  /** Larger bodies fail with TransportError 'too-large' (registries' answers are small; a huge one is malformed). */
  maxBodyBytes: number;
  /** Follow 3xx for GET/HEAD (default true). */
  followRedirects?: boolean;
}

export interface HttpResponse {
  status: number;
  /** Header names lower-cased (HTTP/2 style); repeated headers joined with ', '. */
  headers: Record<string, string>;
  body: Buffer;
  /** The URL that answered, after redirects. */
  url: URL;
}

export type TransportFailure = 'timeout' | 'tls' | 'network' | 'too-large' | 'redirect' | 'invalid-request';

/** The request got no usable HTTP answer. `kind` says why; the message names the origin, never headers. */
export class TransportError extends Error {
  readonly kind: TransportFailure;
  constructor(kind: TransportFailure, message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'TransportError';
    this.kind = kind;
  }
}

export interface TransportOptions {
  /** Extra CA certificates (PEM), trusted in addition to Node's default trust (NODE_EXTRA_CA_CERTS kept). */
  ca?: string | Buffer;
  timeoutMs: number;
  maxSocketsPerOrigin: number;
  /** host[:port] values that may be spoken to over plain HTTP (and redirected to over HTTP). */
  insecureHosts: ReadonlySet<string>;
}

const MAX_REDIRECTS = 5;
const TLS_ERROR = /CERT|SSL|TLS|EPROTO|ERR_TLS|SELF_SIGNED|UNABLE_TO_(GET|VERIFY)|HOSTNAME/i;

export class HttpTransport {
  readonly #opts: TransportOptions;
  readonly #agents = new Map<string, http.Agent>();
  readonly #ca: Array<string | Buffer> | undefined;

  constructor(opts: TransportOptions) {
    this.#opts = opts;
    this.#ca = opts.ca === undefined ? undefined : [...defaultTrust(), opts.ca];
  }

  /** Sends a request, following safe redirects; rejects only with TransportError. */
  async request(req: HttpRequest): Promise<HttpResponse> {
    let url = req.url;
    let headers = { ...req.headers };
    for (let hop = 0; ; hop++) {
      const res = await this.#once(req, url, headers);
      const location = res.headers.location;
      const redirect = res.status >= 300 && res.status < 400 && res.status !== 304 && location !== undefined;
      if (!redirect || req.followRedirects === false || req.method === 'POST') return res;
      if (hop >= MAX_REDIRECTS)
        throw new TransportError('redirect', `too many redirects from ${req.url.origin}`);
      let next: URL;
      try {
        next = new URL(location, url);
      } catch (cause) {
        throw new TransportError('redirect', `invalid redirect location from ${url.origin}`, { cause });
      }
      if (next.protocol !== 'https:' && next.protocol !== 'http:') {
        throw new TransportError('redirect', `redirect from ${url.origin} to a ${next.protocol} URL refused`);
      }
      if (
        next.protocol === 'http:' &&
        url.protocol === 'https:' &&
        !this.#opts.insecureHosts.has(next.host)
      ) {
        throw new TransportError(
          'redirect',
          `redirect from ${url.origin} to plain HTTP ${next.origin} refused`,
        );
      }
      // Credentials are keyed to one host: a redirect elsewhere (a CDN, object storage) gets no Authorization.
      if (next.origin !== url.origin) headers = withoutAuthorization(headers);
      url = next;
    }
  }

  /** Closes idle keep-alive sockets so the process can exit. */
  close(): void {
    for (const agent of this.#agents.values()) agent.destroy();
    this.#agents.clear();
  }

  #agent(url: URL): http.Agent {
    let agent = this.#agents.get(url.origin);
    if (agent === undefined) {
      const common = { keepAlive: true, maxSockets: this.#opts.maxSocketsPerOrigin, maxFreeSockets: 4 };
      agent =
        url.protocol === 'https:'
          ? new https.Agent({ ...common, ...(this.#ca ? { ca: this.#ca } : {}) })
          : new http.Agent(common);
      this.#agents.set(url.origin, agent);
    }
    return agent;
  }

  #once(req: HttpRequest, url: URL, headers: Record<string, string>): Promise<HttpResponse> {
    return new Promise<HttpResponse>((resolve, reject) => {
      const mod = url.protocol === 'https:' ? https : http;
      let settled = false;
      let timer: NodeJS.Timeout | undefined;
      const fail = (err: TransportError) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        reject(err);
      };
      let outgoing: http.ClientRequest;
      try {
        outgoing = mod.request(url, { method: req.method, headers, agent: this.#agent(url) }, onResponse);
      } catch (cause) {
        // Invalid header values (a token with a newline) throw synchronously.
        fail(new TransportError('invalid-request', `cannot build a request to ${url.origin}`, { cause }));
        return;
      }
      timer = setTimeout(() => {
        fail(new TransportError('timeout', `no answer from ${url.origin} within ${this.#opts.timeoutMs} ms`));
        outgoing.destroy();
      }, this.#opts.timeoutMs);
      outgoing.on('error', (cause) => fail(classify(cause, url)));
      outgoing.end(req.body);

      function onResponse(res: http.IncomingMessage): void {
        const chunks: Buffer[] = [];
        let size = 0;
        res.on('data', (chunk: Buffer) => {
          size += chunk.length;
          if (size > req.maxBodyBytes) {
            fail(
              new TransportError('too-large', `answer from ${url.origin} exceeds ${req.maxBodyBytes} bytes`),
            );
            outgoing.destroy();
            return;
          }
          chunks.push(chunk);
        });
        res.on('error', (cause) => fail(classify(cause, url)));
        res.on('close', () =>
          fail(new TransportError('network', `connection to ${url.origin} closed mid-answer`)),
        );
        res.on('end', () => {
          if (settled) return;
          settled = true;
          clearTimeout(timer);
          resolve({
            status: res.statusCode ?? 0,
            headers: flatten(res.headers),
            body: Buffer.concat(chunks),
            url,
          });
        });
      }
    });
  }
}

/**
 * The CAs Node trusts by default: its bundled roots plus NODE_EXTRA_CA_CERTS (and the system store under
 * --use-system-ca). An agent given `ca` trusts only that list, so --registry-ca is appended to this one rather than
 * to the bare bundled roots, which would silently drop a cluster's NODE_EXTRA_CA_CERTS.
 */
export function defaultTrust(): string[] {
  // tls.getCACertificates exists from Node 22.15 / 23.10; older Nodes have only the bundled roots to offer.
  const get = (tls as { getCACertificates?: (type: 'default') => string[] }).getCACertificates;
  return typeof get === 'function' ? get('default') : [...tls.rootCertificates];
}

function classify(cause: unknown, url: URL): TransportError {
  const code = (cause as { code?: unknown })?.code;
  const text = `${typeof code === 'string' ? code : ''} ${cause instanceof Error ? cause.message : ''}`;
  if (TLS_ERROR.test(text)) {
    return new TransportError('tls', `TLS failure talking to ${url.origin}: ${text.trim()}`, { cause });
  }
  return new TransportError('network', `cannot reach ${url.origin}: ${text.trim()}`, { cause });
}

function flatten(headers: http.IncomingHttpHeaders): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(headers)) {
    if (value === undefined) continue;
    out[name.toLowerCase()] = Array.isArray(value) ? value.join(', ') : value;
  }
  return out;
}

function withoutAuthorization(headers: Record<string, string>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(headers)) if (k.toLowerCase() !== 'authorization') out[k] = v;
  return out;
}
