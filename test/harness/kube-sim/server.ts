// The API simulator's HTTPS front end: fault injection, bearer-token authentication, RBAC, discovery, and the
// dispatch of Kubernetes REST requests to the list/watch and object verbs.

import type { IncomingMessage, ServerResponse } from 'node:http';
import { createServer, type Server } from 'node:https';
import type { AddressInfo, Socket } from 'node:net';
import {
  AGGREGATED_DISCOVERY_TYPE,
  aggregatedDiscovery,
  apiGroup,
  apiGroupList,
  apiResourceList,
  apiVersions,
  openApiV3GroupVersion,
  openApiV3Root,
  VERSION_INFO,
} from './discovery.ts';
import type { FaultInjector } from './faults.ts';
import { type ListWatchContext, serveList, serveWatch } from './list-watch.ts';
import {
  type Authenticator,
  authorize,
  forbiddenReason,
  impersonate,
  type RequestAttributes,
} from './rbac.ts';
import { parseBody, REASONS, readBody, send, sendError, sendStatus } from './respond.ts';
import { parseRoute, verbOf } from './routing.ts';
import type { Store } from './store.ts';
import { StoreError } from './store.ts';
import type { TlsMaterial } from './tls.ts';
import {
  serveCreate,
  serveDelete,
  serveDeleteCollection,
  serveGet,
  servePatch,
  serveUpdate,
  type VerbContext,
} from './verbs.ts';

export { statusBody } from './respond.ts';

export interface ApiServerOptions {
  store: Store;
  auth: Authenticator;
  faults: FaultInjector;
  tls: TlsMaterial;
  /** How often watches with allowWatchBookmarks get a BOOKMARK; default 10 s. */
  bookmarkIntervalMs?: number;
}

export interface ApiServer {
  /** `https://127.0.0.1:<port>` */
  url: string;
  /** Ends every watch, closes every connection and the listener. */
  close(): Promise<void>;
}

