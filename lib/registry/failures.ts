// Failure classification for registry requests: a transport error or an HTTP status becomes a classified
// ResolutionFailure naming the image and the origin. Whether a kind opens the registry's circuit is decided in
// resolution.ts (isHardFailure); here each fault gets the kind that says what it concerns.

import { effectiveTag, type ImageReference } from '../image/reference.ts';
import type { Credential } from './credentials.ts';
import { type HttpResponse, TransportError } from './http.ts';
import { failure, parseRetryAfter, type ResolutionFailure } from './resolution.ts';

const MAX_ERROR_TEXT = 200;

/** What a request was for: a manifest (or other per-reference answer) or the registry's token service. */
export type RequestPurpose = 'reference' | 'token';

/**
 * A request that got no usable HTTP answer. Network, timeout and TLS failures concern the registry; a refused
 * redirect or an oversized manifest concerns the reference (a token service answering megabytes is the
 * registry's problem).
 */
export function transportFailure(
  ref: Pick<ImageReference, 'familiar'>,
  err: unknown,
  where: string,
  purpose: RequestPurpose = 'reference',
): ResolutionFailure {
  const image = ref.familiar;
  if (err instanceof TransportError) {
    switch (err.kind) {
      case 'timeout':
      case 'network':
        return failure('unreachable', `${image}: ${err.message}`, { retryable: true });
      case 'tls':
        return failure('unreachable', `${image}: ${err.message}`, { retryable: false });
      case 'redirect':
        return failure('redirect-refused', `${image}: ${err.message}`, { retryable: false });
      case 'too-large':
        return purpose === 'reference'
          ? failure('manifest-too-large', `${image}: ${err.message}: not a manifest this tool reads`, {
              retryable: false,
            })
          : failure('protocol', `${image}: ${err.message}`, { retryable: false });
      case 'invalid-request':
        // A header value Node cannot send: a pull secret's token with a line break, say. That credential's
        // problem, not the registry's (the next credential is tried; other images are still asked).
        return failure(
          'unauthorized',
          `${image}: ${err.message}: a credential holds characters an HTTP header cannot carry; fix the pull secret`,
          { retryable: false },
        );
      default:
        return failure('protocol', `${image}: ${err.message}`, { retryable: false });
    }
  }
  return failure(
    'unreachable',
    `${image}: request to ${where} failed: ${err instanceof Error ? err.message : err}`,
  );
}

/** A non-2xx answer: 401/403 unauthorized, 404 not-found (both soft), 429 rate-limited, 5xx unreachable. */
export function statusFailure(
  ref: Pick<ImageReference, 'familiar' | 'digest' | 'tag'>,
  cred: Credential | undefined,
  res: HttpResponse,
  where: string,
  now: number,
): ResolutionFailure {
  const status = res.status;
  const detail = registryErrorCode(res.body);
  const suffix = `(HTTP ${status}${detail ? ` ${detail}` : ''})`;
  if (status === 401 || status === 403) {
    const who = cred === undefined ? 'anonymous access' : String(cred);
    return failure('unauthorized', `${ref.familiar}: ${where} refused ${who} ${suffix}`, { status });
  }
  if (status === 404) {
    return failure(
      'not-found',
      `${ref.familiar}: ${ref.digest ?? effectiveTag(ref)} not found at ${where} ${suffix}`,
      {
        status,
      },
    );
  }
  const retryAfterSeconds = parseRetryAfter(res.headers['retry-after'], now);
  if (status === 429) {
    return failure('rate-limited', `${ref.familiar}: ${where} is rate limiting ${suffix}`, {
      status,
      retryAfterSeconds,
    });
  }
  if (status >= 500 && status <= 599) {
    return failure('unreachable', `${ref.familiar}: ${where} failed ${suffix}`, {
      status,
      retryAfterSeconds,
    });
  }
  return failure('protocol', `${ref.familiar}: unexpected answer from ${where} ${suffix}`, {
    status,
    retryable: false,
  });
}

// The distribution error code (MANIFEST_UNKNOWN, DENIED, TOOMANYREQUESTS …) from an error body, when there is one.
function registryErrorCode(body: Buffer): string | undefined {
  if (body.length === 0 || body.length > 64 * 1024) return undefined;
  try {
    const json = JSON.parse(body.toString('utf8')) as { errors?: Array<{ code?: unknown }> };
    const code = json?.errors?.[0]?.code;
    return typeof code === 'string' ? code.slice(0, MAX_ERROR_TEXT).replace(/[^\w.-]/g, '') : undefined;
  } catch {
    return undefined;
  }
}
