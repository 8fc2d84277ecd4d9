// The controllers' shared event loop: deduplicated work queues, coalesced timers, tracked async work and
// quiescence waiting (settle), so thousands of objects reconcile in a few batched passes and tests never sleep.

/** A pending timer; cancel() is idempotent. */
export interface TimerHandle {
  cancel(): void;
}

interface TimerEntry {
  at: number;
  fn: () => void;
  background: boolean;
  done: boolean;
}

interface Waiter {
  predicate: (() => boolean) | undefined;
  /** settle() waits for idle; waitFor() only for the predicate. */
  idle: boolean;
  resolve: () => void;
  reject: (e: Error) => void;
  timer: NodeJS.Timeout;
}

// Timers are grouped into buckets of this many ms so that many pods due at about the same moment are handled
// in one macrotask, and the controllers then reconcile once for all of them.
const BUCKET_MS = 4;
// A flush that keeps producing work for this many rounds yields to the event loop instead of spinning.
const MAX_ROUNDS = 64;

export class Runtime {
  private readonly queues = new Map<string, { fn: (key: string) => void; keys: Set<string> }>();
  private flushScheduled = false;
  private foreground = 0;
  private inFlight = 0;
  private readonly buckets = new Map<number, TimerEntry[]>();
  private bucketTimes: number[] = [];
  private armed: { at: number; timer: NodeJS.Timeout } | undefined;
  private readonly waiters = new Set<Waiter>();
  private readonly wakeUps = new Map<string, { at: number; handle: TimerHandle }>();
  private stopped = false;
  /** Reconcile errors, newest last (a controller error never stops the loop). */
  readonly errors: Error[] = [];
  /** The controllers' clock (injectable for cron schedules and deadlines). */
  readonly now: () => number;
  private readonly onError: (e: Error) => void;

  constructor(opts: { now?: () => number; onError?: (e: Error) => void } = {}) {
    this.now = opts.now ?? Date.now;
    this.onError = opts.onError ?? ((e) => console.warn(`kube-sim controllers: ${e.stack ?? e.message}`));
  }

  /** Registers a named reconciler and returns its enqueue function (duplicates within a pass are merged). */
  queue(name: string, fn: (key: string) => void): (key: string) => void {
    const q = { fn, keys: new Set<string>() };
    this.queues.set(name, q);
    return (key: string) => {
      if (this.stopped) return;
      q.keys.add(key);
      this.scheduleFlush();
    };
  }

  /** Keys currently queued under a name (for diagnostics). */
  pending(): Record<string, number> {
    const out: Record<string, number> = {};
    for (const [name, q] of this.queues) if (q.keys.size) out[name] = q.keys.size;
    return out;
  }

  private scheduleFlush(): void {
    if (this.flushScheduled || this.stopped) return;
    this.flushScheduled = true;
    setImmediate(() => this.flush());
  }

  private flush(): void {
    this.flushScheduled = false;
    if (this.stopped) return;
    for (let round = 0; round < MAX_ROUNDS; round++) {
      let any = false;
      for (const q of this.queues.values()) {
        if (q.keys.size === 0) continue;
        any = true;
        const keys = [...q.keys];
        q.keys.clear();
        for (const k of keys) this.run(() => q.fn(k));
      }
      if (!any) break;
    }
    for (const q of this.queues.values()) if (q.keys.size) this.scheduleFlush();
    this.checkIdle();
  }

  private run(fn: () => void): void {
    try {
      fn();
    } catch (e) {
      this.report(e);
    }
  }

  /** Records an error from a reconcile or an async step (kept in errors, passed to onError); never throws. */
  report(e: unknown): void {
    const err = e instanceof Error ? e : new Error(String(e));
    this.errors.push(err);
    if (this.errors.length > 100) this.errors.shift();
    this.onError(err);
  }

  /**
   * Runs fn after delayMs. Foreground timers (pods becoming ready, terminating, finishing) keep settle() waiting;
   * background ones (resync, backoffs, crash loops, deadlines) do not.
   */
  after(delayMs: number, fn: () => void, opts: { background?: boolean } = {}): TimerHandle {
    const entry: TimerEntry = {
      at: Date.now() + Math.max(0, delayMs),
      fn,
      background: !!opts.background,
      done: false,
    };
    if (!entry.background) this.foreground++;
    const bucket = Math.ceil(entry.at / BUCKET_MS) * BUCKET_MS;
    let list = this.buckets.get(bucket);
    if (!list) {
      list = [];
      this.buckets.set(bucket, list);
      insertSorted(this.bucketTimes, bucket);
    }
    list.push(entry);
    this.arm();
    return {
      cancel: () => {
        if (entry.done) return;
        entry.done = true;
        if (!entry.background) this.foreground--;
        this.checkIdleSoon();
      },
    };
  }

