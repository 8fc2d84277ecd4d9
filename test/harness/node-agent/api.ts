// The node agent's only way to the cluster: JSON over HTTPS to the API server (bearer token, the cluster's CA),
// plus list-then-watch with resourceVersion resumption.

import { Agent, request } from 'node:https';

// biome-ignore lint/suspicious/noExplicitAny: API objects are open JSON.
export type Json = any;

export interface ApiConfig {
  server: string;
  caPem: string;
  token: string;
}

export interface ApiResponse {
  status: number;
  text: string;
  json: Json;
}

export interface WatchEvent {
  type: 'ADDED' | 'MODIFIED' | 'DELETED' | 'BOOKMARK' | 'ERROR';
  object: Json;
}

export class Api {
  private readonly cfg: ApiConfig;
  private readonly agent: Agent;
  private readonly watches = new Set<import('node:http').ClientRequest>();
  private closed = false;

  constructor(cfg: ApiConfig) {
    this.cfg = cfg;
    this.agent = new Agent({ keepAlive: true, ca: cfg.caPem, maxSockets: 16 });
  }

  /** One request; resolves with any HTTP status, rejects on network errors. */
  request(
    method: string,
    path: string,
    body?: unknown,
    contentType = 'application/json',
  ): Promise<ApiResponse> {
    const data = body === undefined ? undefined : JSON.stringify(body);
    return new Promise((resolve, reject) => {
      const req = request(
        new URL(path, this.cfg.server),
        {
          method,
          agent: this.agent,
          headers: {
            Authorization: `Bearer ${this.cfg.token}`,
            Accept: 'application/json',
            'User-Agent': 'k8s-auto-updater-node-agent',
            ...(data !== undefined
              ? { 'Content-Type': contentType, 'Content-Length': Buffer.byteLength(data) }
              : {}),
          },
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => {
            const text = Buffer.concat(chunks).toString('utf8');
            let json: Json;
            try {
              json = JSON.parse(text);
            } catch {
              json = undefined;
            }
            resolve({ status: res.statusCode ?? 0, text, json });
          });
          res.on('error', reject);
        },
      );
      req.on('error', reject);
      if (data !== undefined) req.write(data);
      req.end();
    });
  }

  /** A request that must succeed (2xx); rejects with the status and body otherwise. */
  async must(method: string, path: string, body?: unknown, contentType?: string): Promise<Json> {
    const r = await this.request(method, path, body, contentType);
    if (r.status < 200 || r.status > 299) {
      throw Object.assign(new Error(`${method} ${path}: ${r.status} ${r.text.slice(0, 500)}`), {
        status: r.status,
      });
    }
    return r.json;
  }

  /**
   * Lists `path` (a collection, with an optional query) and then watches it from the list's resourceVersion,
   * relisting on 410 Gone and reconnecting on stream ends. `onEvent` gets ADDED for each listed object (a relist
   * re-announces everything). Returns a stop function.
   */
  listWatch(
    path: string,
    onEvent: (e: WatchEvent) => void,
    onError: (e: unknown) => void = () => {},
  ): () => void {
    let stopped = false;
    let current: import('node:http').ClientRequest | undefined;
    const sep = path.includes('?') ? '&' : '?';
    const loop = async () => {
      let rv: string | undefined;
      while (!stopped && !this.closed) {
        try {
          if (rv === undefined) {
            const list = await this.must('GET', path);
            rv = list.metadata?.resourceVersion;
            for (const object of list.items ?? []) onEvent({ type: 'ADDED', object });
          }
          rv = await new Promise<string | undefined>((resolve) => {
            let last = rv;
            let buf = '';
            const req = request(
              new URL(
                `${path}${sep}watch=1&allowWatchBookmarks=true&timeoutSeconds=300&resourceVersion=${rv}`,
                this.cfg.server,
              ),
              {
                agent: false,
                ca: this.cfg.caPem,
                headers: { Authorization: `Bearer ${this.cfg.token}`, Accept: 'application/json' },
              },
              (res) => {
                if (res.statusCode !== 200) {
                  res.resume();
                  resolve(res.statusCode === 410 ? undefined : last);
                  return;
                }
                res.setEncoding('utf8');
                res.on('data', (chunk: string) => {
                  buf += chunk;
                  let nl = buf.indexOf('\n');
                  while (nl >= 0) {
                    const line = buf.slice(0, nl).trim();
                    buf = buf.slice(nl + 1);
                    nl = buf.indexOf('\n');
                    if (!line) continue;
                    let ev: WatchEvent;
                    try {
                      ev = JSON.parse(line);
                    } catch {
                      continue;
                    }
                    if (ev.type === 'ERROR') {
                      last = ev.object?.code === 410 ? undefined : last;
                      req.destroy();
                      continue;
                    }
                    last = ev.object?.metadata?.resourceVersion ?? last;
                    if (ev.type !== 'BOOKMARK') onEvent(ev);
                  }
                });
                res.on('end', () => resolve(last));
                res.on('error', () => resolve(last));
                res.on('close', () => resolve(last));
              },
            );
            current = req;
            this.watches.add(req);
            req.on('error', () => resolve(last));
            req.on('close', () => {
              this.watches.delete(req);
              resolve(last);
            });
            req.end();
          });
        } catch (e) {
          if (!stopped && !this.closed) onError(e);
          rv = undefined;
          await new Promise((r) => setTimeout(r, 500));
        }
        if (!stopped) await new Promise((r) => setTimeout(r, 20));
      }
    };
    void loop();
    return () => {
      stopped = true;
      current?.destroy();
    };
  }

  close(): void {
    this.closed = true;
    for (const w of this.watches) w.destroy();
    this.agent.destroy();
  }
}
