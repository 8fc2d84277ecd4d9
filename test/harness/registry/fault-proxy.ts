// A fault-injecting HTTP proxy in front of a harness registry. It also fronts the token server (the Bearer realm is
// rewritten to the proxy's own /__token), so token requests are counted and can be faulted like registry calls.

import {
  createServer,
  Agent as HttpAgent,
  request as httpRequest,
  type IncomingMessage,
  type ServerResponse,
} from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
import type { AddressInfo, Socket } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Fault, FaultProxy, ProxyCounts, ProxyLogEntry, Registry } from './types.ts';

const TOKEN_PATH = '/__token';
const MANIFEST_PATH = /^\/v2\/.+\/manifests\/[^/]+$/;
// Not JSON and not any manifest's bytes: a client must neither parse it nor accept its digest.
const GARBAGE = Buffer.from('\u0000\u00ff<<not a manifest>>{"schemaVersion":', 'latin1');
const HOP_BY_HOP = new Set([
  'connection',
  'keep-alive',
  'proxy-authenticate',
  'proxy-authorization',
  'proxy-connection',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
]);

/** Starts the proxy on 127.0.0.1:0 in front of `target`; rejects when it cannot listen. */
export async function startFaultProxy(target: Registry, opts: { fault?: Fault } = {}): Promise<FaultProxy> {
  const upstream = new URL(target.url);
  const tls = upstream.protocol === 'https:';
  const agentOpts = { keepAlive: true, ...(target.caPem !== undefined ? { ca: target.caPem } : {}) };
  const registryAgent = tls ? new HttpsAgent(agentOpts) : new HttpAgent(agentOpts);
  const tokenAgent = new HttpAgent({ keepAlive: true });
  // The realm the registry announced last; seeded from the harness's token server.
  let realm = target.tokenServer?.url;
  let fault: Fault | undefined = opts.fault;
  let used = 0;
  let counts: ProxyCounts = { head: 0, get: 0, token: 0, total: 0 };
  let entries: ProxyLogEntry[] = [];
  let origin = '';

  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    const path = req.url ?? '/';
    const pathname = path.split('?')[0] ?? path;
    const method = req.method ?? 'GET';
    counts.total++;
    if (MANIFEST_PATH.test(pathname) && method === 'HEAD') counts.head++;
    if (MANIFEST_PATH.test(pathname) && method === 'GET') counts.get++;
    if (pathname === TOKEN_PATH && method === 'GET') counts.token++;
    const entry: ProxyLogEntry = { method, path, status: 0, host: req.headers.host ?? '' };
    const scheme = /^(basic|bearer)\s/i.exec(req.headers.authorization ?? '')?.[1]?.toLowerCase();
    if (scheme === 'basic' || scheme === 'bearer') entry.authorization = scheme;
    entries.push(entry);
    res.once('finish', () => {
      entry.status = res.statusCode;
    });

    // A /g or /y pattern keeps state between test() calls; start each match afresh.
    if (fault?.match) fault.match.lastIndex = 0;
    const active =
      fault !== undefined &&
      (fault.match?.test(path) ?? true) &&
      (fault.times === undefined || used < fault.times);
    const f = active ? fault : undefined;
    if (f) used++;
    if (f?.latencyMs) await sleep(f.latencyMs);
    if (f?.reset) {
      (req.socket as Socket).resetAndDestroy();
      return;
    }
    if (f?.status !== undefined) return answerFault(res, f);

    let url: URL;
    if (pathname === TOKEN_PATH) {
      if (realm === undefined) return answer(res, 502, 'fault proxy: no token realm known yet');
      url = new URL(realm);
      url.search = path.slice(TOKEN_PATH.length);
    } else {
      url = new URL(path, upstream);
    }
    const isToken = pathname === TOKEN_PATH;
    const send = url.protocol === 'https:' ? httpsRequest : httpRequest;
    const upstreamReq = send(
      url,
      { method, headers: forwardHeaders(req, url.host), agent: isToken ? tokenAgent : registryAgent },
      (up) => {
        const raw = rewriteHeaders(up.rawHeaders, f);
        if (f?.malformedBody && method !== 'HEAD') {
          setRaw(raw, 'content-length', String(GARBAGE.length));
          res.writeHead(up.statusCode ?? 502, up.statusMessage, raw);
          up.resume();
          res.end(GARBAGE);
          return;
        }
        res.writeHead(up.statusCode ?? 502, up.statusMessage, raw);
        up.pipe(res);
      },
    );
    upstreamReq.on('error', (err) => {
      if (!res.headersSent) answer(res, 502, `fault proxy: upstream ${url.host}: ${err.message}`);
      else res.destroy();
    });
    res.once('close', () => {
      if (!res.writableFinished) upstreamReq.destroy();
    });
    req.pipe(upstreamReq);
  };

  // Points the Bearer realm at the proxy and absolute Locations back at the proxy, so clients stay behind it.
  const rewriteHeaders = (rawHeaders: string[], f: Fault | undefined): string[] => {
    const out: string[] = [];
    for (let i = 0; i + 1 < rawHeaders.length; i += 2) {
      const name = rawHeaders[i] as string;
      let value = rawHeaders[i + 1] as string;
      const lower = name.toLowerCase();
      if (HOP_BY_HOP.has(lower)) continue;
      if (lower === 'docker-content-digest' && f?.stripDigestHeader) continue;
      if (lower === 'content-type' && f?.contentType !== undefined) value = f.contentType;
      if (lower === 'www-authenticate' && /^\s*bearer\s/i.test(value)) {
        value = value.replace(/realm="([^"]*)"/i, (_m, announced: string) => {
          realm = announced;
          return `realm="${origin}${TOKEN_PATH}"`;
        });
      }
      if (lower === 'location' && value.startsWith(upstream.origin))
        value = origin + value.slice(upstream.origin.length);
      out.push(name, value);
    }
    return out;
  };

  const server = createServer((req, res) => {
    handle(req, res).catch((err: unknown) => {
      if (!res.headersSent) answer(res, 502, `fault proxy: ${String(err)}`);
      else res.destroy();
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  const host = `127.0.0.1:${port}`;
  origin = `http://${host}`;
  let stopped: Promise<void> | undefined;

  return {
    url: origin,
    host,
    set(f) {
      fault = f;
      used = 0;
    },
    clear() {
      fault = undefined;
      used = 0;
    },
    counts: () => ({ ...counts }),
    log: () => entries.map((e) => ({ ...e })),
    resetCounts() {
      counts = { head: 0, get: 0, token: 0, total: 0 };
      entries = [];
    },
    stop() {
      stopped ??= new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
        registryAgent.destroy();
        tokenAgent.destroy();
      });
      return stopped;
    },
  };
}

function forwardHeaders(req: IncomingMessage, upstreamHost: string): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {};
  for (let i = 0; i + 1 < req.rawHeaders.length; i += 2) {
    const name = req.rawHeaders[i] as string;
    const value = req.rawHeaders[i + 1] as string;
    const lower = name.toLowerCase();
    if (HOP_BY_HOP.has(lower) || lower === 'host') continue;
    const prev = out[name];
    out[name] = prev === undefined ? value : Array.isArray(prev) ? [...prev, value] : [prev, value];
  }
  out.Host = upstreamHost;
  return out;
}

