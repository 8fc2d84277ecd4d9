// A minimal HTTP(S) client for the harness's own calls: buffers bodies, trusts a given CA, no connection reuse
// (so a stopped registry never leaves sockets that keep the test process alive).

import { request as httpRequest, type IncomingHttpHeaders } from 'node:http';
import { request as httpsRequest } from 'node:https';

export interface HttpResponse {
  status: number;
  /** Lower-cased names, as node parses them. */
  headers: IncomingHttpHeaders;
  /** Names as the server sent them (flat [name, value, ...] list). */
  rawHeaders: string[];
  body: Buffer;
}

export interface HttpOptions {
  method?: string;
  headers?: Record<string, string>;
  body?: Buffer | string;
  /** PEM CA to trust for https URLs. */
  ca?: string;
  timeoutMs?: number;
}

/** Sends one request and buffers the answer; rejects on network errors and timeouts, never on an HTTP status. */
export function fetchBuffer(url: string | URL, opts: HttpOptions = {}): Promise<HttpResponse> {
  const target = typeof url === 'string' ? new URL(url) : url;
  const body = opts.body === undefined ? undefined : Buffer.from(opts.body);
  const headers: Record<string, string> = { ...opts.headers };
  if (body !== undefined) headers['Content-Length'] = String(body.length);
  const send = target.protocol === 'https:' ? httpsRequest : httpRequest;
  return new Promise((resolve, reject) => {
    const req = send(
      target,
      {
        method: opts.method ?? 'GET',
        headers,
        agent: false,
        ...(opts.ca !== undefined ? { ca: opts.ca } : {}),
        timeout: opts.timeoutMs ?? 15_000,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('error', reject);
        res.on('end', () =>
          resolve({
            status: res.statusCode ?? 0,
            headers: res.headers,
            rawHeaders: res.rawHeaders,
            body: Buffer.concat(chunks),
          }),
        );
      },
    );
    req.on('timeout', () => req.destroy(new Error(`${opts.method ?? 'GET'} ${target.href}: timed out`)));
    req.on('error', reject);
    req.end(body);
  });
}

/** The first value of a header, whatever node made of it. */
export function header(res: HttpResponse, name: string): string | undefined {
  const v = res.headers[name.toLowerCase()];
  return Array.isArray(v) ? v[0] : v;
}
