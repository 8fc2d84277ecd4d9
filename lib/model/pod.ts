// Pod facts shared by the planner (is this pod safe to judge?) and the restarter (is its replacement healthy?).

/** The status fields isReady reads (client-node's V1Pod and the planner's ObservedPod satisfy it). */
export interface PodWithConditions {
  status?: { conditions?: ReadonlyArray<{ type: string; status: string }> };
}

/** True when the pod's Ready condition is True (as the kubelet reports it; anything else is not Ready). */
export function isReady(pod: PodWithConditions | undefined): boolean {
  return pod?.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ?? false;
}
