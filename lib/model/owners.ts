// Owner references: which object controls another (a pod's ReplicaSet, a ReplicaSet's Deployment, a Job's CronJob).
// One rule everywhere, as the API machinery's GetControllerOf: the reference with controller: true, never the first.

/** The fields of an OwnerReference this code reads (client-node's V1OwnerReference satisfies it). */
export interface OwnerReferenceLike {
  kind: string;
  name: string;
  uid: string;
  controller?: boolean;
  apiVersion?: string;
}

/** The object's controller owner reference (controller: true); undefined for an object nothing controls. */
export function controllerOf<R extends OwnerReferenceLike>(
  obj: { metadata?: { ownerReferences?: readonly R[] } } | undefined,
): R | undefined {
  return obj?.metadata?.ownerReferences?.find((r) => r.controller === true);
}
