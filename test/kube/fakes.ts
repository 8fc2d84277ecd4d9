// Test helpers for the Kubernetes-access and restarter tests: API errors of the class the production transport
// throws (ApiHttpError, lib/kube/rest.ts), a fake clock, and pod builders.

import type { V1Pod } from '@kubernetes/client-node';
import type { Clock } from '../../lib/apply/clock.ts';
import { ApiHttpError } from '../../lib/kube/rest.ts';

/**
 * An ApiHttpError as lib/kube/rest.ts throws it: the raw JSON Status body as a string, lower-case header names.
 * `causes` get the reason DisruptionBudget, as the eviction subresource gives them.
 */
export function apiError(
  code: number,
  message: string,
  extra: {
    reason?: string;
    causes?: string[];
    headers?: Record<string, string>;
    retryAfterSeconds?: number;
  } = {},
): ApiHttpError {
  const status = {
    kind: 'Status',
    apiVersion: 'v1',
    status: 'Failure',
    message,
    reason: extra.reason ?? 'Unknown',
    code,
    details: {
      ...(extra.causes
        ? { causes: extra.causes.map((m) => ({ reason: 'DisruptionBudget', message: m })) }
        : {}),
      ...(extra.retryAfterSeconds ? { retryAfterSeconds: extra.retryAfterSeconds } : {}),
    },
  };
  const headers: Record<string, string> = {};
  for (const [k, v] of Object.entries(extra.headers ?? {})) headers[k.toLowerCase()] = v;
  return new ApiHttpError(code, JSON.stringify(status), headers, 'POST /api/v1/fake');
}

/** A 429 as API priority and fairness sends it: plain text, a Retry-After header, no Status, no cause. */
export function apfRejection(retryAfterSeconds = 1): ApiHttpError {
  return new ApiHttpError(
    429,
    'Too many requests, please try again later.\n',
    { 'retry-after': String(retryAfterSeconds), 'content-type': 'text/plain; charset=utf-8' },
    'POST /api/v1/fake',
  );
}

/** A network failure as rest.ts reports it: an Error with a string errno. */
export function networkFailure(code = 'ECONNRESET'): Error {
  return Object.assign(new Error(`socket hang up (${code})`), { code });
}

/** A clock whose sleeps advance time at once (after yielding to other tasks), recording each requested wait. */
export function fakeClock(start = 1_000_000): Clock & { sleeps: number[]; advance(ms: number): void } {
  let t = start;
  const sleeps: number[] = [];
  return {
    sleeps,
    now: () => t,
    advance(ms) {
      t += ms;
    },
    async sleep(ms, signal) {
      sleeps.push(ms);
      if (!signal?.aborted) t += ms;
      await new Promise((r) => setImmediate(r));
    },
  };
}

export interface PodSpec {
  name: string;
  namespace?: string;
  uid?: string;
  owner?: { kind: string; name: string; uid: string; apiVersion?: string };
  labels?: Record<string, string>;
  ready?: boolean;
  nodeName?: string;
  containers?: { name: string; imageID?: string; restartCount?: number; waiting?: string }[];
  created?: string;
  serviceAccountName?: string;
  imagePullSecrets?: string[];
}

/** A V1Pod with just the fields the code reads. */
export function pod(s: PodSpec): V1Pod {
  const containers = s.containers ?? [{ name: 'app' }];
  return {
    metadata: {
      name: s.name,
      namespace: s.namespace ?? 'default',
      uid: s.uid ?? `uid-${s.name}`,
      labels: s.labels ?? {},
      creationTimestamp: new Date(s.created ?? '2026-01-01T00:00:00Z'),
      ...(s.owner
        ? {
            ownerReferences: [
              {
                apiVersion: s.owner.apiVersion ?? 'apps/v1',
                kind: s.owner.kind,
                name: s.owner.name,
                uid: s.owner.uid,
                controller: true,
              },
            ],
          }
        : {}),
    },
    spec: {
      containers: containers.map((c) => ({ name: c.name, image: `registry.example/${c.name}:latest` })),
      ...(s.nodeName ? { nodeName: s.nodeName } : {}),
      ...(s.serviceAccountName ? { serviceAccountName: s.serviceAccountName } : {}),
      ...(s.imagePullSecrets ? { imagePullSecrets: s.imagePullSecrets.map((name) => ({ name })) } : {}),
    },
    status: {
      phase: 'Running',
      conditions: [{ type: 'Ready', status: s.ready === false ? 'False' : 'True' }],
      containerStatuses: containers.map((c) => ({
        name: c.name,
        image: `registry.example/${c.name}:latest`,
        imageID: c.imageID ?? '',
        ready: s.ready !== false,
        restartCount: c.restartCount ?? 0,
        ...(c.waiting ? { state: { waiting: { reason: c.waiting } } } : { state: { running: {} } }),
      })),
    },
  };
}

/** `sha256:` + 64 hex chars built from a short seed, so tests can write digest('old'), digest('new'). */
export function digest(seed: string): string {
  const hex = Buffer.from(seed).toString('hex');
  return `sha256:${hex.padEnd(64, '0').slice(0, 64)}`;
}
