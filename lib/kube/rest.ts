// A minimal Kubernetes REST transport over node:http(s): one keep-alive agent, JSON in and out with plain JSON.parse
// (no model classes: dates stay strings), failures shaped like client-node's ApiException, and streaming watches.
// Transient faults (lib/kube/errors.ts) are retried here, with bounded backoff: GETs and list pages (a page keeps its
// continue token), and watches, which are re-established from the last resourceVersion seen. Writes are not: an
// eviction retries on its own terms (lib/apply/eviction.ts), an event is best-effort.

import http from 'node:http';
import https from 'node:https';
import { isTransient } from './errors.ts';
import type { KubeConnection } from './kubeconfig.ts';
import { ListSplitter } from './list-stream.ts';
import { backoffMs, DEFAULT_RETRY, type RetryPolicy, realSleep, type Sleep, withRetry } from './retry.ts';

/** A non-2xx answer, duck-typed like client-node's ApiException so apiStatus()/toKubeApiError() read it. */
export class ApiHttpError extends Error {
  /** HTTP status. */
  readonly code: number;
  /** The raw response text (a JSON Status from a real API server). */
  readonly body: string;
  /** Response headers, lower-case names. */
  readonly headers: Record<string, string>;

  constructor(code: number, body: string, headers: Record<string, string>, what: string) {
    super(`HTTP ${code} from ${what}: ${statusMessage(body)}`);
    this.name = 'ApiHttpError';
    this.code = code;
    this.body = body;
    this.headers = headers;
  }
}

function statusMessage(body: string): string {
  try {
    const s = JSON.parse(body) as { message?: unknown };
    if (typeof s?.message === 'string') return s.message;
  } catch {
    // Not a Status: show the start of whatever came back.
  }
  return body.slice(0, 200);
}

export type Query = Record<string, string | number | boolean | undefined>;

export interface RestOptions {
  /** Whole-request deadline for non-watch calls (default 30 s). */
  timeoutMs?: number;
  /** A watch with no bytes for this long is ended with an error (default 60 s; servers send bookmarks). */
  watchIdleMs?: number;
  /** Concurrent connections to the API server (default 16). */
  maxSockets?: number;
  userAgent?: string;
  /** Retries of transient faults for GETs, list pages and watches (default DEFAULT_RETRY; `false`: none). */
  retry?: RetryPolicy | false;
  /** Aborting ends retry waits (the last failure is returned) and stops re-establishing watches. */
  signal?: AbortSignal;
  /** Told about each transient failure before it is retried (to log it). */
  onRetry?: (info: { what: string; attempt: number; waitMs: number; err: unknown }) => void;
  /** For tests: the wait between tries. */
  sleep?: Sleep;
}

export interface WatchHandle {
  abort(): void;
}

export interface RestClient {
  /** Sends one request; resolves to the parsed JSON body, rejects with ApiHttpError (non-2xx) or a network Error. */
  json<T>(method: 'GET' | 'POST' | 'PUT', path: string, opts?: { query?: Query; body?: unknown }): Promise<T>;
  /**
   * GETs a list, handing each item to `shape` as the response streams in (a page of full objects is never held);
   * resolves to the list with the shaped items. Rejects like json().
   */
  list<T>(
    path: string,
    query: Query,
    shape: (item: unknown) => T,
  ): Promise<{ items: T[] } & Record<string, unknown>>;
  /**
   * Streams a `watch=true` GET: each newline-delimited JSON event goes to `onEvent`. A stream that ends or breaks is
   * re-established from the last resourceVersion seen (a few times in a row at most without an event in between);
   * `onDone` is called once when it ends for good, with the error: an ApiHttpError for a refused watch, or with code
   * 410 when the resourceVersion expired (an ERROR event: list again). Resolves once the server answered or failed.
   */
  watch(
    path: string,
    query: Query,
    onEvent: (type: string, object: unknown) => void,
    onDone: (err?: unknown) => void,
  ): Promise<WatchHandle>;
  /** Closes idle keep-alive connections. */
  close(): void;
}

/** URL-encodes one path segment (a namespace or an object name). */
export const seg = (s: string): string => encodeURIComponent(s);

