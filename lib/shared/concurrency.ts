// Bounded concurrency, one module for the whole code base: a Limiter (a counting semaphore: at most `limit` tasks
// hold a slot, waiters are served first come first served) for work that arrives over time, and mapLimit for a known
// list (a fixed pool of workers).

/** Throws a RangeError naming `what` unless `limit` is a whole number of at least 1. */
function checkLimit(limit: number, what: string): void {
  if (!Number.isInteger(limit) || limit < 1) {
    throw new RangeError(`${what}: the concurrency limit must be a whole number of at least 1, got ${limit}`);
  }
}

/** At most `limit` tasks in flight; tasks beyond that wait in arrival order. */
export class Limiter {
  readonly limit: number;
  #free: number;
  readonly #waiting: Array<() => void> = [];

  constructor(limit: number) {
    checkLimit(limit, 'Limiter');
    this.limit = limit;
    this.#free = limit;
  }

  /** Tasks holding a slot now. */
  get active(): number {
    return this.limit - this.#free;
  }

  /** Tasks waiting for a slot now. */
  get pending(): number {
    return this.#waiting.length;
  }

  /** Waits for a slot; resolves to its release function (calling it more than once releases once). */
  async acquire(): Promise<() => void> {
    if (this.#free > 0) this.#free--;
    // The slot is handed over by release() directly, so #free stays as it is for a woken waiter.
    else await new Promise<void>((resolve) => this.#waiting.push(resolve));
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const next = this.#waiting.shift();
      if (next) next();
      else this.#free++;
    };
  }

  /** Runs fn in a slot and releases the slot however fn ends; resolves or rejects as fn does. */
  async run<R>(fn: () => Promise<R>): Promise<R> {
    const release = await this.acquire();
    try {
      return await fn();
    } finally {
      release();
    }
  }
}

/**
 * Maps items through fn with at most `limit` calls in flight, results in input order. After a failure no new call
 * starts; the calls already running are awaited, then the first failure rejects. A limit that is not a whole number
 * of at least 1 throws a RangeError (a NaN limit used to run nothing and resolve as if all were done).
 */
export async function mapLimit<T, R>(
  items: readonly T[],
  limit: number,
  fn: (item: T, index: number) => Promise<R>,
): Promise<R[]> {
  checkLimit(limit, 'mapLimit');
  const results = new Array<R>(items.length);
  let next = 0;
  let failure: { err: unknown } | undefined;
  // `limit` workers pulling the next index, not one waiting promise per item: 5,000 pods keep 16 chains alive,
  // not 5,000 (the run's peak memory is measured by the benchmark).
  const worker = async () => {
    while (failure === undefined && next < items.length) {
      const i = next++;
      try {
        results[i] = await fn(items[i] as T, i);
      } catch (err) {
        failure ??= { err };
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  if (failure) throw failure.err;
  return results;
}
