// The harness's own registry client: answers Basic and Bearer challenges like docker does, so pushImage and the
// harness tests talk to every auth variant the same way.

import { fetchBuffer, type HttpOptions, type HttpResponse, header } from './http.ts';

export interface ClientOptions {
  /** 'http(s)://127.0.0.1:PORT'. */
  url: string;
  caPem?: string;
  credentials?: { username: string; password: string };
}

export interface Challenge {
  scheme: string;
  params: Record<string, string>;
}

export interface RegistryClient {
  /** Sends a request to a path (or absolute URL), answering one auth challenge with the given scope; never rejects on a status. */
  request(path: string, opts: HttpOptions & { scope?: string }): Promise<HttpResponse>;
}

/** Parses a WWW-Authenticate value ('Bearer realm="…",service="…"'); undefined when it is not one. */
export function parseChallenge(value: string | undefined): Challenge | undefined {
  const m = /^\s*(\w+)\s*(.*)$/s.exec(value ?? '');
  if (!m?.[1]) return undefined;
  const params: Record<string, string> = {};
  for (const p of (m[2] ?? '').matchAll(/(\w+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^,\s]*))/g)) {
    if (p[1]) params[p[1].toLowerCase()] = (p[2] ?? p[3] ?? '').replace(/\\(.)/g, '$1');
  }
  return { scheme: m[1].toLowerCase(), params };
}

/** A client for one registry; token fetch failures reject with the token server's status. */
export function createClient(opts: ClientOptions): RegistryClient {
  const tokens = new Map<string, string>();
  let basic = false;
  const tlsOpts = opts.caPem !== undefined ? { ca: opts.caPem } : {};
  const basicValue = opts.credentials
    ? `Basic ${Buffer.from(`${opts.credentials.username}:${opts.credentials.password}`).toString('base64')}`
    : undefined;

  const send = (path: string, o: HttpOptions, authorization: string | undefined) =>
    fetchBuffer(new URL(path, opts.url), {
      ...tlsOpts,
      ...o,
      headers: { ...o.headers, ...(authorization !== undefined ? { Authorization: authorization } : {}) },
    });

  const fetchToken = async (challenge: Challenge, scope: string | undefined): Promise<string> => {
    const realm = challenge.params.realm;
    if (!realm) throw new Error('bearer challenge without realm');
    const url = new URL(realm);
    if (challenge.params.service) url.searchParams.set('service', challenge.params.service);
    const wanted = scope ?? challenge.params.scope;
    if (wanted) url.searchParams.set('scope', wanted);
    const res = await fetchBuffer(url, {
      ...tlsOpts,
      ...(basicValue !== undefined ? { headers: { Authorization: basicValue } } : {}),
    });
    if (res.status !== 200)
      throw new Error(`token request ${url.href}: HTTP ${res.status} ${res.body.toString()}`);
    const body = JSON.parse(res.body.toString()) as { token?: string; access_token?: string };
    const token = body.token ?? body.access_token;
    if (!token) throw new Error(`token request ${url.href}: no token in answer`);
    return token;
  };

  return {
    async request(path, o) {
      const key = o.scope ?? '';
      const known = basic ? basicValue : tokens.has(key) ? `Bearer ${tokens.get(key)}` : undefined;
      const first = await send(path, o, known);
      if (first.status !== 401) return first;
      const challenge = parseChallenge(header(first, 'www-authenticate'));
      if (challenge?.scheme === 'basic' && basicValue !== undefined) {
        basic = true;
        return send(path, o, basicValue);
      }
      if (challenge?.scheme === 'bearer') {
        const token = await fetchToken(challenge, o.scope);
        tokens.set(key, token);
        return send(path, o, `Bearer ${token}`);
      }
      return first;
    },
  };
}
