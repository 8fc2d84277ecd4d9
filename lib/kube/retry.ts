// Bounded retries of transient API faults (lib/kube/errors.ts: APF 429, 5xx, resets, timeouts): a few attempts,
// jittered exponential backoff, the server's Retry-After honoured up to a cap, and an abort signal that ends waiting.

import { apiStatus, isTransient } from './errors.ts';

export interface RetryPolicy {
  /** Tries in all, the first included (1: no retry). */
  attempts: number;
  /** Backoff before the second try; doubles for each further one. */
  baseMs: number;
  /** Largest backoff without a Retry-After. */
  capMs: number;
  /** Largest wait a Retry-After may ask for (a longer one is cut to this). */
  retryAfterCapMs: number;
}

/** 4 tries over about 1.5 s (more when the server asks with Retry-After, at most 10 s a wait). */
export const DEFAULT_RETRY: RetryPolicy = { attempts: 4, baseMs: 200, capMs: 2000, retryAfterCapMs: 10_000 };

/** Sleeps `ms`, ending early (without rejecting) when `signal` aborts. */
export type Sleep = (ms: number, signal?: AbortSignal) => Promise<void>;

export const realSleep: Sleep = (ms, signal) =>
  new Promise<void>((resolve) => {
    if (signal?.aborted) return resolve();
    const done = () => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, Math.max(0, ms));
    signal?.addEventListener('abort', done, { once: true });
  });

/**
 * The wait before try `attempt + 1` after `err`: the Retry-After (capped) when the server sent one, else
 * base·2^(attempt-1) capped, with equal jitter (half fixed, half random) so many clients do not retry in step.
 */
export function backoffMs(
  attempt: number,
  err: unknown,
  policy: RetryPolicy,
  random: () => number = Math.random,
): number {
  const after = apiStatus(err).retryAfterSeconds;
  if (after !== undefined) return Math.min(after * 1000, policy.retryAfterCapMs);
  const d = Math.min(policy.capMs, policy.baseMs * 2 ** (attempt - 1));
  return Math.round(d / 2 + random() * (d / 2));
}

export interface RetryOptions {
  policy?: RetryPolicy;
  /** Aborting stops further tries: the last failure is thrown. */
  signal?: AbortSignal;
  /** Which failures are worth another try (default isTransient). */
  retryable?: (err: unknown) => boolean;
  sleep?: Sleep;
  random?: () => number;
  /** Told before each wait. */
  onRetry?: (info: { attempt: number; waitMs: number; err: unknown }) => void;
}

/**
 * Runs `fn` until it resolves, a failure is not retryable, the tries are used up or the signal aborts; rejects with
 * the last failure, which records how many tries were made (triesOf).
 */
export async function withRetry<T>(fn: (attempt: number) => Promise<T>, opts: RetryOptions = {}): Promise<T> {
  const policy = opts.policy ?? DEFAULT_RETRY;
  const retryable = opts.retryable ?? isTransient;
  const sleep = opts.sleep ?? realSleep;
  for (let attempt = 1; ; attempt++) {
    try {
      return await fn(attempt);
    } catch (err) {
      if (attempt >= policy.attempts || !retryable(err) || opts.signal?.aborted) {
        throw attempt > 1 ? afterTries(err, attempt) : err;
      }
      const waitMs = backoffMs(attempt, err, policy, opts.random);
      opts.onRetry?.({ attempt, waitMs, err });
      await sleep(waitMs, opts.signal);
      if (opts.signal?.aborted) throw afterTries(err, attempt);
    }
  }
}

// Records how many tries were made on the error itself (class and fields kept); toKubeApiError puts it in its message.
function afterTries(err: unknown, tries: number): unknown {
  if (err && typeof err === 'object') (err as { tries?: number }).tries = tries;
  return err;
}

/** How many tries a failure took (withRetry records it); 1 when it was not retried. */
export function triesOf(err: unknown): number {
  const n = (err as { tries?: unknown } | null)?.tries;
  return typeof n === 'number' ? n : 1;
}
