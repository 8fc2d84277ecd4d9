// The updates `serve` accepted: one runs at a time (the Lease guards against other processes), the others wait in a
// bounded queue (full: the caller gets a 429), finished ones are kept for a while to be polled. Cancelling a queued
// update drops it; cancelling the running one aborts its signal (the use case stops and rolls back).

import { randomUUID } from 'node:crypto';

export interface UpdateRequest {
  image: string;
  classifier: string;
  /** Namespaces to search; undefined: what the server was configured with. */
  namespaces?: string[];
  dryRun?: boolean;
}

/** What the update use case reports, in the terms the HTTP answers need. */
export interface UpdateOutcome {
  exitCode: number;
  error?: string;
  workloads: Array<{ namespace: string; kind: string; name: string; outcome: string; reason?: string }>;
  migrations: Array<{ template: string; job?: string; outcome: string }>;
  rolledBack: Array<{ namespace: string; kind: string; name: string }>;
}

export type UpdateRunner = (req: UpdateRequest, signal: AbortSignal) => Promise<UpdateOutcome>;

export type UpdateState = 'queued' | 'running' | 'succeeded' | 'failed' | 'cancelled';

export interface UpdateEntry {
  uuid: string;
  request: UpdateRequest;
  /** The key that asked for it (its name, never the key). */
  requestedBy: string;
  state: UpdateState;
  createdAt: number;
  startedAt?: number;
  finishedAt?: number;
  outcome?: UpdateOutcome;
}

export interface UpdateQueueOptions {
  runner: UpdateRunner;
  /** Updates waiting behind the running one; more is a 429. Default 16. */
  maxQueued?: number;
  /** How long finished updates stay readable; default 1 h. */
  keepMs?: number;
  now?: () => number;
  /** Told when an update's state changes (metrics, logs). */
  onChange?: (entry: UpdateEntry) => void;
}

export class UpdateQueue {
  readonly #opts: Required<Omit<UpdateQueueOptions, 'onChange'>> & Pick<UpdateQueueOptions, 'onChange'>;
  readonly #entries = new Map<string, UpdateEntry>();
  readonly #waiting: UpdateEntry[] = [];
  #running?: { entry: UpdateEntry; abort: AbortController; done: Promise<void> };
  #closed = false;

  constructor(opts: UpdateQueueOptions) {
    this.#opts = { maxQueued: 16, keepMs: 3_600_000, now: Date.now, ...opts };
  }

  /** Queues an update; undefined when the queue is full or the server is stopping. */
  submit(request: UpdateRequest, requestedBy: string): UpdateEntry | undefined {
    this.#prune();
    if (this.#closed || this.#waiting.length >= this.#opts.maxQueued) return undefined;
    const entry: UpdateEntry = {
      uuid: randomUUID(),
      request,
      requestedBy,
      state: 'queued',
      createdAt: this.#opts.now(),
    };
    this.#entries.set(entry.uuid, entry);
    this.#waiting.push(entry);
    this.#opts.onChange?.(entry);
    this.#next();
    return entry;
  }

  get(uuid: string): UpdateEntry | undefined {
    this.#prune();
    return this.#entries.get(uuid);
  }

  /** Newest first. */
  list(): UpdateEntry[] {
    this.#prune();
    return [...this.#entries.values()].sort((a, b) => b.createdAt - a.createdAt);
  }

  /** Cancels a queued update, or stops the running one (it rolls back). False when unknown or finished. */
  cancel(uuid: string): boolean {
    const entry = this.#entries.get(uuid);
    if (!entry) return false;
    if (entry.state === 'queued') {
      this.#waiting.splice(this.#waiting.indexOf(entry), 1);
      this.#finish(entry, 'cancelled');
      return true;
    }
    if (entry.state === 'running' && this.#running?.entry === entry) {
      this.#running.abort.abort(new Error(`update ${uuid} cancelled`));
      return true;
    }
    return false;
  }

  /** Stops accepting, cancels the queued updates, stops the running one and waits for it to end (rolled back). */
  async close(): Promise<void> {
    this.#closed = true;
    for (const e of this.#waiting.splice(0)) this.#finish(e, 'cancelled');
    if (this.#running) {
      this.#running.abort.abort(new Error('the server is stopping'));
      await this.#running.done;
    }
  }

  #next(): void {
    if (this.#running || this.#closed) return;
    const entry = this.#waiting.shift();
    if (!entry) return;
    const abort = new AbortController();
    entry.state = 'running';
    entry.startedAt = this.#opts.now();
    this.#opts.onChange?.(entry);
    const done = this.#opts
      .runner(entry.request, abort.signal)
      .then(
        (outcome) => {
          entry.outcome = outcome;
          this.#finish(
            entry,
            abort.signal.aborted ? 'cancelled' : outcome.exitCode === 0 ? 'succeeded' : 'failed',
          );
        },
        (err: unknown) => {
          entry.outcome = {
            exitCode: 1,
            error: err instanceof Error ? err.message : String(err),
            workloads: [],
            migrations: [],
            rolledBack: [],
          };
          this.#finish(entry, 'failed');
        },
      )
      .finally(() => {
        this.#running = undefined;
        this.#next();
      });
    this.#running = { entry, abort, done };
  }

  #finish(entry: UpdateEntry, state: UpdateState): void {
    entry.state = state;
    entry.finishedAt = this.#opts.now();
    this.#opts.onChange?.(entry);
  }

  #prune(): void {
    const cutoff = this.#opts.now() - this.#opts.keepMs;
    for (const [uuid, e] of this.#entries)
      if (e.finishedAt !== undefined && e.finishedAt < cutoff) this.#entries.delete(uuid);
  }
}

/** The XCNT update manager's answer shape (its client polls this), plus our own fields. */
export function xcntView(e: UpdateEntry): Record<string, unknown> {
  const o = e.outcome;
  const finished = e.finishedAt !== undefined;
  const updated = (xs: Array<{ outcome: string }>, ok: string[]) =>
    xs.filter((x) => ok.includes(x.outcome)).length;
  return {
    uuid: e.uuid,
    counts: {
      jobs: { total: o?.migrations.length ?? 0, updated: updated(o?.migrations ?? [], ['complete']) },
      deployments: {
        total: o?.workloads.length ?? 0,
        updated: updated(o?.workloads ?? [], ['updated', 'restarted']),
      },
    },
    status: {
      finish_time: finished ? new Date(e.finishedAt as number).toISOString() : null,
      finished,
      failed: e.state === 'failed' || e.state === 'cancelled',
      successful: e.state === 'succeeded',
    },
    state: e.state,
    image: e.request.image,
    classifier: e.request.classifier,
    workloads: o?.workloads ?? [],
    migrations: o?.migrations ?? [],
    rolledBack: o?.rolledBack ?? [],
    ...(o?.error !== undefined ? { error: o.error } : {}),
  };
}