function setRaw(raw: string[], name: string, value: string): void {
  for (let i = 0; i + 1 < raw.length; i += 2) {
    if ((raw[i] as string).toLowerCase() === name) {
      raw[i + 1] = value;
      return;
    }
  }
  raw.push(name, value);
}

// Shaped like distribution's error bodies, so clients that parse them get something realistic.
function answerFault(res: ServerResponse, f: Fault): void {
  const status = f.status ?? 500;
  const code = status === 429 ? 'TOOMANYREQUESTS' : status === 503 ? 'UNAVAILABLE' : 'UNKNOWN';
  const body = JSON.stringify({
    errors: [{ code, message: `fault proxy: injected ${status}`, detail: null }],
  });
  const headers: Record<string, string | number> = {
    'Content-Type': 'application/json; charset=utf-8',
    'Content-Length': Buffer.byteLength(body),
  };
  if (f.retryAfterSeconds !== undefined) headers['Retry-After'] = String(f.retryAfterSeconds);
  res.writeHead(status, headers);
  res.end(res.req.method === 'HEAD' ? undefined : body);
}

function answer(res: ServerResponse, status: number, message: string): void {
  res.writeHead(status, { 'Content-Type': 'text/plain', 'Content-Length': Buffer.byteLength(message) });
  res.end(message);
}
