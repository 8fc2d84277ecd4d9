// A minimal HTTPS client for tests that talk to the API simulator at the wire level (exact status codes, headers,
// Status bodies, watch streams) without going through a Kubernetes client library.

import type { IncomingHttpHeaders } from 'node:http';
import { request } from 'node:https';
import type { Cluster } from './index.ts';

// biome-ignore lint/suspicious/noExplicitAny: response bodies are open JSON.
type Json = any;

export interface ApiRequest {
  method?: string;
  /** Request body; strings and Buffers are sent as they are, anything else as JSON. */
  body?: unknown;
  contentType?: string;
  accept?: string;
  /** Bearer token; defaults to the cluster's admin token. `null` sends no Authorization header. */
  token?: string | null;
  /** Extra request headers (e.g. Impersonate-User). */
  headers?: Record<string, string | string[]>;
}

export interface ApiResponse {
  status: number;
  headers: IncomingHttpHeaders;
  text: string;
  /** The parsed body, or undefined when it is not JSON. */
  json: Json;
}

/** One request to the simulator; resolves with any HTTP status, rejects only on network errors. */
export function api(
  cluster: Pick<Cluster, 'url' | 'caPem' | 'adminToken'>,
  path: string,
  opts: ApiRequest = {},
): Promise<ApiResponse> {
  const url = new URL(path, cluster.url);
  const body =
    opts.body === undefined
      ? undefined
      : typeof opts.body === 'string' || Buffer.isBuffer(opts.body)
        ? opts.body
        : JSON.stringify(opts.body);
  const token = opts.token === undefined ? cluster.adminToken : opts.token;
  return new Promise((resolve, reject) => {
    const req = request(
      url,
      {
        method: opts.method ?? (body === undefined ? 'GET' : 'POST'),
        ca: cluster.caPem,
        headers: {
          ...(token ? { Authorization: `Bearer ${token}` } : {}),
          ...(body !== undefined
            ? {
                'Content-Type': opts.contentType ?? 'application/json',
                'Content-Length': Buffer.byteLength(body),
              }
            : {}),
          Accept: opts.accept ?? 'application/json',
          ...opts.headers,
        },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('error', reject);
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          let json: Json;
          try {
            json = JSON.parse(text);
          } catch {
            json = undefined;
          }
          resolve({ status: res.statusCode ?? 0, headers: res.headers, text, json });
        });
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

export interface WatchStream {
  /** Events received so far, in order. */
  events: Array<{ type: string; object: Json }>;
  /** Resolves once `n` events have arrived in total; rejects after timeoutMs (default 10 s) so a test fails, not hangs. */
  next(n: number, timeoutMs?: number): Promise<void>;
  /** Resolves when the server ends the stream. */
  ended: Promise<void>;
  status: Promise<number>;
  close(): void;
}

/** Opens a watch (`path` must carry `watch=true`) and collects its newline-delimited events. */
export function openWatch(
  cluster: Pick<Cluster, 'url' | 'caPem' | 'adminToken'>,
  path: string,
  accept?: string,
): WatchStream {
  const events: WatchStream['events'] = [];
  const waiters: Array<{ n: number; resolve: () => void }> = [];
  let buf = '';
  let resolveStatus: (n: number) => void = () => {};
  let resolveEnded: () => void = () => {};
  const status = new Promise<number>((r) => {
    resolveStatus = r;
  });
  const ended = new Promise<void>((r) => {
    resolveEnded = r;
  });
  const url = new URL(path, cluster.url);
  const req = request(
    url,
    {
      ca: cluster.caPem,
      headers: { Authorization: `Bearer ${cluster.adminToken}`, Accept: accept ?? 'application/json' },
    },
    (res) => {
      resolveStatus(res.statusCode ?? 0);
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        buf += chunk;
        let nl = buf.indexOf('\n');
        while (nl >= 0) {
          const line = buf.slice(0, nl).trim();
          buf = buf.slice(nl + 1);
          if (line) events.push(JSON.parse(line));
          nl = buf.indexOf('\n');
        }
        for (const w of [...waiters]) {
          if (events.length >= w.n) {
            waiters.splice(waiters.indexOf(w), 1);
            w.resolve();
          }
        }
      });
      res.on('end', () => resolveEnded());
      res.on('close', () => resolveEnded());
    },
  );
  req.on('error', () => resolveEnded());
  req.end();
  return {
    events,
    next(n, timeoutMs = 10_000) {
      if (events.length >= n) return Promise.resolve();
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => {
          reject(
            new Error(
              `watch: ${events.length} events after ${timeoutMs} ms, wanted ${n}: ${JSON.stringify(events.map((e) => e.type))}`,
            ),
          );
        }, timeoutMs);
        waiters.push({
          n,
          resolve: () => {
            clearTimeout(timer);
            resolve();
          },
        });
      });
    },
    ended,
    status,
    close() {
      req.destroy();
    },
  };
}
