// The annotation vocabulary the updater honours: one prefix, few keys, each defined only here.

export const ANNOTATION_PREFIX = 'k8s-auto-updater.io/';

export const ANNOTATIONS = {
  /**
   * On a pod or its workload (Deployment, StatefulSet, DaemonSet, ReplicaSet): "true" opts in (needed when the
   * updater runs with --opt-in), "false" opts out and always wins, whatever the mode.
   */
  enabled: `${ANNOTATION_PREFIX}enabled`,
} as const;

/** Kubernetes' own annotation marking a mirror (static) pod. */
export const MIRROR_POD_ANNOTATION = 'kubernetes.io/config.mirror';
