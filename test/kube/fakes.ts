// Test helpers for the Kubernetes-access and restarter tests: API errors shaped like client-node's, a fake clock,
// and pod builders.

import { ApiException, type V1Pod } from '@kubernetes/client-node';
import type { Clock } from '../../lib/apply/clock.ts';

/** An ApiException as client-node 2.x throws it: raw JSON Status body as a string, lower-case headers. */
export function apiError(
  code: number,
  message: string,
  extra: {
    reason?: string;
    causes?: string[];
    headers?: Record<string, string>;
    retryAfterSeconds?: number;
  } = {},
): ApiException<string> {
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
  return new ApiException(code, 'Unknown API Status Code!', JSON.stringify(status), extra.headers ?? {});
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
