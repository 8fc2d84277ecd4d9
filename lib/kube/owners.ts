// Resolves which controller recreates a pod (its controller ownerReference) and the top-level workload above it
// (a ReplicaSet's Deployment), for grouping restarts and for messages and events.

import type { V1OwnerReference, V1Pod, V1ReplicaSet } from '@kubernetes/client-node';
import type { WorkloadRef } from '../plan/types.ts';
import { apiStatus, type OwnerReader } from './api.ts';

/** The minimal logger this module writes to. */
export interface DebugLog {
  debug(obj: object, msg?: string): void;
}

/** ReplicaSet lookups shared across pods: one GET per ReplicaSet per run, concurrent callers share it. */
export type ReplicaSetCache = Map<string, Promise<V1ReplicaSet | undefined>>;

/** The pod's controller ownerReference, if any (a bare pod has none). */
export function controllerOf(pod: V1Pod): V1OwnerReference | undefined {
  return pod.metadata?.ownerReferences?.find((o) => o.controller === true);
}

/**
 * The controller that recreates the pod and its top-level workload. Undefined for a bare pod. Never rejects: when
 * the ReplicaSet cannot be read, the controller is returned without `top`.
 */
export async function resolveWorkload(
  pod: V1Pod,
  api: OwnerReader,
  cache: ReplicaSetCache = new Map(),
  log?: DebugLog,
): Promise<WorkloadRef | undefined> {
  const owner = controllerOf(pod);
  if (!owner) return undefined;
  const namespace = pod.metadata?.namespace ?? 'default';
  const ref: WorkloadRef = { kind: owner.kind, name: owner.name, namespace, uid: owner.uid };
  if (owner.kind !== 'ReplicaSet' || !owner.apiVersion.startsWith('apps/')) {
    return { ...ref, top: { kind: owner.kind, name: owner.name, uid: owner.uid } };
  }
  const key = `${namespace}/${owner.name}`;
  let rs = cache.get(key);
  if (!rs) {
    rs = api.readNamespacedReplicaSet({ namespace, name: owner.name }).then(
      (value) => value,
      (err: unknown) => {
        log?.debug(
          { replicaset: key, status: apiStatus(err).code },
          `cannot read ReplicaSet ${key}: owner left unresolved`,
        );
        return undefined;
      },
    );
    cache.set(key, rs);
  }
  const found = await rs;
  if (!found) return ref;
  // A ReplicaSet may have been re-created with the same name: only trust it when the uid matches.
  if (found.metadata?.uid && found.metadata.uid !== owner.uid) return ref;
  const deployment = found.metadata?.ownerReferences?.find(
    (o) => o.controller === true && o.kind === 'Deployment',
  );
  if (deployment) return { ...ref, top: { kind: 'Deployment', name: deployment.name, uid: deployment.uid } };
  return { ...ref, top: { kind: owner.kind, name: owner.name, uid: owner.uid } };
}

/** A resolver with its own ReplicaSet cache, for one run. */
export function createWorkloadResolver(
  api: OwnerReader,
  log?: DebugLog,
): (pod: V1Pod) => Promise<WorkloadRef | undefined> {
  const cache: ReplicaSetCache = new Map();
  return (pod) => resolveWorkload(pod, api, cache, log);
}
