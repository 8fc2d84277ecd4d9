// Records core/v1 Events on workloads so `kubectl describe` shows what the updater did and why it stopped.

import { hostname } from 'node:os';
import type { CoreV1Event } from '@kubernetes/client-node';
import { apiStatus, type EventWriter } from './api.ts';

export const EVENT_COMPONENT = 'k8s-auto-updater';

// The API server rejects very long event messages on the events.k8s.io API; keep ours well inside that.
const MAX_MESSAGE = 1024;

export interface EventInput {
  involved: { kind: string; name: string; namespace: string; uid?: string; apiVersion: string };
  reason: string;
  message: string;
  type: 'Normal' | 'Warning';
  /** Which updater instance reported it (defaults to the host name, which in a pod is the pod name). */
  reportingInstance?: string;
}

/** The minimal logger this module writes to. */
export interface WarnLog {
  warn(obj: object, msg?: string): void;
}

/** Builds the Event object (exported for tests and for printing in dry runs). */
export function buildEvent(input: EventInput, now: Date = new Date()): CoreV1Event {
  const instance = input.reportingInstance ?? hostname();
  const message =
    input.message.length > MAX_MESSAGE ? `${input.message.slice(0, MAX_MESSAGE - 1)}…` : input.message;
  return {
    apiVersion: 'v1',
    kind: 'Event',
    metadata: { generateName: `${input.involved.name}.`, namespace: input.involved.namespace },
    involvedObject: {
      apiVersion: input.involved.apiVersion,
      kind: input.involved.kind,
      name: input.involved.name,
      namespace: input.involved.namespace,
      ...(input.involved.uid ? { uid: input.involved.uid } : {}),
    },
    reason: input.reason,
    message,
    type: input.type,
    count: 1,
    // eventTime is left out: it is a MicroTime and needs exactly six fractional digits, which Date cannot give.
    firstTimestamp: now,
    lastTimestamp: now,
    source: { component: EVENT_COMPONENT },
    reportingComponent: EVENT_COMPONENT,
    reportingInstance: instance,
  };
}

/** Creates the Event; a failure (RBAC, API down) is logged and swallowed: events never fail a run. */
export async function recordEvent(api: EventWriter, input: EventInput, log?: WarnLog): Promise<boolean> {
  const body = buildEvent(input);
  try {
    await api.createNamespacedEvent({ namespace: input.involved.namespace, body });
    return true;
  } catch (err) {
    const s = apiStatus(err);
    log?.warn(
      {
        event: input.reason,
        involved: `${input.involved.kind}/${input.involved.namespace}/${input.involved.name}`,
        status: s.code,
      },
      `could not record event ${input.reason} on ${input.involved.kind} ${input.involved.namespace}/${input.involved.name}: ${s.message}`,
    );
    return false;
  }
}

/** The apiVersion of the workload kinds that own pods. */
export function apiVersionForKind(kind: string): string {
  switch (kind) {
    case 'Deployment':
    case 'ReplicaSet':
    case 'StatefulSet':
    case 'DaemonSet':
      return 'apps/v1';
    case 'Job':
    case 'CronJob':
      return 'batch/v1';
    default:
      return 'v1';
  }
}