/** Starts the HTTPS API server on 127.0.0.1 (port 0); rejects when it cannot listen. */
export async function startApiServer(opts: ApiServerOptions): Promise<ApiServer> {
  const { store, auth, faults } = opts;
  const watches = new Set<() => void>();
  const sockets = new Set<Socket>();
  const lw: ListWatchContext = { store, watches, bookmarkIntervalMs: opts.bookmarkIntervalMs ?? 10_000 };
  const verbs: VerbContext = { store, auth };
  let serverAddress = '127.0.0.1:0';

  const server: Server = createServer({ key: opts.tls.keyPem, cert: opts.tls.certPem }, (req, res) => {
    handle(req, res).catch((e: unknown) => {
      if (res.headersSent) {
        res.destroy();
      } else if (e instanceof StoreError) {
        sendError(res, e);
      } else {
        sendStatus(
          res,
          500,
          'InternalError',
          `Internal error occurred: ${(e as Error)?.message ?? String(e)}`,
        );
      }
    });
  });
  server.on('secureConnection', (s: Socket) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });

  /** Applies an injected fault; true when the request has been answered (or its socket destroyed). */
  async function injectFault(req: IncomingMessage, res: ServerResponse, method: string, path: string) {
    const fault = faults.take(method, path);
    if (!fault) return false;
    if (fault.latencyMs) await new Promise((r) => setTimeout(r, fault.latencyMs));
    if (fault.reset) {
      req.socket.destroy();
      return true;
    }
    if (!fault.status) return false;
    const code = fault.status;
    const ra = fault.retryAfterSeconds;
    sendStatus(
      res,
      code,
      REASONS[code] ?? 'InternalError',
      code === 429 ? 'Too many requests, please try again later.' : `injected fault: ${code}`,
      ra !== undefined ? { retryAfterSeconds: ra } : undefined,
      ra !== undefined ? { 'Retry-After': String(ra) } : {},
    );
    return true;
  }

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'https://127.0.0.1');
    const method = (req.method ?? 'GET').toUpperCase();
    if (await injectFault(req, res, method, url.pathname)) return;
    const body = await readBody(req);
    let user = auth.authenticate(req.headers.authorization);
    if (!user) {
      sendStatus(res, 401, 'Unauthorized', 'Unauthorized');
      return;
    }
    const asUser = req.headersDistinct['impersonate-user']?.[0];
    if (asUser) {
      const r = impersonate(store, user, {
        user: asUser,
        groups: req.headersDistinct['impersonate-group'] ?? [],
      });
      if ('forbidden' in r) {
        sendStatus(res, 403, 'Forbidden', r.forbidden, r.details);
        return;
      }
      user = r.user;
    }
    const route = parseRoute(url.pathname);
    if ('notFound' in route) {
      sendStatus(res, 404, 'NotFound', 'the server could not find the requested resource');
      return;
    }
    if ('nonResource' in route) {
      const attrs: RequestAttributes = {
        verb: method === 'GET' || method === 'HEAD' ? 'get' : method.toLowerCase(),
        path: url.pathname,
      };
      if (!authorize(store, user, attrs)) {
        sendStatus(res, 403, 'Forbidden', `forbidden: ${forbiddenReason(user, attrs)}`, {});
        return;
      }
      serveNonResource(req, res, url.pathname);
      return;
    }
    const q = url.searchParams;
    const verb = verbOf(method, route, q);
    if (!verb) {
      sendStatus(
        res,
        405,
        'MethodNotAllowed',
        'the server does not allow this method on the requested resource',
        {},
      );
      return;
    }
    const t = route.type;
    const attrs: RequestAttributes = {
      verb,
      apiGroup: t.group,
      resource: t.resource,
      ...(route.subresource ? { subresource: route.subresource } : {}),
      namespace: route.namespace ?? '',
      ...(route.name ? { name: route.name } : {}),
    };
    if (!authorize(store, user, attrs)) {
      const qualified = t.group ? `${t.resource}.${t.group}` : t.resource;
      sendStatus(
        res,
        403,
        'Forbidden',
        `${qualified}${route.name ? ` "${route.name}"` : ''} is forbidden: ${forbiddenReason(user, attrs)}`,
        { ...(route.name ? { name: route.name } : {}), group: t.group, kind: t.resource },
      );
      return;
    }
    const ct = req.headers['content-type'];
    switch (verb) {
      case 'get':
        return serveGet(verbs, req, res, route, q);
      case 'list':
        return serveList(lw, req, res, route, q);
      case 'watch':
        return serveWatch(lw, req, res, route, q);
      case 'create':
        return serveCreate(verbs, res, route, q, parseBody(body, ct), user);
      case 'update':
        return serveUpdate(verbs, res, route, q, parseBody(body, ct));
      case 'patch':
        return servePatch(verbs, req, res, route, q, body);
      case 'delete':
        return serveDelete(verbs, res, route, q, parseBody(body, ct));
      case 'deletecollection':
        return serveDeleteCollection(verbs, res, route, q, parseBody(body, ct));
    }
  }

  /** Discovery, OpenAPI v3 (enough for kubectl's server-side field validation check), version and health. */
  function serveNonResource(req: IncomingMessage, res: ServerResponse, path: string): void {
    const p = path.replace(/\/+$/, '') || '/';
    const aggregated = /as=APIGroupDiscoveryList/.test(req.headers.accept ?? '');
    let doc: object | undefined;
    if (p === '/healthz' || p === '/livez' || p === '/readyz') {
      res.writeHead(200, { 'Content-Type': 'text/plain; charset=utf-8' });
      res.end('ok');
      return;
    }
    if ((p === '/api' || p === '/apis') && aggregated) {
      send(res, 200, aggregatedDiscovery(p === '/api'), { 'Content-Type': AGGREGATED_DISCOVERY_TYPE });
      return;
    }
    if (p === '/version') doc = VERSION_INFO;
    else if (p === '/api') doc = apiVersions(serverAddress);
    else if (p === '/apis') doc = apiGroupList();
    else if (p === '/openapi/v3') doc = openApiV3Root();
    else if (p.startsWith('/openapi/v3/')) doc = openApiV3GroupVersion(p.slice('/openapi/v3/'.length));
    else {
      const core = p.match(/^\/api\/([^/]+)$/);
      const named = p.match(/^\/apis\/([^/]+)(?:\/([^/]+))?$/);
      if (core) doc = apiResourceList('', core[1]!);
      else if (named)
        doc = named[2] === undefined ? apiGroup(named[1]!) : apiResourceList(named[1]!, named[2]);
    }
    if (doc) send(res, 200, doc);
    else sendStatus(res, 404, 'NotFound', 'the server could not find the requested resource', {});
  }

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  const port = (server.address() as AddressInfo).port;
  serverAddress = `127.0.0.1:${port}`;
  return {
    url: `https://127.0.0.1:${port}`,
    async close() {
      for (const w of [...watches]) w();
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeAllConnections();
      for (const s of sockets) s.destroy();
      await closed;
    },
  };
}
