// The API simulator's HTTPS front end: routing of the Kubernetes REST paths to the store, with discovery,
// authentication, RBAC, selectors, pagination, patches, watches, server-side tables and Status errors.

import { randomBytes } from 'node:crypto';
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
import { evictPod } from './eviction.ts';
import type { FaultInjector } from './faults.ts';
import { APPLY_PATCH, applyPatch } from './patch.ts';
import { decodeKubernetesProtobuf, isKubernetesProtobuf } from './proto/decode.ts';
import {
  type Authenticator,
  authorize,
  forbiddenReason,
  type RequestAttributes,
  rulesFor,
  type UserInfo,
} from './rbac.ts';
import { apiVersionOf, findResource, type ResourceType, resourceKey } from './resources.ts';
import { matchRequirements, parseFieldSelector, parseLabelSelector } from './selectors.ts';
import { type DeleteOptions, type KObject, type Store, StoreError, type StoreEvent } from './store.ts';
import { type IncludeObject, toTable, wantsTable } from './table.ts';
import type { TlsMaterial } from './tls.ts';

// biome-ignore lint/suspicious/noExplicitAny: open JSON.
type Json = any;

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

const REASONS: Record<number, string> = {
  400: 'BadRequest',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'NotFound',
  405: 'MethodNotAllowed',
  406: 'NotAcceptable',
  409: 'Conflict',
  410: 'Expired',
  413: 'RequestEntityTooLarge',
  415: 'UnsupportedMediaType',
  422: 'Invalid',
  429: 'TooManyRequests',
  500: 'InternalError',
  503: 'ServiceUnavailable',
  504: 'Timeout',
};

/** A failure Status body as the API server sends it. */
export function statusBody(
  code: number,
  reason: string,
  message: string,
  details?: Record<string, unknown>,
): Json {
  return {
    kind: 'Status',
    apiVersion: 'v1',
    metadata: {},
    status: 'Failure',
    message,
    reason,
    ...(details ? { details } : {}),
    code,
  };
}

/** Kinds whose delete returns the object itself rather than a Success Status (ReturnDeletedObject in the real registry). */
const RETURNS_DELETED_OBJECT = new Set(['Pod', 'Namespace', 'Service']);

interface ResourceRoute {
  type: ResourceType;
  namespace?: string;
  name?: string;
  subresource?: string;
  watchPath: boolean;
}

type Route = { nonResource: string } | ResourceRoute | { notFound: true };

function parseRoute(path: string): Route {
  const seg = path
    .split('/')
    .filter((s) => s !== '')
    .map(decodeURIComponent);
  let group: string;
  let version: string;
  let rest: string[];
  if (seg[0] === 'api' && seg.length >= 2) {
    group = '';
    version = seg[1]!;
    rest = seg.slice(2);
  } else if (seg[0] === 'apis' && seg.length >= 3) {
    group = seg[1]!;
    version = seg[2]!;
    rest = seg.slice(3);
  } else {
    return { nonResource: path };
  }
  if (rest.length === 0) return { nonResource: path };
  let watchPath = false;
  if (rest[0] === 'watch') {
    watchPath = true;
    rest = rest.slice(1);
  }
  let namespace: string | undefined;
  if (rest[0] === 'namespaces' && rest.length >= 3 && findResource(group, rest[2]!)?.namespaced) {
    namespace = rest[1];
    rest = rest.slice(2);
  }
  if (rest.length > 3) return { notFound: true };
  const type = findResource(group, rest[0]!);
  if (!type || type.version !== version) return { notFound: true };
  if (namespace !== undefined && !type.namespaced) return { notFound: true };
  if (type.namespaced && namespace === undefined && rest.length > 1) return { notFound: true };
  const sub = rest[2];
  if (sub !== undefined && !type.subresources.includes(sub)) return { notFound: true };
  return { type, namespace, name: rest[1], subresource: sub, watchPath };
}

function verbOf(method: string, r: ResourceRoute, q: URLSearchParams): string | undefined {
  const watch = r.watchPath || q.get('watch') === 'true' || q.get('watch') === '1';
  switch (method) {
    case 'GET':
      if (watch) return 'watch';
      return r.name ? 'get' : 'list';
    case 'POST':
      if (r.name && !r.subresource) return undefined;
      return 'create';
    case 'PUT':
      return r.name ? 'update' : undefined;
    case 'PATCH':
      return r.name ? 'patch' : undefined;
    case 'DELETE':
      if (r.subresource) return undefined;
      return r.name ? 'delete' : 'deletecollection';
    default:
      return undefined;
  }
}

