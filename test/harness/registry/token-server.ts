// A Docker Hub-like token server for the bearer variant: GET /token?service=…&scope=… with optional Basic
// credentials answers an RS256 JWT (x5c header) granting pull to anyone and push to authenticated users.

import { createPrivateKey, randomUUID, sign } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { pemToDerBase64, type TokenSigner } from './certs.ts';
import type { TokenServerInfo } from './types.ts';

export interface TokenServerOptions {
  signer: TokenSigner;
  /** The JWT `iss`; the registry's auth.token.issuer. */
  issuer: string;
  users: Record<string, string>;
  ttlSeconds: number;
}

export interface TokenServer extends TokenServerInfo {
  stop(): Promise<void>;
}

interface Access {
  type: string;
  name: string;
  actions: string[];
}

/** Starts the token server on 127.0.0.1:0; rejects when it cannot listen. */
export async function startTokenServer(opts: TokenServerOptions): Promise<TokenServer> {
  const key = createPrivateKey(opts.signer.keyPem);
  const x5c = [pemToDerBase64(opts.signer.certPem)];
  const requests: Array<{ scope: string; user?: string }> = [];
  let issued = 0;

  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    if (url.pathname !== '/token' || (req.method !== 'GET' && req.method !== 'POST')) {
      return json(res, 404, { errors: [{ code: 'NOT_FOUND' }] });
    }
    // GET is the docker token protocol (credentials as Basic); POST is its OAuth2 form (grant_type=password), which
    // docker uses with identity tokens. Both answer the same token.
    const params = req.method === 'POST' ? new URLSearchParams(await readBody(req)) : url.searchParams;
    const scopes = params
      .getAll('scope')
      .flatMap((s) => s.split(' '))
      .filter(Boolean);
    const service = params.get('service') ?? '';
    const presented =
      req.method === 'POST'
        ? params.get('grant_type') === 'password'
          ? { username: params.get('username') ?? '', password: params.get('password') ?? '' }
          : undefined
        : req.headers.authorization !== undefined
          ? (parseBasic(req.headers.authorization) ?? { username: '', password: '' })
          : undefined;
    const user = presented?.username;
    requests.push(user === undefined ? { scope: scopes.join(' ') } : { scope: scopes.join(' '), user });
    // Docker Hub rejects wrong credentials outright rather than downgrading to anonymous.
    if (presented !== undefined && opts.users[presented.username] !== presented.password) {
      res.setHeader('WWW-Authenticate', 'Basic realm="registry-harness-token"');
      return json(res, 401, { details: 'incorrect username or password' });
    }
    const access = scopes
      .map((s) => grant(s, user !== undefined))
      .filter((a): a is Access => a !== undefined);
    const now = Math.floor(Date.now() / 1000);
    const claims = {
      iss: opts.issuer,
      sub: user ?? '',
      aud: service,
      exp: now + opts.ttlSeconds,
      nbf: now - 10,
      iat: now,
      jti: randomUUID(),
      access,
    };
    const token = jwt({ typ: 'JWT', alg: 'RS256', x5c }, claims, key);
    issued++;
    json(res, 200, {
      token,
      access_token: token,
      expires_in: opts.ttlSeconds,
      issued_at: new Date(now * 1000).toISOString(),
    });
  };

  const server = createServer((req, res) => {
    handle(req, res).catch(() => res.destroy());
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/token`,
    issued: () => issued,
    requests: () => requests.map((r) => ({ ...r })),
    stop: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

// 'repository:name:pull,push' → the granted subset. The spec lets a resource name hold ':' (a host:port prefix), so
// split on the first and the last ':'.
function grant(scope: string, authenticated: boolean): Access | undefined {
  const first = scope.indexOf(':');
  const last = scope.lastIndexOf(':');
  if (first < 0 || last <= first) return undefined;
  const type = scope.slice(0, first);
  const name = scope.slice(first + 1, last);
  const wanted = scope.slice(last + 1).split(',');
  if (type !== 'repository') return { type, name, actions: [] };
  const allowed = authenticated ? ['pull', 'push', 'delete', '*'] : ['pull'];
  return { type, name, actions: wanted.filter((a) => allowed.includes(a)) };
}

function parseBasic(header: string | undefined): { username: string; password: string } | undefined {
  const m = /^Basic\s+(\S+)$/i.exec(header ?? '');
  if (!m?.[1]) return undefined;
  const decoded = Buffer.from(m[1], 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  if (colon < 0) return undefined;
  return { username: decoded.slice(0, colon), password: decoded.slice(colon + 1) };
}

function jwt(head: object, claims: object, key: ReturnType<typeof createPrivateKey>): string {
  const b64 = (o: object) => Buffer.from(JSON.stringify(o)).toString('base64url');
  const input = `${b64(head)}.${b64(claims)}`;
  return `${input}.${sign('sha256', Buffer.from(input), key).toString('base64url')}`;
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

function json(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(text) });
  res.end(text);
}
