// Resolves, for each pod, the controller that recreates it and the top-level workload above it (a ReplicaSet's
// Deployment), and reads both objects' annotations (opt-in/opt-out). Each object is read at most once per run.
// An object that cannot be read maps to null: the planner keeps its pods (it cannot know whether they opted out).

import type { V1ObjectMeta, V1Pod } from '@kubernetes/client-node';
import type { WorkloadRef } from '../model/plan.ts';
import { mapLimit } from '../shared/concurrency.ts';
import { type AppsApi, apiStatus } from './api.ts';

/** The workload reads of AppsApi; ReplicationControllers are optional (read only when the client has them). */
export type WorkloadReader = Omit<AppsApi, 'readNamespacedReplicationController'> &
  Partial<Pick<AppsApi, 'readNamespacedReplicationController'>>;

export interface ResolvedWorkloads {
  /** Workload of each pod with a controller, by pod uid. */
  refs: Map<string, WorkloadRef>;
  /** Annotations of each controller and top-level workload by uid; null when the object could not be read. */
  annotations: Map<string, Record<string, string> | null>;
  /** One line per object that could not be read. */
  warnings: string[];
}

interface DebugLog {
  debug(obj: object, msg?: string): void;
}

type Read = (namespace: string, name: string) => Promise<{ metadata?: V1ObjectMeta }>;

/** Reads every distinct owner of the pods with bounded concurrency; never rejects. */
export async function resolveWorkloads(
  pods: readonly V1Pod[],
  api: WorkloadReader,
  opts: { concurrency?: number; log?: DebugLog } = {},
): Promise<ResolvedWorkloads> {
  const readers: Record<string, Read | undefined> = {
    ReplicaSet: (namespace, name) => api.readNamespacedReplicaSet({ namespace, name }),
    Deployment: (namespace, name) => api.readNamespacedDeployment({ namespace, name }),
    StatefulSet: (namespace, name) => api.readNamespacedStatefulSet({ namespace, name }),
    DaemonSet: (namespace, name) => api.readNamespacedDaemonSet({ namespace, name }),
    ReplicationController: api.readNamespacedReplicationController
      ? (namespace, name) => api.readNamespacedReplicationController!({ namespace, name })
      : undefined,
  };
  const cache = new Map<string, Promise<V1ObjectMeta | null>>();
  const warnings: string[] = [];
  const annotations = new Map<string, Record<string, string> | null>();

  const meta = (kind: string, namespace: string, name: string, uid: string): Promise<V1ObjectMeta | null> => {
    const key = `${kind}/${namespace}/${name}`;
    let p = cache.get(key);
    if (!p) {
      const read = readers[kind];
      p = read
        ? read(namespace, name).then(
            (o) => {
              // An object re-created under the same name is not the pod's owner.
              if (o.metadata?.uid && o.metadata.uid !== uid) {
                warnings.push(
                  `${kind} ${namespace}/${name} was replaced (uid changed): its pods are kept this run`,
                );
                return null;
              }
              return o.metadata ?? {};
            },
            (err: unknown) => {
              const code = apiStatus(err).code;
              opts.log?.debug({ object: key, status: code }, `cannot read ${kind} ${namespace}/${name}`);
              warnings.push(
                `cannot read ${kind} ${namespace}/${name} (HTTP ${code ?? 'error'}): its pods are kept this run`,
              );
              return null;
            },
          )
        : Promise.resolve({});
      cache.set(key, p);
    }
    return p;
  };

  // One WorkloadRef per controller, shared by its pods.
  const byOwner = new Map<string, Promise<WorkloadRef>>();
  const refFor = (kind: string, name: string, namespace: string, uid: string): Promise<WorkloadRef> => {
    let p = byOwner.get(uid);
    if (!p) {
      p = (async () => {
        const ref: WorkloadRef = { kind, name, namespace, uid };
        const m = await meta(kind, namespace, name, uid);
        annotations.set(uid, m === null ? null : (m.annotations ?? {}));
        const dep =
          kind === 'ReplicaSet'
            ? m?.ownerReferences?.find((o) => o.controller === true && o.kind === 'Deployment')
            : undefined;
        if (dep) {
          const dm = await meta('Deployment', namespace, dep.name, dep.uid);
          annotations.set(dep.uid, dm === null ? null : (dm.annotations ?? {}));
          ref.top = { kind: 'Deployment', name: dep.name, uid: dep.uid };
        }
        return ref;
      })();
      byOwner.set(uid, p);
    }
    return p;
  };

  const refs = new Map<string, WorkloadRef>();
  await mapLimit(pods, opts.concurrency ?? 16, async (pod) => {
    const owner = pod.metadata?.ownerReferences?.find((o) => o.controller === true);
    const podUid = pod.metadata?.uid;
    if (!owner || !podUid || !(owner.kind in readers)) return;
    refs.set(podUid, await refFor(owner.kind, owner.name, pod.metadata?.namespace ?? 'default', owner.uid));
  });
  return { refs, annotations, warnings: [...new Set(warnings)] };
}
