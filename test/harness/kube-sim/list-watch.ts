// The list and watch verbs: sorted, paginated lists with opaque continue tokens (no O(n²), only the page is
// serialised) and chunked watch streams with selector transitions, bookmarks, timeouts and 410 Expired.

import type { IncomingMessage, ServerResponse } from 'node:http';
import { includeObject, selection } from './query.ts';
import { apiVersionOf, resourceKey } from './resources.ts';
import { send, statusBody } from './respond.ts';
import type { ResourceRoute } from './routing.ts';
import { type KObject, type Store, StoreError, type StoreEvent } from './store.ts';
import { toTable, wantsTable } from './table.ts';

// biome-ignore lint/suspicious/noExplicitAny: open JSON.
type Json = any;

export interface ListWatchContext {
  store: Store;
  /** Open watches register their finisher here so the server can end them on close. */
  watches: Set<() => void>;
  /** BOOKMARK interval for watches that allow them. */
  bookmarkIntervalMs: number;
}

const CONTINUE_VERSION = 'kube-sim/1';
const EXPIRED_CONTINUE =
  'The provided continue parameter is too old to display a consistent list result. You can start a new list without the continue parameter, or use the continue token in this response to retrieve the remainder of the results. Continuing with the provided token results in an inconsistent list - objects that were created, modified, or deleted between the time the first chunk was returned and now may show up in the list.';

/** The continue token: opaque to clients, it names the last key served and the list's resourceVersion. */
function encodeContinue(rv: string, lastKey: string): string {
  return Buffer.from(JSON.stringify({ v: CONTINUE_VERSION, rv, start: lastKey }), 'utf8').toString(
    'base64url',
  );
}

function decodeContinue(token: string): { rv: string; start: string } {
  try {
    const j = JSON.parse(Buffer.from(token, 'base64url').toString('utf8'));
    if (j.v !== CONTINUE_VERSION || typeof j.start !== 'string') throw new Error('bad token');
    return { rv: String(j.rv), start: j.start };
  } catch {
    throw new StoreError(
      400,
      'BadRequest',
      'The provided continue parameter is too old to display a consistent list result. You can start a new list without the continue parameter.',
    );
  }
}

const objectKey = (o: KObject) => `${o.metadata.namespace ?? ''}/${o.metadata.name}`;

/** Serialised list items carry no kind/apiVersion, as with the real server's typed lists. */
export function listItem(o: KObject): Json {
  const { kind: _k, apiVersion: _a, ...rest } = o;
  return rest;
}

/** GET on a collection: a `<Kind>List` (or a Table), paginated by `limit`/`continue`. */
export function serveList(
  ctx: ListWatchContext,
  req: IncomingMessage,
  res: ServerResponse,
  r: ResourceRoute,
  q: URLSearchParams,
): void {
  const matches = selection(q, r.type);
  const all = ctx.store.listRefs(resourceKey(r.type), r.namespace);
  const limitParam = Number(q.get('limit') ?? 0);
  const limit = Number.isInteger(limitParam) && limitParam > 0 ? limitParam : 0;
  const cont = q.get('continue');
  let start = 0;
  let rv = ctx.store.resourceVersion;
  if (cont) {
    const c = decodeContinue(cont);
    if (ctx.store.isCompacted(Number(c.rv))) {
      // The real server's answer: 410, plus a token that continues inconsistently from the same key.
      throw new StoreError(410, 'Expired', EXPIRED_CONTINUE, undefined, {
        continue: encodeContinue(ctx.store.resourceVersion, c.start),
      });
    }
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
    if (!matches(o)) continue;
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

/**
 * GET with `watch=true`: newline-delimited events. Without a resourceVersion (or "0") the stream starts with the
 * current objects as ADDED; with one it replays newer history, or sends an ERROR 410 event when it is too old.
 * An object moving into or out of the selector arrives as ADDED or DELETED, like the real watch cache does.
 */
export function serveWatch(
  ctx: ListWatchContext,
  req: IncomingMessage,
  res: ServerResponse,
  r: ResourceRoute,
  q: URLSearchParams,
): void {
  const { store } = ctx;
  const t = r.type;
  const selected = selection(q, t);
  const nameFilter = r.name;
  const matches = (o: KObject | undefined) =>
    !!o && (!nameFilter || o.metadata.name === nameFilter) && selected(o);
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
    if (!ctx.watches.has(finish)) return;
    ctx.watches.delete(finish);
    unsubscribe?.();
    for (const tm of timers) clearTimeout(tm);
    if (!res.writableEnded) res.end();
  };
  ctx.watches.add(finish);
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
  try {
    if (rvParam === '' || rvParam === '0' || sendInitial) {
      for (const o of store.listRefs(resourceKey(t), r.namespace)) if (matches(o)) write('ADDED', o);
      if (sendInitial && bookmarks) bookmark(true);
      unsubscribe = store.watch(resourceKey(t), r.namespace, undefined, onEvent);
    } else {
      const fromRV = Number(rvParam);
      if (!Number.isInteger(fromRV) || fromRV < 0) {
        throw new StoreError(400, 'BadRequest', `invalid resource version: ${rvParam}`);
      }
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
    const tick = () => {
      bookmark(false);
      timers.push(setTimeout(tick, ctx.bookmarkIntervalMs));
    };
    timers.push(setTimeout(tick, ctx.bookmarkIntervalMs));
  }
}