  private arm(): void {
    if (this.stopped) return;
    const first = this.bucketTimes[0];
    if (first === undefined) {
      if (this.armed) clearTimeout(this.armed.timer);
      this.armed = undefined;
      return;
    }
    if (this.armed && this.armed.at <= first) return;
    if (this.armed) clearTimeout(this.armed.timer);
    const timer = setTimeout(() => this.fire(), Math.max(0, first - Date.now()));
    this.armed = { at: first, timer };
  }

  private fire(): void {
    this.armed = undefined;
    const t = Date.now();
    while (this.bucketTimes.length > 0 && this.bucketTimes[0]! <= t + 1) {
      const b = this.bucketTimes.shift()!;
      const list = this.buckets.get(b) ?? [];
      this.buckets.delete(b);
      for (const e of list) {
        if (e.done) continue;
        e.done = true;
        if (!e.background) this.foreground--;
        this.run(e.fn);
      }
    }
    this.arm();
    this.checkIdleSoon();
  }

  /**
   * Calls enqueue(key) after delayMs (a background timer), once per id: a later request only replaces a pending
   * one when it is due sooner, so reconciles that keep asking for the same wake-up do not pile timers up.
   */
  wakeUp(id: string, delayMs: number, enqueue: () => void): void {
    const at = Date.now() + delayMs;
    const old = this.wakeUps.get(id);
    if (old && old.at <= at) return;
    old?.handle.cancel();
    const handle = this.after(
      delayMs,
      () => {
        this.wakeUps.delete(id);
        enqueue();
      },
      { background: true },
    );
    this.wakeUps.set(id, { at, handle });
  }

  /** Tracks async work (image pulls, execute hooks) so settle() waits for it; returns the same promise. */
  track<T>(p: Promise<T>): Promise<T> {
    this.inFlight++;
    const done = () => {
      this.inFlight--;
      this.checkIdleSoon();
    };
    p.then(done, done);
    return p;
  }

  /** Whether nothing is queued, in flight or due on a foreground timer. */
  idle(): boolean {
    return !this.flushScheduled && this.foreground === 0 && this.inFlight === 0 && this.queuedKeys() === 0;
  }

  private queuedKeys(): number {
    let n = 0;
    for (const q of this.queues.values()) n += q.keys.size;
    return n;
  }

  private checkIdleSoon(): void {
    if (this.waiters.size === 0) return;
    setImmediate(() => this.checkIdle());
  }

  private checkIdle(): void {
    if (this.waiters.size === 0) return;
    const idle = this.idle();
    for (const w of [...this.waiters]) {
      if (w.idle && !idle) continue;
      let ok = true;
      if (w.predicate) {
        try {
          ok = w.predicate();
        } catch (e) {
          this.waiters.delete(w);
          clearTimeout(w.timer);
          w.reject(e instanceof Error ? e : new Error(String(e)));
          continue;
        }
      }
      if (ok) {
        this.waiters.delete(w);
        clearTimeout(w.timer);
        w.resolve();
      }
    }
  }

  /**
   * Resolves once the controllers are idle and predicate (if any) holds; rejects after timeoutMs with what was
   * still pending, so a test fails with a reason instead of hanging.
   */
  settle(predicate?: () => boolean, timeoutMs = 10_000, opts: { idle?: boolean } = {}): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const w: Waiter = {
        predicate,
        idle: opts.idle ?? true,
        resolve,
        reject,
        timer: setTimeout(() => {
          this.waiters.delete(w);
          let why = '';
          try {
            why = predicate && !predicate() ? 'the predicate is still false; ' : '';
          } catch (e) {
            why = `the predicate throws ${String(e)}; `;
          }
          reject(
            new Error(
              `kube-sim: not settled after ${timeoutMs} ms: ${why}queued ${JSON.stringify(this.pending())}, ` +
                `foreground timers ${this.foreground}, in flight ${this.inFlight}`,
            ),
          );
        }, timeoutMs),
      };
      this.waiters.add(w);
      // Predicates can turn true through background work (backoffs, clocks), which also ends in idle checks.
      setImmediate(() => this.checkIdle());
    });
  }

  /** Re-evaluates settle() waiters; for callers that change state outside the controllers (e.g. a fake clock). */
  poke(): void {
    this.checkIdleSoon();
  }

  /** Stops every timer and queue; pending settle() calls reject. */
  stop(): void {
    this.stopped = true;
    if (this.armed) clearTimeout(this.armed.timer);
    this.armed = undefined;
    this.buckets.clear();
    this.wakeUps.clear();
    this.bucketTimes = [];
    for (const q of this.queues.values()) q.keys.clear();
    for (const w of this.waiters) {
      clearTimeout(w.timer);
      w.reject(new Error('kube-sim: controllers stopped'));
    }
    this.waiters.clear();
  }

  get isStopped(): boolean {
    return this.stopped;
  }
}

function insertSorted(arr: number[], v: number): void {
  let lo = 0;
  let hi = arr.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (arr[mid]! < v) lo = mid + 1;
    else hi = mid;
  }
  arr.splice(lo, 0, v);
}
