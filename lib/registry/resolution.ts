// What a registry lookup returns: the digest a tag points to now, or a classified failure. Failures are values,
// not exceptions, so "unknown means keep" is the natural path for callers.

export interface ResolutionOk {
  ok: true;
  /** The manifest (or index) digest the tag points to now. */
  digest: string;
  /** The manifest's media type (an index/list type for multi-arch images). */
  mediaType: string;
  /** Child manifest digests of an index. resolve() leaves this empty: fetch with indexChildren() when needed. */
  children: string[];
}

/**
 * Registry-level kinds (`rate-limited`, `unreachable`, `protocol`) say the registry itself is in trouble and open its
 * circuit for the run. The others concern one reference: `unauthorized` and `not-found` (401/403/404), and the
 * faults of one answer: a schema1 or otherwise unsupported manifest, a body that is not a usable manifest, a
 * challenge that cannot be answered, a redirect refused, a body over the size cap.
 */
export type FailureKind =
  | 'unauthorized'
  | 'not-found'
  | 'unsupported-manifest'
  | 'invalid-manifest'
  | 'invalid-challenge'
  | 'redirect-refused'
  | 'manifest-too-large'
  | 'rate-limited'
  | 'unreachable'
  | 'protocol';

export interface ResolutionFailure {
  ok: false;
  kind: FailureKind;
  /** True when trying again later may succeed (429, 5xx, network); false for 401/403/404 and answer faults. */
  retryable: boolean;
  /** The HTTP status, when the registry (or its token endpoint) answered. */
  status?: number;
  /** One sentence naming the image and registry and what went wrong. Never contains credentials. */
  message: string;
  /** From Retry-After on a 429/503. */
  retryAfterSeconds?: number;
}

export type Resolution = ResolutionOk | ResolutionFailure;

/** Child digests of an index, or why they could not be read. */
export type ChildrenResult = { ok: true; children: string[] } | ResolutionFailure;

/** Builds a failure value; `extra` adds status/retryAfterSeconds only when defined. */
export function failure(
  kind: FailureKind,
  message: string,
  extra: { retryable?: boolean; status?: number | undefined; retryAfterSeconds?: number | undefined } = {},
): ResolutionFailure {
  const out: ResolutionFailure = {
    ok: false,
    kind,
    retryable: extra.retryable ?? defaultRetryable(kind),
    message,
  };
  if (extra.status !== undefined) out.status = extra.status;
  if (extra.retryAfterSeconds !== undefined) out.retryAfterSeconds = extra.retryAfterSeconds;
  return out;
}

function defaultRetryable(kind: FailureKind): boolean {
  return kind === 'rate-limited' || kind === 'unreachable';
}

/**
 * Hard faults concern the whole registry (429, 5xx, network, TLS, a broken token service): stop querying it this
 * run. Every other kind concerns one reference only, so one legacy or odd image never blinds its registry.
 */
export function isHardFailure(r: ResolutionFailure): boolean {
  return r.kind === 'rate-limited' || r.kind === 'unreachable' || r.kind === 'protocol';
}

/** Faults of one reference's answer (not 401/403/404): worth a warning, but the registry stays open. */
export function isReferenceFault(r: ResolutionFailure): boolean {
  return (
    r.kind === 'unsupported-manifest' ||
    r.kind === 'invalid-manifest' ||
    r.kind === 'invalid-challenge' ||
    r.kind === 'redirect-refused' ||
    r.kind === 'manifest-too-large'
  );
}

/** Seconds from a Retry-After value (delta-seconds or HTTP date); undefined when absent or unreadable. */
export function parseRetryAfter(value: string | undefined, now: number = Date.now()): number | undefined {
  if (value === undefined) return undefined;
  const v = value.trim();
  if (/^\d+$/.test(v)) return Number(v);
  const when = Date.parse(v);
  if (!Number.isFinite(when)) return undefined;
  return Math.max(0, Math.ceil((when - now) / 1000));
}
