// Judges the pods of a workload after an eviction: has a replacement come up Ready on an accepted digest, or did it
// come back on the old digest or start crash-looping (the loop guards)? Pure: no I/O.

import type { V1ContainerStatus, V1Pod } from '@kubernetes/client-node';
import { runningDigest } from '../image/image-id.ts';
import { controllerOf } from '../model/owners.ts';
import type { PodPlan } from '../model/plan.ts';
import { isReady } from '../model/pod.ts';

/** Labels that differ between a pod and its replacement (or change with the template) and so must not select it. */
const VOLATILE_LABELS = new Set([
  'pod-template-hash',
  'controller-revision-hash',
  'pod-template-generation',
  'statefulset.kubernetes.io/pod-name',
  'apps.kubernetes.io/pod-index',
]);

/** A label selector that matches the pod's siblings and replacement; undefined when the pod has no stable labels. */
export function replacementSelector(labels: Record<string, string> | undefined): string | undefined {
  const parts = Object.entries(labels ?? {})
    .filter(([k]) => !VOLATILE_LABELS.has(k))
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([k, v]) => `${k}=${v}`);
  return parts.length > 0 ? parts.join(',') : undefined;
}

export interface ContainerChange {
  name: string;
  from: string | undefined;
  to: string | undefined;
  /** accepted: a digest the plan expected; old: still the digest it ran before; other: a digest the plan did not expect; unknown: imageID has no repo digest. */
  kind: 'accepted' | 'old' | 'other' | 'unknown';
}

export type Assessment =
  | { state: 'waiting'; seen: string[] }
  | { state: 'restarted'; replacement: string; changes: ContainerChange[] }
  | { state: 'same-digest'; replacement: string; changes: ContainerChange[] }
  | { state: 'crash-loop'; replacement: string; detail: string };

export interface AssessInput {
  /** The evicted pod as planned (stale containers with their running and accepted digests). */
  plan: PodPlan;
  /** uids of the controller's pods before the eviction, including the evicted pod. */
  before: ReadonlySet<string>;
  /** Container restarts after which a replacement counts as crash-looping. */
  crashLoopRestarts: number;
}

/** Finds the replacement among the namespace's pods and says whether it succeeded, failed a loop guard, or is pending. */
export function assessReplacement(pods: Iterable<V1Pod>, input: AssessInput): Assessment {
  const candidates = [...pods].filter((p) => isReplacement(p, input)).sort(byAge);
  let crash: Assessment | undefined;
  let same: Assessment | undefined;
  for (const p of candidates) {
    const name = p.metadata?.name ?? '?';
    const crashing = crashDetail(p, input.crashLoopRestarts);
    if (isReady(p)) {
      const changes = containerChanges(p, input.plan);
      if (!changes.some((c) => c.kind === 'old')) return { state: 'restarted', replacement: name, changes };
      same ??= { state: 'same-digest', replacement: name, changes };
    } else if (crashing) {
      crash ??= { state: 'crash-loop', replacement: name, detail: crashing };
    }
  }
  return crash ?? same ?? { state: 'waiting', seen: candidates.map((p) => p.metadata?.name ?? '?') };
}

function isReplacement(p: V1Pod, input: AssessInput): boolean {
  const workload = input.plan.workload;
  if (!workload) return false;
  const uid = p.metadata?.uid;
  if (!uid || input.before.has(uid) || p.metadata?.deletionTimestamp) return false;
  const owner = controllerOf(p);
  if (owner?.uid !== workload.uid) return false;
  // A StatefulSet recreates the same identity; a DaemonSet recreates on the same node.
  if (workload.kind === 'StatefulSet' && p.metadata?.name !== input.plan.name) return false;
  if (workload.kind === 'DaemonSet' && input.plan.nodeName) {
    const node = nodeOf(p);
    if (node !== undefined && node !== input.plan.nodeName) return false;
  }
  return true;
}

// Before it is bound, a DaemonSet pod names its node only in a required node-affinity on metadata.name.
function nodeOf(p: V1Pod): string | undefined {
  if (p.spec?.nodeName) return p.spec.nodeName;
  const terms =
    p.spec?.affinity?.nodeAffinity?.requiredDuringSchedulingIgnoredDuringExecution?.nodeSelectorTerms ?? [];
  for (const term of terms) {
    for (const f of term.matchFields ?? []) {
      if (f.key === 'metadata.name' && f.operator === 'In' && f.values?.length === 1) return f.values[0];
    }
  }
  return undefined;
}

function byAge(a: V1Pod, b: V1Pod): number {
  const ta = new Date(a.metadata?.creationTimestamp ?? 0).getTime();
  const tb = new Date(b.metadata?.creationTimestamp ?? 0).getTime();
  if (ta !== tb) return ta - tb;
  return (a.metadata?.name ?? '').localeCompare(b.metadata?.name ?? '');
}

function allStatuses(p: V1Pod): V1ContainerStatus[] {
  return [...(p.status?.initContainerStatuses ?? []), ...(p.status?.containerStatuses ?? [])];
}

function crashDetail(p: V1Pod, threshold: number): string | undefined {
  for (const s of allStatuses(p)) {
    if (s.state?.waiting?.reason === 'CrashLoopBackOff') {
      return `container ${s.name} is in CrashLoopBackOff after ${s.restartCount} restart(s)`;
    }
    if (s.restartCount >= threshold) return `container ${s.name} restarted ${s.restartCount} times`;
  }
  return undefined;
}

// Statuses are matched to the planned containers by name, never by position.
function containerChanges(p: V1Pod, plan: PodPlan): ContainerChange[] {
  return plan.containers
    .filter((c) => c.verdict === 'stale')
    .map((c) => {
      const statuses = c.init ? p.status?.initContainerStatuses : p.status?.containerStatuses;
      const status = statuses?.find((s) => s.name === c.name);
      const to = status?.imageID ? runningDigest(status.imageID) : undefined;
      let kind: ContainerChange['kind'];
      if (to === undefined) kind = 'unknown';
      else if (c.acceptedDigests?.includes(to) || to === c.currentDigest) kind = 'accepted';
      else if (to === c.runningDigest) kind = 'old';
      else kind = 'other';
      return { name: c.name, from: c.runningDigest, to, kind };
    });
}
