// Writing API responses and reading request bodies the way the API server does: JSON bodies, failure `Status`
// documents with the real reasons, and request bodies in JSON or Kubernetes protobuf.

import type { IncomingMessage, ServerResponse } from 'node:http';
import { decodeKubernetesProtobuf, isKubernetesProtobuf } from './proto/decode.ts';
import { StoreError } from './store.ts';

// biome-ignore lint/suspicious/noExplicitAny: open JSON.
type Json = any;

/** The Status reason the real server gives for each HTTP code (used for injected faults). */
export const REASONS: Record<number, string> = {
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

/** Sends a JSON body with a Content-Length. */
export function send(
  res: ServerResponse,
  code: number,
  body: Json,
  headers: Record<string, string> = {},
): void {
  const text = JSON.stringify(body);
  res.writeHead(code, {
    'Content-Type': 'application/json',
    'Content-Length': Buffer.byteLength(text),
    'Cache-Control': 'no-cache, private',
    ...headers,
  });
  res.end(text);
}

/** Sends a failure Status. */
export function sendStatus(
  res: ServerResponse,
  code: number,
  reason: string,
  message: string,
  details?: Record<string, unknown>,
  headers?: Record<string, string>,
): void {
  send(res, code, statusBody(code, reason, message, details), headers);
}

/** Sends the Status of a StoreError, with Retry-After when its details suggest one. */
export function sendError(res: ServerResponse, e: StoreError): void {
  const ra = e.details?.retryAfterSeconds;
  const headers: Record<string, string> =
    typeof ra === 'number' && ra > 0 ? { 'Retry-After': String(ra) } : {};
  const body = statusBody(e.code, e.reason, e.message, e.details);
  if (e.listMeta) body.metadata = e.listMeta;
  send(res, e.code, body, headers);
}

/** Reads the whole request body. */
export function readBody(req: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

/**
 * The request body as JSON (undefined when empty); kubectl's typed clients send protobuf, which is decoded to the
 * same JSON. Throws a 400 StoreError for an undecodable body.
 */
export function parseBody(buf: Buffer, contentType?: string): Json {
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
