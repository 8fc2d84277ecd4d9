// Scripted pod behaviour for the simulated kubelet: the sim annotations, the behaviour hook, and the environment
// handed to execute hooks.

import type { KObject } from '../store.ts';
import { RUNTIME_ANNOTATION } from './nodes.ts';
import type { PodRun } from './pod-run.ts';

/** Pod annotations that script the simulated containers (the `behaviour` hook can do the same). */
export const SIM_ANNOTATIONS = {
  /** "true" (all containers) or a comma-separated list of container names that crash after starting. */
  crashLoop: 'sim.k8s-auto-updater.io/crash-loop',
  /** "true": containers run but never become ready. */
  neverReady: 'sim.k8s-auto-updater.io/never-ready',
  /** Milliseconds from start to Ready. */
  readyDelayMs: 'sim.k8s-auto-updater.io/ready-delay-ms',
  /** Exit code of run-to-completion containers (restartPolicy Never/OnFailure). */
  exitCode: 'sim.k8s-auto-updater.io/exit-code',
  /** The imageID format for this pod (overrides the node's). */
  runtime: RUNTIME_ANNOTATION,
} as const;

export interface PodBehaviour {
  /** true: every container crash-loops; a list: only those containers. */
  crashLoop?: boolean | string[];
  readyDelayMs?: number;
  neverReady?: boolean;
}

/** How a pod's containers should misbehave: the behaviour hook merged with the pod's sim annotations. */
export function podBehaviour(
  pod: KObject,
  hook: ((pod: KObject) => PodBehaviour | undefined) | undefined,
  defaultReadyDelayMs: number,
): {
  crash: (name: string) => boolean;
  neverReady: boolean;
  readyDelayMs: number;
} {
  const b = hook?.(pod) ?? {};
  const ann: Record<string, string> = pod.metadata.annotations ?? {};
  const crashAnn = ann[SIM_ANNOTATIONS.crashLoop];
  const crashList = Array.isArray(b.crashLoop)
    ? b.crashLoop
    : crashAnn && crashAnn !== 'true' && crashAnn !== 'false'
      ? crashAnn.split(',').map((s) => s.trim())
      : undefined;
  const crashAll = b.crashLoop === true || crashAnn === 'true';
  const delayAnn = Number(ann[SIM_ANNOTATIONS.readyDelayMs]);
  return {
    crash: (name) => crashAll || (crashList?.includes(name) ?? false),
    neverReady: !!b.neverReady || ann[SIM_ANNOTATIONS.neverReady] === 'true',
    readyDelayMs:
      b.readyDelayMs ??
      (Number.isFinite(delayAnn) && ann[SIM_ANNOTATIONS.readyDelayMs] ? delayAnn : defaultReadyDelayMs),
  };
}

/** The environment a run-to-completion container gets (literal values and the common fieldRefs). */
export function containerEnv(
  pod: KObject,
  c: KObject,
  run: Pick<PodRun, 'node' | 'podIP' | 'hostIP'>,
): Record<string, string> {
  const env: Record<string, string> = {};
  for (const e of c.env ?? []) {
    if (typeof e.value === 'string') env[e.name] = e.value;
    const f = e.valueFrom?.fieldRef?.fieldPath;
    if (f) {
      const v: Record<string, string | undefined> = {
        'metadata.name': pod.metadata.name,
        'metadata.namespace': pod.metadata.namespace,
        'metadata.uid': pod.metadata.uid,
        'spec.nodeName': run.node,
        'status.podIP': run.podIP,
        'status.hostIP': run.hostIP,
      };
      if (v[f] !== undefined) env[e.name] = v[f]!;
    }
  }
  return env;
}
