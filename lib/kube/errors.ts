// What a failed Kubernetes API call means: the server's Status (code, reason, message, causes, Retry-After) read from
// any error shape the code meets (ApiHttpError, client-node's ApiException, KubeApiError and its cause), and the
// classification the retry logic and its callers share: not found, a PodDisruptionBudget refusal, or transient.

import { KubeApiError } from '../shared/errors.ts';

/** What the API server said about a failed call: HTTP status, Status reason/message, and retry hints. */
export interface ApiStatus {
  /** HTTP status; undefined for network failures (no answer). */
  code: number | undefined;
  /** Status.reason, e.g. "TooManyRequests", "NotFound". */
  reason: string | undefined;
  /** Status.message, or the error's own message when the server sent none. */
  message: string;
  /** Status.details.causes[].message, e.g. the PodDisruptionBudget that blocks an eviction. */
  causes: string[];
  /** Status.details.causes[].reason, e.g. "DisruptionBudget". */
  causeReasons: string[];
  /** Seconds from the `Retry-After` header or Status.details.retryAfterSeconds, when given. */
  retryAfterSeconds: number | undefined;
}

interface StatusBody {
  message?: string;
  reason?: string;
  details?: { causes?: { message?: string; reason?: string }[]; retryAfterSeconds?: number };
}

/** Reads an ApiHttpError/ApiException (duck-typed: `.code`, `.body`, `.headers`) or any other error. Never throws. */
export function apiStatus(err: unknown): ApiStatus {
  const e = err as {
    code?: unknown;
    body?: unknown;
    headers?: Record<string, string>;
    message?: unknown;
  } | null;
  const code = typeof e?.code === 'number' ? e.code : undefined;
  let body: StatusBody | undefined;
  if (code !== undefined) {
    if (typeof e?.body === 'string') {
      try {
        const parsed: unknown = JSON.parse(e.body);
        if (parsed && typeof parsed === 'object') body = parsed as StatusBody;
      } catch {
        // Not JSON (API priority and fairness answers 429 in plain text; a proxy's HTML page): the code alone.
      }
    } else if (e?.body && typeof e.body === 'object') {
      body = e.body as StatusBody;
    }
  }
  const headerRetry = headerValue(e?.headers, 'retry-after');
  let retryAfterSeconds: number | undefined;
  if (headerRetry !== undefined && /^\d+$/.test(headerRetry.trim()))
    retryAfterSeconds = Number(headerRetry.trim());
  else if (typeof body?.details?.retryAfterSeconds === 'number' && body.details.retryAfterSeconds > 0) {
    retryAfterSeconds = body.details.retryAfterSeconds;
  }
  const list = Array.isArray(body?.details?.causes) ? body.details.causes : [];
  const causes = list
    .map((c) => c?.message)
    .filter((m): m is string => typeof m === 'string' && m.length > 0);
  const causeReasons = list
    .map((c) => c?.reason)
    .filter((m): m is string => typeof m === 'string' && m.length > 0);
  let message: string;
  if (body?.message) message = body.message;
  else if (code !== undefined) message = `HTTP ${code}`;
  else message = err instanceof Error ? err.message : String(err);
  return { code, reason: body?.reason, message, causes, causeReasons, retryAfterSeconds };
}

function headerValue(headers: Record<string, string> | undefined, name: string): string | undefined {
  if (!headers || typeof headers !== 'object') return undefined;
  for (const [k, v] of Object.entries(headers)) if (k.toLowerCase() === name) return String(v);
  return undefined;
}

// The answer itself: a KubeApiError wraps it as its cause.
function answer(err: unknown): unknown {
  let e = err;
  for (let i = 0; i < 5 && e instanceof KubeApiError && e.cause !== undefined; i++) e = e.cause;
  return e;
}

/** The HTTP status of a failed call; undefined when there was no answer (network, timeout, TLS, credentials). */
export function statusOf(err: unknown): number | undefined {
  const code = apiStatus(answer(err)).code;
  if (code !== undefined) return code;
  const s = (err as { status?: unknown } | null)?.status;
  return typeof s === 'number' ? s : undefined;
}

/** The object does not exist (404). */
export function isNotFound(err: unknown): boolean {
  return statusOf(err) === 404;
}

/** A list's continue token (or a watch's resourceVersion) expired: start over (410). */
export function isGone(err: unknown): boolean {
  return statusOf(err) === 410;
}

/**
 * A PodDisruptionBudget refuses the eviction now (429 naming a DisruptionBudget cause, or the budget in its message):
 * retried on the eviction deadline the way `kubectl drain` does. API priority and fairness's 429 is not one.
 */
export function isPdbRefusal(err: unknown): boolean {
  const s = apiStatus(answer(err));
  if (s.code !== 429) return false;
  return s.causeReasons.includes('DisruptionBudget') || /disruption budget/i.test(s.message);
}

/** Network faults worth another try: the server restarting, a dropped connection, an answer that never came. */
const TRANSIENT_ERRNO = new Set([
  'ECONNRESET',
  'ECONNREFUSED',
  'ECONNABORTED',
  'EPIPE',
  'ETIMEDOUT',
  'EAI_AGAIN',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'UND_ERR_SOCKET',
]);

/**
 * A fault of the API server or the way to it, not of the request: 429 from API priority and fairness (never a
 * PodDisruptionBudget's), 500 (except the eviction's "more than one PodDisruptionBudget"), 502, 503, 504, and the
 * network errors above (rest.ts gives timeouts ETIMEDOUT and cut-off answers ECONNRESET). TLS, credential,
 * 4xx and malformed answers are not: repeating them gives the same answer.
 */
export function isTransient(err: unknown): boolean {
  const e = answer(err);
  const s = apiStatus(e);
  if (s.code !== undefined) {
    if (s.code === 429) return !isPdbRefusal(e);
    if (s.code === 500) return !/more than one PodDisruptionBudget/i.test(s.message);
    return s.code === 502 || s.code === 503 || s.code === 504;
  }
  for (let c: unknown = e, i = 0; c && i < 5; c = (c as Error).cause, i++) {
    const errno = (c as { code?: unknown }).code;
    if (typeof errno === 'string' && TRANSIENT_ERRNO.has(errno)) return true;
  }
  return false;
}
