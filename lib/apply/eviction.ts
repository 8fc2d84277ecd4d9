// Evicts one pod through the Eviction API, retrying while a PodDisruptionBudget refuses (429) up to a deadline,
// the way `kubectl drain` does. It never deletes a pod: a refused eviction is reported, not forced.

import type { V1Eviction } from '@kubernetes/client-node';
import { apiStatus, type Evicter } from '../kube/api.ts';
import { type Clock, realClock } from './clock.ts';

export type EvictionResult =
  | { ok: true /** The pod was gone already (404). */; alreadyGone: boolean; attempts: number }
  | {
      ok: false;
      outcome: 'pdb-blocked' | 'eviction-failed' | 'interrupted';
      message: string;
      attempts: number;
      /** HTTP status of the last refusal, when there was an answer. */
      status?: number;
    };

export interface EvictOptions {
  /** How long to keep retrying a PDB-blocked eviction, from the first attempt. */
  deadlineMs: number;
  /** Wait between attempts when the server gives no Retry-After (kubectl drain uses 5 s). */
  retryIntervalMs?: number;
  /** Aborting stops retrying: the result is `interrupted` unless the pod was already evicted. */
  signal?: AbortSignal;
  clock?: Clock;
  /** Told about each refused attempt that will be retried. */
  onRetry?: (info: { attempt: number; status: number | undefined; message: string; waitMs: number }) => void;
}

// A lost connection gets a few more tries: the uid precondition makes a repeated POST harmless.
const MAX_NETWORK_RETRIES = 3;

/** Builds the policy/v1 Eviction; the uid precondition keeps it from hitting a newer pod that reuses the name. */
export function evictionBody(pod: { namespace: string; name: string; uid: string }): V1Eviction {
  return {
    apiVersion: 'policy/v1',
    kind: 'Eviction',
    metadata: { name: pod.name, namespace: pod.namespace },
    deleteOptions: { preconditions: { uid: pod.uid } },
  };
}

/**
 * POSTs an Eviction for the pod. 429 (a PDB blocks it) is retried, honouring Retry-After, until `deadlineMs`, then
 * `pdb-blocked`; 404 counts as done (already gone); 409 (the uid precondition) and any other refusal are
 * `eviction-failed` with the server's message. Never rejects, never falls back to DELETE.
 */
export async function evictPod(
  api: Evicter,
  pod: { namespace: string; name: string; uid: string },
  opts: EvictOptions,
): Promise<EvictionResult> {
  const clock = opts.clock ?? realClock;
  const interval = opts.retryIntervalMs ?? 5000;
  const deadline = clock.now() + opts.deadlineMs;
  const body = evictionBody(pod);
  const id = `${pod.namespace}/${pod.name}`;
  let attempts = 0;
  let networkFailures = 0;
  for (;;) {
    if (opts.signal?.aborted) {
      return {
        ok: false,
        outcome: 'interrupted',
        message: `interrupted before pod ${id} could be evicted`,
        attempts,
      };
    }
    attempts++;
    let waitMs: number;
    let lastMessage: string;
    try {
      await api.createNamespacedPodEviction({ namespace: pod.namespace, name: pod.name, body });
      return { ok: true, alreadyGone: false, attempts };
    } catch (err) {
      const s = apiStatus(err);
      const detail = [s.message, ...s.causes].join(' ');
      if (s.code === 404) return { ok: true, alreadyGone: true, attempts };
      if (s.code === 409) {
        return {
          ok: false,
          outcome: 'eviction-failed',
          message: `pod ${id} was replaced already (uid ${pod.uid} no longer matches): not evicted`,
          attempts,
          status: 409,
        };
      }
      if (s.code === 429) {
        lastMessage = detail;
        waitMs = s.retryAfterSeconds !== undefined ? s.retryAfterSeconds * 1000 : interval;
        if (clock.now() >= deadline) {
          return {
            ok: false,
            outcome: 'pdb-blocked',
            message: `eviction of pod ${id} still refused after ${attempts} attempt(s): ${lastMessage}`,
            attempts,
            status: 429,
          };
        }
      } else if (s.code === undefined && networkFailures < MAX_NETWORK_RETRIES && clock.now() < deadline) {
        networkFailures++;
        lastMessage = detail;
        waitMs = Math.min(interval, 1000 * 2 ** networkFailures);
      } else {
        const hint = s.code === 403 ? ' (grant the updater "create" on pods/eviction)' : '';
        const how = s.code === undefined ? 'no answer from the API server' : `HTTP ${s.code}`;
        return {
          ok: false,
          outcome: 'eviction-failed',
          message: `eviction of pod ${id} failed (${how}): ${detail}${hint}`,
          attempts,
          ...(s.code !== undefined ? { status: s.code } : {}),
        };
      }
      waitMs = Math.max(0, Math.min(waitMs, deadline - clock.now()));
      opts.onRetry?.({ attempt: attempts, status: s.code, message: lastMessage, waitMs });
    }
    await clock.sleep(waitMs, opts.signal);
  }
}