function readBody(req: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

/** The request body as JSON; kubectl's typed clients send protobuf, which is decoded to the same JSON. */
function parseJson(buf: Buffer, contentType?: string): Json {
  if (buf.length === 0) return undefined;
  if (isKubernetesProtobuf(contentType)) return decodeKubernetesProtobuf(buf);
  try {
    return JSON.parse(buf.toString('utf8'));
  } catch (e) {
    throw new StoreError(
      400,
      'BadRequest',
      `the body of the request could not be decoded: ${(e as Error).message}`,
    );
  }
}

function send(res: ServerResponse, code: number, body: Json, headers: Record<string, string> = {}): void {
  const text = JSON.stringify(body);
  res.writeHead(code, {
    'Content-Type': 'application/json',
    'Content-Length': Buffer.byteLength(text),
    'Cache-Control': 'no-cache, private',
    ...headers,
  });
  res.end(text);
}

function sendStatus(
  res: ServerResponse,
  code: number,
  reason: string,
  message: string,
  details?: Record<string, unknown>,
  headers?: Record<string, string>,
): void {
  send(res, code, statusBody(code, reason, message, details), headers);
}

/** The continue token: opaque to clients, it names the last key served and the list's resourceVersion. */
function encodeContinue(rv: string, lastKey: string): string {
  return Buffer.from(JSON.stringify({ v: 'kube-sim/1', rv, start: lastKey }), 'utf8').toString('base64url');
}

function decodeContinue(token: string): { rv: string; start: string } {
  try {
    const j = JSON.parse(Buffer.from(token, 'base64url').toString('utf8'));
    if (j.v !== 'kube-sim/1' || typeof j.start !== 'string') throw new Error('bad token');
    return { rv: String(j.rv), start: j.start };
  } catch {
    throw new StoreError(
      400,
      'BadRequest',
      `The provided continue parameter is too old to display a consistent list result. You can start a new list without the continue parameter.`,
    );
  }
}

const objectKey = (o: KObject) => `${o.metadata.namespace ?? ''}/${o.metadata.name}`;

/** Serialised list items carry no kind/apiVersion, as with the real server's typed lists. */
function listItem(o: KObject): Json {
  const { kind: _k, apiVersion: _a, ...rest } = o;
  return rest;
}

function toScale(o: KObject): Json {
  const sel = o.spec?.selector?.matchLabels ?? {};
  return {
    kind: 'Scale',
    apiVersion: 'autoscaling/v1',
    metadata: {
      name: o.metadata.name,
      namespace: o.metadata.namespace,
      uid: o.metadata.uid,
      resourceVersion: o.metadata.resourceVersion,
      creationTimestamp: o.metadata.creationTimestamp,
    },
    spec: { replicas: o.spec?.replicas ?? 0 },
    status: {
      replicas: o.status?.replicas ?? 0,
      selector: Object.entries(sel)
        .map(([k, v]) => `${k}=${v}`)
        .join(','),
    },
  };
}

interface Selection {
  matches: (o: KObject) => boolean;
}

function selection(q: URLSearchParams, t: ResourceType): Selection {
  const ls = q.get('labelSelector');
  const fs = q.get('fieldSelector');
  const reqs = ls ? parseLabelSelector(ls) : [];
  const fieldMatch = fs ? parseFieldSelector(fs, t.kind) : undefined;
  return {
    matches: (o) => matchRequirements(reqs, o.metadata.labels) && (!fieldMatch || fieldMatch(o)),
  };
}

function includeObject(q: URLSearchParams): IncludeObject {
  const v = q.get('includeObject');
  return v === 'None' || v === 'Object' ? v : 'Metadata';
}

function deleteOptions(body: Json, q: URLSearchParams): DeleteOptions {
  const o: DeleteOptions = {};
  const grace =
    body?.gracePeriodSeconds ??
    (q.has('gracePeriodSeconds') ? Number(q.get('gracePeriodSeconds')) : undefined);
  if (typeof grace === 'number' && !Number.isNaN(grace)) o.gracePeriodSeconds = grace;
  let policy = body?.propagationPolicy ?? q.get('propagationPolicy') ?? undefined;
  const orphan =
    body?.orphanDependents ?? (q.has('orphanDependents') ? q.get('orphanDependents') === 'true' : undefined);
  if (!policy && orphan === true) policy = 'Orphan';
  if (policy) {
    if (!['Background', 'Foreground', 'Orphan'].includes(policy)) {
      throw new StoreError(
        422,
        'Invalid',
        `DeleteOptions.meta.k8s.io "" is invalid: propagationPolicy: Unsupported value: "${policy}"`,
      );
    }
    o.propagationPolicy = policy;
  }
  if (body?.preconditions) o.preconditions = body.preconditions;
  const dry = body?.dryRun ?? q.getAll('dryRun');
  if (Array.isArray(dry) && dry.includes('All')) o.dryRun = true;
  return o;
}

function isDryRun(q: URLSearchParams): boolean {
  const v = q.getAll('dryRun');
  if (v.some((x) => x !== 'All'))
    throw new StoreError(400, 'BadRequest', `unsupported dry run option: ${v.join(',')}`);
  return v.includes('All');
}

/** Starts the HTTPS API server on 127.0.0.1 (port 0); rejects when it cannot listen. */
export async function startApiServer(opts: ApiServerOptions): Promise<ApiServer> {
  const { store, auth, faults } = opts;
  const watches = new Set<() => void>();
  const sockets = new Set<Socket>();
  let serverAddress = '127.0.0.1:0';

  const server: Server = createServer({ key: opts.tls.keyPem, cert: opts.tls.certPem }, (req, res) => {
    handle(req, res).catch((e: unknown) => {
      if (res.headersSent) {
        res.destroy();
        return;
      }
      if (e instanceof StoreError) {
        sendStatus(res, e.code, e.reason, e.message, e.details, retryAfterHeader(e));
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

  function retryAfterHeader(e: StoreError): Record<string, string> {
    const ra = e.details?.retryAfterSeconds;
    return typeof ra === 'number' && ra > 0 ? { 'Retry-After': String(ra) } : {};
  }

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'https://127.0.0.1');
    const method = (req.method ?? 'GET').toUpperCase();
    const fault = faults.take(method, url.pathname);
    if (fault?.latencyMs) await new Promise((r) => setTimeout(r, fault.latencyMs));
    if (fault?.reset) {
      req.socket.destroy();
      return;
    }
    if (fault?.status) {
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
      return;
    }
    const body = await readBody(req);
    const user = auth.authenticate(req.headers.authorization);
    if (!user) {
      sendStatus(res, 401, 'Unauthorized', 'Unauthorized');
      return;
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
    switch (verb) {
      case 'get':
        serveGet(req, res, route, q);
        return;
      case 'list':
        serveList(req, res, route, q);
        return;
      case 'watch':
        serveWatch(req, res, route, q);
        return;
      case 'create':
        serveCreate(res, route, q, parseJson(body, req.headers['content-type']), user);
        return;
      case 'update':
        serveUpdate(res, route, q, parseJson(body, req.headers['content-type']));
        return;
      case 'patch':
        servePatch(req, res, route, q, body);
        return;
      case 'delete':
        serveDelete(res, route, q, parseJson(body, req.headers['content-type']));
        return;
      case 'deletecollection':
        serveDeleteCollection(res, route, q, parseJson(body, req.headers['content-type']));
        return;
    }
  }

  function serveNonResource(req: IncomingMessage, res: ServerResponse, path: string): void {
    const p = path.replace(/\/+$/, '') || '/';
    const aggregated = /as=APIGroupDiscoveryList/.test(req.headers.accept ?? '');
    if (p === '/version') {
      send(res, 200, VERSION_INFO);
      return;
    }
    if (p === '/healthz' || p === '/livez' || p === '/readyz') {
      res.writeHead(200, { 'Content-Type': 'text/plain; charset=utf-8' });
      res.end('ok');
      return;
    }
    if (p === '/api') {
      if (aggregated)
        send(res, 200, aggregatedDiscovery(true), { 'Content-Type': AGGREGATED_DISCOVERY_TYPE });
      else send(res, 200, apiVersions(serverAddress));
      return;
    }
    if (p === '/apis') {
      if (aggregated)
        send(res, 200, aggregatedDiscovery(false), { 'Content-Type': AGGREGATED_DISCOVERY_TYPE });
      else send(res, 200, apiGroupList());
      return;
    }
    if (p === '/openapi/v3') {
      send(res, 200, openApiV3Root());
      return;
    }
    if (p.startsWith('/openapi/v3/')) {
      const doc = openApiV3GroupVersion(p.slice('/openapi/v3/'.length));
      if (doc) {
        send(res, 200, doc);
        return;
      }
    }
    const m = p.match(/^\/apis?\/([^/]+)(?:\/([^/]+))?$/);
    if (m) {
      const doc = p.startsWith('/api/')
        ? m[2] === undefined
          ? apiResourceList('', m[1]!)
          : undefined
        : m[2] === undefined
          ? apiGroup(m[1]!)
          : apiResourceList(m[1]!, m[2]);
      if (doc) {
        send(res, 200, doc);
        return;
      }
    }
    sendStatus(res, 404, 'NotFound', 'the server could not find the requested resource', {});
  }

  function key(r: ResourceRoute): string {
    return resourceKey(r.type);
  }

  function serveGet(req: IncomingMessage, res: ServerResponse, r: ResourceRoute, q: URLSearchParams): void {
    const o = store.mustGet(key(r), r.namespace, r.name!);
    if (r.subresource === 'scale') {
      send(res, 200, toScale(o));
      return;
    }
    if (r.subresource === 'log') {
      const text = (o.metadata.annotations?.['kube-sim/log'] as string | undefined) ?? '';
      res.writeHead(200, { 'Content-Type': 'text/plain', 'Content-Length': Buffer.byteLength(text) });
      res.end(text);
      return;
    }
    if (wantsTable(req.headers.accept)) {
      send(
        res,
        200,
        toTable(r.type.kind, [o], { resourceVersion: o.metadata.resourceVersion }, includeObject(q)),
      );
      return;
    }
    send(res, 200, o);
  }

  function serveList(req: IncomingMessage, res: ServerResponse, r: ResourceRoute, q: URLSearchParams): void {
    const sel = selection(q, r.type);
    const all = store.listRefs(key(r), r.namespace);
    const limitParam = Number(q.get('limit') ?? 0);
    const limit = Number.isInteger(limitParam) && limitParam > 0 ? limitParam : 0;
    const cont = q.get('continue');
    let start = 0;
    let rv = store.resourceVersion;
    if (cont) {
      const c = decodeContinue(cont);
      rv = c.rv;
      // Binary search for the first key after the last one served (listRefs is sorted by namespace/name).
      let lo = 0;
      let hi = all.length;
      while (lo < hi) {
        const mid = (lo + hi) >> 1;
        if (objectKey(all[mid]!) <= c.start) lo = mid + 1;
        else hi = mid;
      }
      start = lo;
    }
    const items: KObject[] = [];
    let i = start;
    for (; i < all.length; i++) {
      const o = all[i]!;
      if (!sel.matches(o)) continue;
      if (limit && items.length === limit) break;
      items.push(o);
    }
    const meta: Json = { resourceVersion: rv };
    if (limit && i < all.length && items.length > 0) {
      meta.continue = encodeContinue(rv, objectKey(items[items.length - 1]!));
      if (!q.get('labelSelector') && !q.get('fieldSelector')) meta.remainingItemCount = all.length - i;
    }
    if (wantsTable(req.headers.accept)) {
      send(res, 200, toTable(r.type.kind, items, meta, includeObject(q)));
      return;
    }
    send(res, 200, {
      kind: `${r.type.kind}List`,
      apiVersion: apiVersionOf(r.type),
      metadata: meta,
      items: items.map(listItem),
    });
  }

  function serveWatch(req: IncomingMessage, res: ServerResponse, r: ResourceRoute, q: URLSearchParams): void {
    const t = r.type;
    const sel = selection(q, t);
    const nameFilter = r.name;
    const matches = (o: KObject | undefined) =>
      !!o && (!nameFilter || o.metadata.name === nameFilter) && sel.matches(o);
    const table = wantsTable(req.headers.accept);
    const include = includeObject(q);
    const rvParam = q.get('resourceVersion') ?? '';
    const sendInitial = q.get('sendInitialEvents') === 'true';
    const bookmarks = q.get('allowWatchBookmarks') === 'true' || q.get('allowWatchBookmarks') === '1';
    res.writeHead(200, {
      'Content-Type': 'application/json',
      'Cache-Control': 'no-cache, private',
      'Transfer-Encoding': 'chunked',
    });
    res.flushHeaders();
    const write = (type: string, obj: Json) => {
      const o =
        table && type !== 'ERROR' && type !== 'BOOKMARK'
          ? toTable(t.kind, [obj], { resourceVersion: obj.metadata.resourceVersion }, include)
          : obj;
      res.write(`${JSON.stringify({ type, object: o })}\n`);
    };
    const bookmark = (initialEnd: boolean) =>
      write('BOOKMARK', {
        kind: t.kind,
        apiVersion: apiVersionOf(t),
        metadata: {
          resourceVersion: store.resourceVersion,
          ...(initialEnd ? { annotations: { 'k8s.io/initial-events-end': 'true' } } : {}),
        },
      });
    let unsubscribe: (() => void) | undefined;
    const timers: NodeJS.Timeout[] = [];
    const finish = () => {
      if (!watches.has(finish)) return;
      watches.delete(finish);
      unsubscribe?.();
      for (const tm of timers) clearTimeout(tm);
      if (!res.writableEnded) res.end();
    };
    watches.add(finish);
    res.on('close', finish);
    const onEvent = (ev: StoreEvent) => {
      const now = matches(ev.object);
      if (ev.type === 'MODIFIED') {
        const before = ev.previous ? matches(ev.previous) : now;
        if (now && before) write('MODIFIED', ev.object);
        else if (now) write('ADDED', ev.object);
        else if (before) write('DELETED', ev.object);
      } else if (now) {
        write(ev.type, ev.object);
      }
    };
    const fromScratch = rvParam === '' || rvParam === '0' || sendInitial;
    try {
      if (fromScratch) {
        // No resourceVersion or "0": the real server starts with synthetic ADDED events for the current state.
        for (const o of store.listRefs(resourceKey(t), r.namespace)) if (matches(o)) write('ADDED', o);
        if (sendInitial && bookmarks) bookmark(true);
        unsubscribe = store.watch(resourceKey(t), r.namespace, undefined, onEvent);
      } else {
        const fromRV = Number(rvParam);
        if (!Number.isInteger(fromRV) || fromRV < 0)
          throw new StoreError(400, 'BadRequest', `invalid resource version: ${rvParam}`);
        unsubscribe = store.watch(resourceKey(t), r.namespace, fromRV, onEvent);
      }
    } catch (e) {
      if (e instanceof StoreError) {
        write('ERROR', statusBody(e.code, e.reason, e.message));
        finish();
        return;
      }
      throw e;
    }
    const timeout = Number(q.get('timeoutSeconds') ?? 0);
    if (timeout > 0) timers.push(setTimeout(finish, timeout * 1000));
    if (bookmarks) {
      const every = opts.bookmarkIntervalMs ?? 10_000;
      const tick = () => {
        bookmark(false);
        timers.push(setTimeout(tick, every));
      };
      timers.push(setTimeout(tick, every));
    }
  }

  function checkNamespace(r: ResourceRoute, obj: Json): void {
    if (!obj || typeof obj !== 'object' || Array.isArray(obj)) {
      throw new StoreError(400, 'BadRequest', 'the body of the request must be a JSON object');
    }
    obj.metadata ??= {};
    if (r.type.namespaced) {
      if (obj.metadata.namespace && r.namespace && obj.metadata.namespace !== r.namespace) {
        throw new StoreError(
          400,
          'BadRequest',
          'the namespace of the provided object does not match the namespace sent on the request',
        );
      }
      obj.metadata.namespace = r.namespace;
    }
    if (obj.kind && obj.kind !== r.type.kind && !r.subresource) {
      throw new StoreError(
        400,
        'BadRequest',
        `the API version in the data (${obj.apiVersion}) does not match the expected API version (${apiVersionOf(r.type)}) or kind ${obj.kind} is not ${r.type.kind}`,
      );
    }
  }

  function serveCreate(
    res: ServerResponse,
    r: ResourceRoute,
    q: URLSearchParams,
    body: Json,
    user: UserInfo,
  ): void {
    const dryRun = isDryRun(q);
    if (r.subresource === 'token') {
      send(res, 201, tokenRequest(r, body));
      return;
    }
    if (r.subresource === 'eviction') {
      send(res, 201, evictPod(store, r.namespace!, r.name!, body, dryRun));
      return;
    }
    if (r.subresource)
      throw new StoreError(404, 'NotFound', 'the server could not find the requested resource');
    if (r.type.kind === 'SelfSubjectReview') {
      send(res, 201, {
        kind: 'SelfSubjectReview',
        apiVersion: 'authentication.k8s.io/v1',
        metadata: { creationTimestamp: null },
        status: { userInfo: { username: user.username, groups: user.groups } },
      });
      return;
    }
    if (r.type.kind === 'SelfSubjectAccessReview') {
      send(res, 201, accessReview(user, body));
      return;
    }
    if (r.type.kind === 'SelfSubjectRulesReview') {
      send(res, 201, rulesReview(user, body));
      return;
    }
    checkNamespace(r, body);
    if (!r.type.namespaced && r.namespace)
      throw new StoreError(404, 'NotFound', 'the server could not find the requested resource');
    // PrepareForCreate of the real registries: a client cannot set the status of a new object.
    if (r.type.subresources.includes('status') && r.type.kind !== 'Namespace') delete body.status;
    send(res, 201, store.create(key(r), body, { dryRun }));
  }

  /** serviceaccounts/<name>/token: a TokenRequest answered with a fresh bearer token for that ServiceAccount. */
  function tokenRequest(r: ResourceRoute, body: Json): Json {
    const sa = store.mustGet(key(r), r.namespace, r.name!);
    const token = randomBytes(24).toString('base64url');
    auth.addServiceAccount(token, r.namespace!, r.name!);
    const seconds = body?.spec?.expirationSeconds ?? 3600;
    return {
      kind: 'TokenRequest',
      apiVersion: 'authentication.k8s.io/v1',
      metadata: { name: sa.metadata.name, namespace: sa.metadata.namespace, creationTimestamp: null },
      spec: { audiences: [], ...(body?.spec ?? {}), expirationSeconds: seconds },
      status: {
        token,
        expirationTimestamp: new Date(Date.now() + seconds * 1000).toISOString().replace(/\.\d{3}Z$/, 'Z'),
      },
    };
  }

  function accessReview(user: UserInfo, body: Json): Json {
    const ra = body?.spec?.resourceAttributes;
    const nra = body?.spec?.nonResourceAttributes;
    let allowed = false;
    if (ra) {
      allowed = authorize(store, user, {
        verb: ra.verb ?? '',
        apiGroup: ra.group ?? '',
        resource: ra.resource ?? '',
        ...(ra.subresource ? { subresource: ra.subresource } : {}),
        namespace: ra.namespace ?? '',
        ...(ra.name ? { name: ra.name } : {}),
      });
    } else if (nra) {
      allowed = authorize(store, user, { verb: nra.verb ?? '', path: nra.path ?? '' });
    }
    return {
      kind: 'SelfSubjectAccessReview',
      apiVersion: 'authorization.k8s.io/v1',
      metadata: { creationTimestamp: null },
      spec: body?.spec ?? {},
      status: { allowed, ...(allowed ? { reason: "RBAC: allowed by the simulator's RBAC authorizer" } : {}) },
    };
  }

  function rulesReview(user: UserInfo, body: Json): Json {
    const ns = body?.spec?.namespace || undefined;
    const rules = user.groups.includes('system:masters')
      ? [
          { verbs: ['*'], apiGroups: ['*'], resources: ['*'] },
          { verbs: ['*'], nonResourceURLs: ['*'] },
        ]
      : rulesFor(store, user, ns);
    return {
      kind: 'SelfSubjectRulesReview',
      apiVersion: 'authorization.k8s.io/v1',
      metadata: { creationTimestamp: null },
      spec: body?.spec ?? {},
      status: {
        resourceRules: rules
          .filter((x) => x.resources)
          .map((x) => ({
            verbs: x.verbs,
            apiGroups: x.apiGroups ?? [],
            resources: x.resources,
            ...(x.resourceNames ? { resourceNames: x.resourceNames } : {}),
          })),
        nonResourceRules: rules
          .filter((x) => x.nonResourceURLs)
          .map((x) => ({ verbs: x.verbs, nonResourceURLs: x.nonResourceURLs })),
        incomplete: false,
      },
    };
  }

  function serveUpdate(res: ServerResponse, r: ResourceRoute, q: URLSearchParams, body: Json): void {
    const dryRun = isDryRun(q);
    checkNamespace(r, body);
    if (body.metadata.name && body.metadata.name !== r.name) {
      throw new StoreError(
        400,
        'BadRequest',
        `the name of the object (${body.metadata.name}) does not match the name on the URL (${r.name})`,
      );
    }
    body.metadata.name = r.name;
    if (r.subresource === 'scale') {
      const current = store.mustGet(key(r), r.namespace, r.name!);
      if (body.metadata.resourceVersion) current.metadata.resourceVersion = body.metadata.resourceVersion;
      current.spec = { ...current.spec, replicas: body.spec?.replicas ?? 0 };
      send(res, 200, toScale(store.update(key(r), current, { dryRun })));
      return;
    }
    if (r.subresource && r.subresource !== 'status')
      throw new StoreError(
        405,
        'MethodNotAllowed',
        'the server does not allow this method on the requested resource',
      );
    const sub =
      r.subresource === 'status' && r.type.subresources.includes('status') ? { subresource: 'status' } : {};
    send(res, 200, store.update(key(r), body, { ...sub, dryRun }));
  }

  function servePatch(
    req: IncomingMessage,
    res: ServerResponse,
    r: ResourceRoute,
    q: URLSearchParams,
    raw: Buffer,
  ): void {
    const dryRun = isDryRun(q);
    const ct = req.headers['content-type'] ?? '';
    if (ct.toLowerCase().startsWith(APPLY_PATCH)) {
      throw new StoreError(
        415,
        'UnsupportedMediaType',
        `the simulator does not implement server-side apply (${APPLY_PATCH})`,
      );
    }
    const patch = parseJson(raw);
    const current = store.mustGet(key(r), r.namespace, r.name!);
    if (r.subresource === 'scale') {
      const scale = applyPatch(ct, toScale(current), patch);
      if (scale?.metadata?.resourceVersion) current.metadata.resourceVersion = scale.metadata.resourceVersion;
      current.spec = { ...current.spec, replicas: scale?.spec?.replicas ?? 0 };
      send(res, 200, toScale(store.update(key(r), current, { dryRun })));
      return;
    }
    if (r.subresource && r.subresource !== 'status')
      throw new StoreError(
        405,
        'MethodNotAllowed',
        'the server does not allow this method on the requested resource',
      );
    const next = applyPatch(ct, current, patch);
    if (!next || typeof next !== 'object' || Array.isArray(next))
      throw new StoreError(422, 'Invalid', 'the patch produced something that is not an object');
    next.metadata ??= {};
    next.metadata.name = r.name;
    if (r.type.namespaced) next.metadata.namespace = r.namespace;
    const sub = r.subresource === 'status' ? { subresource: 'status' } : {};
    send(res, 200, store.update(key(r), next, { ...sub, dryRun }));
  }

  function serveDelete(res: ServerResponse, r: ResourceRoute, q: URLSearchParams, body: Json): void {
    const o = deleteOptions(body, q);
    const { object, removed } = store.delete(key(r), r.namespace, r.name!, o);
    if (removed && !RETURNS_DELETED_OBJECT.has(r.type.kind)) {
      send(res, 200, {
        kind: 'Status',
        apiVersion: 'v1',
        metadata: {},
        status: 'Success',
        details: {
          name: object.metadata.name,
          group: r.type.group,
          kind: r.type.resource,
          uid: object.metadata.uid,
        },
      });
      return;
    }
    send(res, 200, object);
  }

  function serveDeleteCollection(
    res: ServerResponse,
    r: ResourceRoute,
    q: URLSearchParams,
    body: Json,
  ): void {
    const o = deleteOptions(body, q);
    const sel = selection(q, r.type);
    const victims = store.listRefs(key(r), r.namespace).filter(sel.matches);
    const items: Json[] = [];
    for (const v of victims) {
      try {
        items.push(listItem(store.delete(key(r), v.metadata.namespace, v.metadata.name!, o).object));
      } catch (e) {
        if (!(e instanceof StoreError && e.code === 404)) throw e;
      }
    }
    send(res, 200, {
      kind: `${r.type.kind}List`,
      apiVersion: apiVersionOf(r.type),
      metadata: { resourceVersion: store.resourceVersion },
      items,
    });
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
