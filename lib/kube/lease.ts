// One update at a time: a coordination.k8s.io/v1 Lease held and renewed for the duration of an update (or, later, a
// policy run or a `serve` trigger). Acquired with optimistic concurrency (create, or replace with the resourceVersion
// read), waited for while someone else holds it and renews it, taken over only once it expired; renewed in the
// background; released at the end. Losing it (a renewal refused) aborts the holder's signal: fail closed.

import { isNotFound, statusOf } from './errors.ts';

/** The slice of the REST transport a Lease needs. */
export interface LeaseTransport {
  json<T>(method: 'GET' | 'POST' | 'PUT', path: string, opts?: { body?: unknown }): Promise<T>;
}

interface LeaseObject {
  apiVersion?: string;
  kind?: string;
  metadata: { name: string; namespace: string; resourceVersion?: string };
  spec?: {
    holderIdentity?: string | null;
    leaseDurationSeconds?: number | null;
    acquireTime?: string | null;
    renewTime?: string | null;
    leaseTransitions?: number | null;
  };
}

export interface LeaseOptions {
  namespace: string;
  name: string;
  /** Who holds it: shown to whoever waits (e.g. `update 1f3a… by pod updater-abc`). */
  holder: string;
  /** How long a holder that stops renewing keeps it; renewed every third of it. Default 30 s. */
  durationSeconds?: number;
  /** How long to wait for another holder; default 0 (fail at once). */
  timeoutMs?: number;
  /** Aborting stops waiting (and renewing). */
  signal?: AbortSignal;
  now?: () => number;
  sleep?: (ms: number, signal?: AbortSignal) => Promise<void>;
}

/** Another holder kept the Lease past the wait: names it and since when it renews. */
export class LeaseBusyError extends Error {
  readonly holder: string;
  constructor(message: string, holder: string) {
    super(message);
    this.name = 'LeaseBusyError';
    this.holder = holder;
  }
}

export interface HeldLease {
  /** Aborted when the Lease is lost (a renewal refused or taken over): stop making changes. */
  readonly lost: AbortSignal;
  /** Stops renewing and gives the Lease up (never throws; a release that fails just lets it expire). */
  release(): Promise<void>;
}

const MICRO = (ms: number) => new Date(ms).toISOString().replace(/\.(\d{3})Z$/, '.$1000Z');

function defaultSleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    }
    signal?.addEventListener('abort', done, { once: true });
  });
}

/** Whether a Lease is free for `holder` at `now`: nobody holds it, it is ours, or its holder stopped renewing. */
export function leaseFree(lease: LeaseObject, holder: string, now: number): boolean {
  const s = lease.spec ?? {};
  if (!s.holderIdentity || s.holderIdentity === holder) return true;
  const renewed = Date.parse(s.renewTime ?? s.acquireTime ?? '');
  const duration = (s.leaseDurationSeconds ?? 0) * 1000;
  return !Number.isFinite(renewed) || renewed + duration < now;
}

/** Acquires the Lease (waiting up to timeoutMs for another holder) and keeps renewing it until released. */
export async function acquireLease(api: LeaseTransport, opts: LeaseOptions): Promise<HeldLease> {
  const now = opts.now ?? Date.now;
  const sleep = opts.sleep ?? defaultSleep;
  const duration = opts.durationSeconds ?? 30;
  const path = `/apis/coordination.k8s.io/v1/namespaces/${encodeURIComponent(opts.namespace)}/leases`;
  const one = `${path}/${encodeURIComponent(opts.name)}`;
  const deadline = now() + (opts.timeoutMs ?? 0);
  let current: LeaseObject | undefined;
  let lastHolder = '';

  for (;;) {
    if (opts.signal?.aborted)
      throw new Error(`waiting for Lease ${opts.namespace}/${opts.name} was interrupted`);
    let existing: LeaseObject | undefined;
    try {
      existing = await api.json<LeaseObject>('GET', one);
    } catch (err) {
      if (!isNotFound(err)) throw err;
    }
    const t = now();
    const spec = {
      holderIdentity: opts.holder,
      leaseDurationSeconds: duration,
      acquireTime: MICRO(t),
      renewTime: MICRO(t),
    };
    try {
      if (existing === undefined) {
        current = await api.json<LeaseObject>('POST', path, {
          body: {
            apiVersion: 'coordination.k8s.io/v1',
            kind: 'Lease',
            metadata: { name: opts.name, namespace: opts.namespace },
            spec: { ...spec, leaseTransitions: 0 },
          },
        });
        break;
      }
      if (leaseFree(existing, opts.holder, t)) {
        const transitions =
          (existing.spec?.leaseTransitions ?? 0) + (existing.spec?.holderIdentity === opts.holder ? 0 : 1);
        current = await api.json<LeaseObject>('PUT', one, {
          body: { ...existing, spec: { ...existing.spec, ...spec, leaseTransitions: transitions } },
        });
        break;
      }
      lastHolder = existing.spec?.holderIdentity ?? '';
    } catch (err) {
      // Someone else created or changed it between our read and write: read again.
      if (statusOf(err) !== 409) throw err;
    }
    if (now() >= deadline) {
      const since = existing?.spec?.acquireTime ? ` since ${existing.spec.acquireTime}` : '';
      throw new LeaseBusyError(
        `Lease ${opts.namespace}/${opts.name} is held by ${lastHolder || 'another holder'}${since}: another update is running; ` +
          'wait for it or raise --lock-timeout',
        lastHolder,
      );
    }
    await sleep(Math.min(1000, Math.max(50, deadline - now())), opts.signal);
  }

  const lost = new AbortController();
  const stop = new AbortController();
  let held = current as LeaseObject;
  const renewing = (async () => {
    while (!stop.signal.aborted && !lost.signal.aborted) {
      await sleep((duration * 1000) / 3, stop.signal);
      if (stop.signal.aborted) return;
      try {
        held = await api.json<LeaseObject>('PUT', one, {
          body: { ...held, spec: { ...held.spec, holderIdentity: opts.holder, renewTime: MICRO(now()) } },
        });
      } catch (err) {
        // A conflict means someone else wrote it: it is no longer ours. Anything else: try again next period,
        // unless the Lease has expired meanwhile.
        const expired = Date.parse(held.spec?.renewTime ?? '') + duration * 1000 < now();
        if (statusOf(err) === 409 || expired)
          lost.abort(new Error(`Lease ${opts.namespace}/${opts.name} was lost`));
      }
    }
  })();

  return {
    lost: lost.signal,
    async release() {
      stop.abort();
      await renewing;
      if (lost.signal.aborted) return;
      try {
        await api.json<LeaseObject>('PUT', one, {
          body: {
            ...held,
            spec: { ...held.spec, holderIdentity: null, leaseDurationSeconds: 1, renewTime: MICRO(now()) },
          },
        });
      } catch {
        // It expires by itself after leaseDurationSeconds.
      }
    },
  };
}
