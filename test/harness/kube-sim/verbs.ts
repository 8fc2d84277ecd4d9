// The object verbs: get, create, update, patch, delete and deletecollection, with the status and scale
// subresources, eviction, the virtual review resources, dryRun and the real server's response shapes.

import type { IncomingMessage, ServerResponse } from 'node:http';
import { evictPod } from './eviction.ts';
import { listItem } from './list-watch.ts';
import { APPLY_PATCH, applyPatch } from './patch.ts';
import { deleteOptions, includeObject, isDryRun, selection } from './query.ts';
import type { Authenticator, UserInfo } from './rbac.ts';
import { apiVersionOf, resourceKey } from './resources.ts';
import { send } from './respond.ts';
import { accessReview, rulesReview, selfSubjectReview, tokenRequest } from './reviews.ts';
import type { ResourceRoute } from './routing.ts';
import { type KObject, type Store, StoreError } from './store.ts';
import { toTable, wantsTable } from './table.ts';

// biome-ignore lint/suspicious/noExplicitAny: open JSON.
type Json = any;

export interface VerbContext {
  store: Store;
  auth: Authenticator;
}

/** Kinds whose delete returns the object itself rather than a Success Status (ReturnDeletedObject in the real registry). */
const RETURNS_DELETED_OBJECT = new Set(['Pod', 'Namespace', 'Service']);

/** Pod log text comes from this annotation (the simulator runs no containers). */
export const LOG_ANNOTATION = 'kube-sim/log';

const notFound = () => new StoreError(404, 'NotFound', 'the server could not find the requested resource');
const notAllowed = () =>
  new StoreError(405, 'MethodNotAllowed', 'the server does not allow this method on the requested resource');

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