function queryString(q: Query | undefined): string {
  if (!q) return '';
  const parts: string[] = [];
  for (const [k, v] of Object.entries(q)) {
    if (v === undefined || v === '') continue;
    parts.push(`${encodeURIComponent(k)}=${encodeURIComponent(String(v))}`);
  }
  return parts.length ? `?${parts.join('&')}` : '';
}

// Names the call in the message; keeps the errno (`ECONNREFUSED`, a string, never an HTTP status) for callers.
function networkError(err: NodeJS.ErrnoException, what: string): Error {
  if (err.message.includes(what)) return err;
  const wrapped: NodeJS.ErrnoException = new Error(`${err.message} (${what})`, { cause: err });
  if (typeof err.code === 'string') wrapped.code = err.code;
  return wrapped;
}

function coded(message: string, code: string): Error {
  return Object.assign(new Error(message), { code });
}

function flatHeaders(h: http.IncomingHttpHeaders): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(h)) if (v !== undefined) out[k] = Array.isArray(v) ? v.join(', ') : v;
  return out;
}

/** Builds the transport for a connection; never throws (TLS problems surface on the first request). */
export function createRestClient(conn: KubeConnection, opts: RestOptions = {}): RestClient {
  const base = new URL(conn.server);
  const plain = base.protocol === 'http:';
  const prefix = base.pathname.replace(/\/+$/, '');
  const timeoutMs = opts.timeoutMs ?? 30_000;
  const watchIdleMs = opts.watchIdleMs ?? 60_000;
  const agentOptions = { keepAlive: true, maxSockets: opts.maxSockets ?? 16 };
  const own: http.Agent = plain
    ? new http.Agent(agentOptions)
    : new https.Agent({
        ...agentOptions,
        rejectUnauthorized: conn.tls.rejectUnauthorized,
        ...(conn.tls.ca ? { ca: conn.tls.ca } : {}),
        ...(conn.tls.cert ? { cert: conn.tls.cert } : {}),
        ...(conn.tls.key ? { key: conn.tls.key } : {}),
        ...(conn.tls.servername ? { servername: conn.tls.servername } : {}),
      });
  const userAgent = opts.userAgent ?? 'k8s-auto-updater';
  const policy: RetryPolicy =
    opts.retry === false ? { ...DEFAULT_RETRY, attempts: 1 } : (opts.retry ?? DEFAULT_RETRY);
  const sleep = opts.sleep ?? realSleep;
  const retried = <T>(what: string, fn: () => Promise<T>): Promise<T> =>
    withRetry(fn, {
      policy,
      sleep,
      ...(opts.signal ? { signal: opts.signal } : {}),
      onRetry: ({ attempt, waitMs, err }) => opts.onRetry?.({ what, attempt, waitMs, err }),
    });

  async function start(
    method: string,
    path: string,
    query: Query | undefined,
    payload: string | undefined,
  ): Promise<{ req: http.ClientRequest; what: string }> {
    const authorization = await conn.authorization();
    const agent = conn.agent ? await conn.agent() : own;
    const headers: Record<string, string> = {
      Accept: 'application/json',
      'User-Agent': userAgent,
      ...conn.headers,
    };
    if (authorization) headers.Authorization = authorization;
    if (payload !== undefined) {
      headers['Content-Type'] = 'application/json';
      headers['Content-Length'] = String(Buffer.byteLength(payload));
    }
    const url = new URL(`${base.origin}${prefix}${path}${queryString(query)}`);
    const req = (plain ? http : https).request(url, { method, agent, headers });
    return { req, what: `${method} ${prefix}${path}` };
  }

  // One request with a whole-request deadline: a 2xx body streams (as text) into `sink`, anything else is read
  // whole into an ApiHttpError. A throwing sink fails the request.
  async function exchange<T>(
    method: string,
    path: string,
    query: Query | undefined,
    payload: string | undefined,
    sink: { data(chunk: string): void; end(what: string): T },
  ): Promise<T> {
    const { req, what } = await start(method, path, query, payload);
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(
        () => req.destroy(coded(`no answer within ${timeoutMs} ms (${what})`, 'ETIMEDOUT')),
        timeoutMs,
      );
      let settled = false;
      // `abandon`: the response is not read to its end, so its connection cannot be reused.
      const fail = (err: Error, abandon = false) => {
        clearTimeout(timer);
        if (settled) return;
        settled = true;
        reject(err);
        if (abandon) req.destroy();
      };
      req.on('error', (err) => fail(networkError(err, what)));
      req.on('response', (res) => {
        res.setEncoding('utf8');
        const status = res.statusCode ?? 0;
        const ok = status >= 200 && status <= 299;
        let errorText = '';
        res.on('data', (chunk: string) => {
          if (!ok) errorText += chunk;
          else if (!settled) {
            try {
              sink.data(chunk);
            } catch (err) {
              fail(err instanceof Error ? err : new Error(String(err)), true);
            }
          }
        });
        res.on('error', (err) => fail(networkError(err, what)));
        res.on('close', () => {
          if (!res.complete)
            fail(coded(`connection closed before the answer was complete (${what})`, 'ECONNRESET'));
        });
        res.on('end', () => {
          clearTimeout(timer);
          if (settled) return;
          if (!ok) return fail(new ApiHttpError(status, errorText, flatHeaders(res.headers), what));
          try {
            const value = sink.end(what);
            settled = true;
            resolve(value);
          } catch (err) {
            fail(err as Error);
          }
        });
      });
      req.end(payload);
    });
  }

  // One watch request: `open` once the server accepted it (200); `end` once when the stream ends, with the error
  // (network, idle, a refusal as ApiHttpError, an ERROR event as ApiHttpError with the Status's code).
  async function watchOnce(
    path: string,
    query: Query,
    on: { open(): void; event(type: string, object: unknown): void; end(err?: unknown): void },
  ): Promise<WatchHandle> {
    let finished = false;
    let idle: NodeJS.Timeout | undefined;
    const done = (err?: unknown) => {
      if (finished) return;
      finished = true;
      clearTimeout(idle);
      on.end(err);
    };
    let req: http.ClientRequest;
    let what: string;
    try {
      ({ req, what } = await start('GET', path, { ...query, watch: true }, undefined));
    } catch (err) {
      done(err);
      return { abort() {} };
    }
    const handle = {
      abort() {
        finished = true;
        clearTimeout(idle);
        req.destroy();
      },
    };
    const touch = () => {
      clearTimeout(idle);
      idle = setTimeout(() => {
        done(coded(`watch idle for ${watchIdleMs} ms (${what})`, 'ETIMEDOUT'));
        req.destroy();
      }, watchIdleMs);
      idle.unref();
    };
    return new Promise<WatchHandle>((resolve) => {
      touch();
      req.on('error', (err) => {
        done(networkError(err, what));
        resolve(handle);
      });
      req.on('close', () => resolve(handle));
      req.on('response', (res) => {
        resolve(handle);
        const status = res.statusCode ?? 0;
        res.setEncoding('utf8');
        if (status !== 200) {
          let text = '';
          res.on('data', (c: string) => {
            text += c;
          });
          res.on('end', () => done(new ApiHttpError(status, text, flatHeaders(res.headers), what)));
          res.on('error', (err) => done(networkError(err, what)));
          return;
        }
        on.open();
        let buffered = '';
        res.on('data', (chunk: string) => {
          touch();
          buffered += chunk;
          let nl = buffered.indexOf('\n');
          while (nl >= 0) {
            const line = buffered.slice(0, nl).trim();
            buffered = buffered.slice(nl + 1);
            nl = buffered.indexOf('\n');
            if (line === '' || finished) continue;
            let ev: { type?: unknown; object?: unknown };
            try {
              ev = JSON.parse(line);
            } catch {
              continue; // A malformed line is skipped, as client-node's Watch does.
            }
            if (ev?.type === 'ERROR') {
              // A Status in the stream (410 when the resourceVersion is too old): this watch is over.
              const st = ev.object as { code?: unknown } | undefined;
              const code = typeof st?.code === 'number' ? st.code : 500;
              done(new ApiHttpError(code, JSON.stringify(ev.object ?? {}), {}, what));
              req.destroy();
              return;
            }
            if (typeof ev?.type === 'string') on.event(ev.type, ev.object);
          }
        });
        res.on('end', () => done());
        res.on('error', (err) => done(networkError(err, what)));
        res.on('close', () => done());
      });
      req.end();
    });
  }

  // Keeps a watch going across ends and transient failures, resuming from the last resourceVersion seen; gives up
  // after `policy.attempts` tries in a row that brought no event, and at once for a failure that is not transient
  // (a 410 included: the caller lists again).
  async function resilientWatch(
    path: string,
    query: Query,
    onEvent: (type: string, object: unknown) => void,
    onDone: (err?: unknown) => void,
  ): Promise<WatchHandle> {
    let over = false;
    let current: WatchHandle | undefined;
    const stopWaiting = new AbortController();
    let resourceVersion = query.resourceVersion;
    let fruitless = 0;
    let started: () => void = () => {};
    const whenStarted = new Promise<void>((resolve) => {
      started = resolve;
    });
    const onAbort = () => handle.abort();
    const handle: WatchHandle = {
      abort() {
        over = true;
        started();
        stopWaiting.abort();
        opts.signal?.removeEventListener('abort', onAbort);
        current?.abort();
      },
    };
    const finish = (err?: unknown) => {
      if (over) return;
      over = true;
      started();
      opts.signal?.removeEventListener('abort', onAbort);
      onDone(err);
    };
    opts.signal?.addEventListener('abort', onAbort, { once: true });
    const attempt = async (): Promise<void> => {
      let progressed = false;
      current = await watchOnce(
        path,
        { ...query, resourceVersion },
        {
          open: () => started(),
          event: (type, object) => {
            progressed = true;
            const rv = (object as { metadata?: { resourceVersion?: unknown } } | undefined)?.metadata
              ?.resourceVersion;
            if (typeof rv === 'string' && rv !== '') resourceVersion = rv;
            if (!over) onEvent(type, object);
          },
          end: (err) => {
            if (over) return;
            const gone = (err as { code?: unknown } | undefined)?.code === 410;
            if (err !== undefined && (gone || !isTransient(err))) return finish(err);
            fruitless = progressed ? 1 : fruitless + 1;
            if (fruitless >= policy.attempts) {
              return finish(
                err ?? new Error(`watch GET ${path} ended ${fruitless} times in a row without events`),
              );
            }
            const waitMs = backoffMs(fruitless, err, policy);
            opts.onRetry?.({ what: `watch GET ${path}`, attempt: fruitless, waitMs, err });
            void sleep(waitMs, stopWaiting.signal).then(() => {
              if (!over) void attempt();
            });
          },
        },
      );
      if (over) current.abort();
    };
    if (opts.signal?.aborted) over = true;
    else await attempt();
    await whenStarted;
    return handle;
  }

  return {
    json<T>(method: 'GET' | 'POST' | 'PUT', path: string, o: { query?: Query; body?: unknown } = {}) {
      const payload = o.body === undefined ? undefined : JSON.stringify(o.body);
      const once = () => {
        let text = '';
        return exchange(method, path, o.query, payload, {
          data: (chunk) => {
            text += chunk;
          },
          end: (what) => {
            try {
              return (text === '' ? undefined : JSON.parse(text)) as T;
            } catch (err) {
              throw new Error(`invalid JSON in the answer to ${what}: ${(err as Error).message}`);
            }
          },
        });
      };
      return method === 'GET' ? retried(`GET ${path}`, once) : once();
    },

    list<T>(path: string, query: Query, shape: (item: unknown) => T) {
      // Each try starts the page afresh (same query, so the same continue token).
      return retried(`GET ${path}`, () => {
        const items: T[] = [];
        const splitter = new ListSplitter((item) => items.push(shape(item)));
        return exchange('GET', path, query, undefined, {
          data: (chunk) => splitter.push(chunk),
          end: (what) => {
            try {
              return { ...splitter.end(), items };
            } catch (err) {
              throw new Error(`invalid JSON in the answer to ${what}: ${(err as Error).message}`);
            }
          },
        });
      });
    },

    watch(path, query, onEvent, onDone) {
      return resilientWatch(path, query, onEvent, onDone);
    },

    close() {
      own.destroy();
    },
  };
}