/** Checks a write body against the URL (object, namespace, kind) and fills the namespace in from the URL. */
function checkBody(r: ResourceRoute, obj: Json): void {
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

/** GET on an object, its status, scale or log. */
export function serveGet(
  ctx: VerbContext,
  req: IncomingMessage,
  res: ServerResponse,
  r: ResourceRoute,
  q: URLSearchParams,
): void {
  const o = ctx.store.mustGet(resourceKey(r.type), r.namespace, r.name!);
  if (r.subresource === 'scale') {
    send(res, 200, toScale(o));
    return;
  }
  if (r.subresource === 'log') {
    const text = (o.metadata.annotations?.[LOG_ANNOTATION] as string | undefined) ?? '';
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

/** POST: creates an object (201), or evicts, issues a token, or answers a review. */
export function serveCreate(
  ctx: VerbContext,
  res: ServerResponse,
  r: ResourceRoute,
  q: URLSearchParams,
  body: Json,
  user: UserInfo,
): void {
  const dryRun = isDryRun(q);
  if (r.subresource === 'token') {
    send(res, 201, tokenRequest(ctx.store, ctx.auth, r.namespace!, r.name!, body));
    return;
  }
  if (r.subresource === 'eviction') {
    send(res, 201, evictPod(ctx.store, r.namespace!, r.name!, body, dryRun));
    return;
  }
  if (r.subresource) throw notFound();
  switch (r.type.kind) {
    case 'SelfSubjectReview':
      send(res, 201, selfSubjectReview(user));
      return;
    case 'SelfSubjectAccessReview':
      send(res, 201, accessReview(ctx.store, user, body));
      return;
    case 'SelfSubjectRulesReview':
      send(res, 201, rulesReview(ctx.store, user, body));
      return;
  }
  checkBody(r, body);
  // PrepareForCreate of the real registries: a client cannot set the status of a new object.
  if (r.type.subresources.includes('status') && r.type.kind !== 'Namespace') delete body.status;
  send(res, 201, ctx.store.create(resourceKey(r.type), body, { dryRun }));
}

/** PUT on an object, its status or its scale. */
export function serveUpdate(
  ctx: VerbContext,
  res: ServerResponse,
  r: ResourceRoute,
  q: URLSearchParams,
  body: Json,
): void {
  const dryRun = isDryRun(q);
  const key = resourceKey(r.type);
  checkBody(r, body);
  if (body.metadata.name && body.metadata.name !== r.name) {
    throw new StoreError(
      400,
      'BadRequest',
      `the name of the object (${body.metadata.name}) does not match the name on the URL (${r.name})`,
    );
  }
  body.metadata.name = r.name;
  if (r.subresource === 'scale') {
    const current = ctx.store.mustGet(key, r.namespace, r.name!);
    if (body.metadata.resourceVersion) current.metadata.resourceVersion = body.metadata.resourceVersion;
    current.spec = { ...current.spec, replicas: body.spec?.replicas ?? 0 };
    send(res, 200, toScale(ctx.store.update(key, current, { dryRun })));
    return;
  }
  if (r.subresource && r.subresource !== 'status') throw notAllowed();
  const sub = r.subresource === 'status' ? { subresource: 'status' } : {};
  send(res, 200, ctx.store.update(key, body, { ...sub, dryRun }));
}

/** PATCH (JSON, merge or strategic merge) on an object, its status or its scale; 415 for apply patches. */
export function servePatch(
  ctx: VerbContext,
  req: IncomingMessage,
  res: ServerResponse,
  r: ResourceRoute,
  q: URLSearchParams,
  raw: Buffer,
): void {
  const dryRun = isDryRun(q);
  const key = resourceKey(r.type);
  const ct = req.headers['content-type'] ?? '';
  if (ct.toLowerCase().startsWith(APPLY_PATCH)) {
    throw new StoreError(
      415,
      'UnsupportedMediaType',
      `the simulator does not implement server-side apply (${APPLY_PATCH})`,
    );
  }
  let patch: Json;
  try {
    patch = JSON.parse(raw.toString('utf8'));
  } catch (e) {
    throw new StoreError(400, 'BadRequest', `the patch could not be decoded: ${(e as Error).message}`);
  }
  const current = ctx.store.mustGet(key, r.namespace, r.name!);
  if (r.subresource === 'scale') {
    const scale = applyPatch(ct, toScale(current), patch);
    if (scale?.metadata?.resourceVersion) current.metadata.resourceVersion = scale.metadata.resourceVersion;
    current.spec = { ...current.spec, replicas: scale?.spec?.replicas ?? 0 };
    send(res, 200, toScale(ctx.store.update(key, current, { dryRun })));
    return;
  }
  if (r.subresource && r.subresource !== 'status') throw notAllowed();
  const next = applyPatch(ct, current, patch);
  if (!next || typeof next !== 'object' || Array.isArray(next)) {
    throw new StoreError(422, 'Invalid', 'the patch produced something that is not an object');
  }
  next.metadata ??= {};
  next.metadata.name = r.name;
  if (r.type.namespaced) next.metadata.namespace = r.namespace;
  const sub = r.subresource === 'status' ? { subresource: 'status' } : {};
  send(res, 200, ctx.store.update(key, next, { ...sub, dryRun }));
}

/** DELETE on an object: the object (pods, or anything still terminating) or a Success Status with its uid. */
export function serveDelete(
  ctx: VerbContext,
  res: ServerResponse,
  r: ResourceRoute,
  q: URLSearchParams,
  body: Json,
): void {
  const { object, removed } = ctx.store.delete(
    resourceKey(r.type),
    r.namespace,
    r.name!,
    deleteOptions(body, q),
  );
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

/** DELETE on a collection: deletes what the selectors match and answers with the list of deleted objects. */
export function serveDeleteCollection(
  ctx: VerbContext,
  res: ServerResponse,
  r: ResourceRoute,
  q: URLSearchParams,
  body: Json,
): void {
  const key = resourceKey(r.type);
  const o = deleteOptions(body, q);
  const victims = ctx.store.listRefs(key, r.namespace).filter(selection(q, r.type));
  const items: Json[] = [];
  for (const v of victims) {
    try {
      items.push(listItem(ctx.store.delete(key, v.metadata.namespace, v.metadata.name!, o).object));
    } catch (e) {
      if (!(e instanceof StoreError && e.code === 404)) throw e;
    }
  }
  send(res, 200, {
    kind: `${r.type.kind}List`,
    apiVersion: apiVersionOf(r.type),
    metadata: { resourceVersion: ctx.store.resourceVersion },
    items,
  });
}
