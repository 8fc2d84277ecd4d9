// The pure planner: from observed pods, their workloads and what each tag points to now, decide for every pod and
// container whether it is current, stale or skipped, and why. No I/O: the same input always gives the same plan.

import { parseImageID } from '../image/image-id.ts';
import { type ImageReference, parseImageReference } from '../image/reference.ts';
import { ANNOTATIONS, MIRROR_POD_ANNOTATION } from '../model/annotations.ts';
import { type Candidate, candidateKey, type TagState } from '../model/candidate.ts';
import {
  type ContainerPlan,
  type Plan,
  type PodPlan,
  type Reason,
  TAG_FAILURE_REASONS,
  type Verdict,
  type WorkloadRef,
} from '../model/plan.ts';

// Moved to lib/model/candidate.ts (digest sources need them without importing the planner); re-exported for callers.
export { type Candidate, candidateKey, type TagState } from '../model/candidate.ts';

/** The parts of a V1Pod the planner reads (client-node's V1Pod satisfies it). */
export interface ObservedPod {
  metadata?: {
    name?: string;
    namespace?: string;
    uid?: string;
    deletionTimestamp?: Date | string;
    annotations?: { [key: string]: string };
    ownerReferences?: Array<{
      kind: string;
      name: string;
      uid: string;
      controller?: boolean;
      apiVersion?: string;
    }>;
  };
  spec?: {
    nodeName?: string;
    containers: ObservedContainer[];
    initContainers?: ObservedContainer[];
  };
  status?: {
    phase?: string;
    conditions?: Array<{ type: string; status: string }>;
    containerStatuses?: ObservedContainerStatus[];
    initContainerStatuses?: ObservedContainerStatus[];
  };
}

export interface ObservedContainer {
  name: string;
  image?: string;
  imagePullPolicy?: string;
}

export interface ObservedContainerStatus {
  name: string;
  imageID?: string;
}

export interface PlanContext {
  /** Only pods (or their workloads) annotated enabled=true are considered. */
  optIn: boolean;
  /** The updater's own pod, skipped always. */
  self?: { namespace: string; name: string };
  /** Resolved workloads by pod uid; pods missing here fall back to their controller ownerReference. */
  workloads?: ReadonlyMap<string, WorkloadRef>;
  /** Annotations of workload objects (controller and top-level) by object uid; null: the object could not be read. */
  workloadAnnotations?: ReadonlyMap<string, Readonly<Record<string, string>> | null>;
  /**
   * Docker mode only: a `docker://sha256:…` imageID (Docker's image ID, a config digest) may be compared with the
   * engine's image Id after a pull. In registry mode such IDs are never compared (unknown means keep).
   */
  compareConfigIds?: boolean;
  now: Date;
}

/** Controller kinds whose pods come back when evicted. */
const RECREATING_KINDS = new Set(['ReplicaSet', 'StatefulSet', 'DaemonSet', 'ReplicationController']);

const REGISTRY_FAILURES: ReadonlySet<Reason> = new Set(TAG_FAILURE_REASONS);

function podId(pod: ObservedPod): string {
  return `${pod.metadata?.namespace ?? ''}/${pod.metadata?.name ?? ''}`;
}

function controllerOf(pod: ObservedPod): { kind: string; name: string; uid: string } | undefined {
  return pod.metadata?.ownerReferences?.find((r) => r.controller === true);
}

function workloadOf(pod: ObservedPod, ctx: PlanContext): WorkloadRef | undefined {
  const known = ctx.workloads?.get(pod.metadata?.uid ?? '');
  if (known) return known;
  const c = controllerOf(pod);
  return c && { kind: c.kind, name: c.name, namespace: pod.metadata?.namespace ?? '', uid: c.uid };
}

/** The enabled annotation in force: the pod's, else the controller's, else the top-level workload's. "false" anywhere wins. */
function enabledState(
  pod: ObservedPod,
  wl: WorkloadRef | undefined,
  ctx: PlanContext,
): 'true' | 'false' | undefined {
  const values = [
    pod.metadata?.annotations?.[ANNOTATIONS.enabled],
    wl && ctx.workloadAnnotations?.get(wl.uid)?.[ANNOTATIONS.enabled],
    wl?.top?.uid !== undefined ? ctx.workloadAnnotations?.get(wl.top.uid)?.[ANNOTATIONS.enabled] : undefined,
  ].map((v) => v?.trim().toLowerCase());
  if (values.includes('false')) return 'false';
  if (values.includes('true')) return 'true';
  return undefined;
}

function isReady(pod: ObservedPod): boolean {
  return pod.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ?? false;
}

/** Pod-level reasons to keep a pod whatever its images say; undefined when the pod may be judged by its containers. */
function podSkip(
  pod: ObservedPod,
  wl: WorkloadRef | undefined,
  ctx: PlanContext,
): { reason: Reason; message: string } | undefined {
  const m = pod.metadata;
  if (m?.deletionTimestamp) return { reason: 'terminating', message: 'pod is terminating' };
  if (m?.annotations?.[MIRROR_POD_ANNOTATION] !== undefined) {
    return {
      reason: 'mirror-pod',
      message: 'static (mirror) pod: managed by the node, cannot be evicted meaningfully',
    };
  }
  if (ctx.self && m?.namespace === ctx.self.namespace && m?.name === ctx.self.name) {
    return { reason: 'self', message: "the updater's own pod" };
  }
  const unreadable = [wl?.uid, wl?.top?.uid].find(
    (uid) => uid !== undefined && ctx.workloadAnnotations?.get(uid) === null,
  );
  if (unreadable !== undefined) {
    return {
      reason: 'owner-unreadable',
      message: 'its workload could not be read, so its opt-out annotation is unknown',
    };
  }
  const enabled = enabledState(pod, wl, ctx);
  if (enabled === 'false')
    return { reason: 'opted-out', message: `opted out by annotation ${ANNOTATIONS.enabled}=false` };
  if (ctx.optIn && enabled !== 'true') {
    return {
      reason: 'not-opted-in',
      message: `opt-in mode: annotate the pod or its workload with ${ANNOTATIONS.enabled}=true to include it`,
    };
  }
  const c = controllerOf(pod);
  if (!c)
    return {
      reason: 'bare-pod',
      message: 'bare pod (no controller): an evicted bare pod would be gone forever',
    };
  if (c.kind === 'Job') {
    return {
      reason: 'job-pod',
      message: `owned by Job ${c.name}: eviction would count against its backoffLimit`,
    };
  }
  if (!RECREATING_KINDS.has(c.kind)) {
    return {
      reason: 'unsupported-owner',
      message: `controlled by ${c.kind} ${c.name}, which is not known to recreate evicted pods`,
    };
  }
  const phase = pod.status?.phase ?? 'Unknown';
  if (phase !== 'Running') return { reason: 'pending', message: `pod phase is ${phase}, not Running` };
  if (!isReady(pod))
    return { reason: 'not-ready', message: 'pod is not Ready: its replacement could not be judged healthy' };
  return undefined;
}

/** Kubernetes' default pull policy: Always for :latest or no tag, IfNotPresent otherwise. */
function effectivePullPolicy(c: ObservedContainer, ref: ImageReference): string {
  if (c.imagePullPolicy) return c.imagePullPolicy;
  return ref.tag === undefined || ref.tag === 'latest' ? 'Always' : 'IfNotPresent';
}

/** Parsed references by image string, per planning context: 5,000 pods usually share a few hundred images. */
const parsedRefs = new WeakMap<PlanContext, Map<string, ImageReference | Error>>();

function parseCached(image: string, ctx: PlanContext): ImageReference | Error {
  let cache = parsedRefs.get(ctx);
  if (!cache) {
    cache = new Map();
    parsedRefs.set(ctx, cache);
  }
  let r = cache.get(image);
  if (r === undefined) {
    try {
      r = parseImageReference(image);
    } catch (e) {
      r = e as Error;
    }
    cache.set(image, r);
  }
  return r;
}

/** The accepted digests of a tag state, built once per state and shared by every container judged against it. */
const acceptedOf = new WeakMap<TagState, string[]>();

type Assessed =
  | { final: ContainerPlan }
  | { candidate: Candidate; plan: Omit<ContainerPlan, 'verdict' | 'reason' | 'message'> };

function skipped(
  base: Omit<ContainerPlan, 'verdict' | 'reason' | 'message'>,
  reason: Reason,
  message: string,
): Assessed {
  return { final: { ...base, verdict: 'skipped', reason, message } };
}

/** Container-level checks that need no registry: either a final verdict or a candidate for resolution. */
function assessContainer(pod: ObservedPod, c: ObservedContainer, init: boolean, ctx: PlanContext): Assessed {
  const base = { name: c.name, init, image: c.image ?? '' };
  const ref = parseCached(c.image ?? '', ctx);
  if (ref instanceof Error) {
    return skipped(
      base,
      'invalid-image',
      `image "${c.image ?? ''}" is not a valid reference: ${ref.message}`,
    );
  }
  if (ref.digest) return skipped(base, 'digest-pinned', 'image is pinned by digest: it can never be stale');
  const statuses = init ? pod.status?.initContainerStatuses : pod.status?.containerStatuses;
  const status = statuses?.find((s) => s.name === c.name);
  if (!status?.imageID) return skipped(base, 'no-image-id', 'container has no imageID yet (not started)');
  const id = parseImageID(status.imageID);
  // Only Docker's own `docker://` form is an image ID the engine can confirm; a bare sha256 stays unknown.
  const dockerId = ctx.compareConfigIds && id.kind === 'config-id' && status.imageID.startsWith('docker://');
  if (id.kind !== 'repo-digest' && !dockerId) {
    return skipped(
      base,
      'no-repo-digest',
      `imageID "${status.imageID}" carries no manifest digest (locally built, loaded, or Docker without a repo digest): cannot compare`,
    );
  }
  const running = id.kind === 'repo-digest' ? { digest: id.digest } : { configId: (id as { id: string }).id };
  const withDigest = running.digest ? { ...base, runningDigest: running.digest } : { ...base };
  const policy = effectivePullPolicy(c, ref);
  if (policy !== 'Always') {
    return skipped(
      withDigest,
      'pull-policy-cache',
      `imagePullPolicy ${policy}: the node would reuse its cached image, so a restart changes nothing; set imagePullPolicy: Always`,
    );
  }
  return {
    candidate: {
      podUid: pod.metadata?.uid ?? podId(pod),
      container: c.name,
      init,
      ref,
      running,
    },
    plan: withDigest,
  };
}

function containersOf(pod: ObservedPod): Array<[ObservedContainer, boolean]> {
  return [
    ...(pod.spec?.initContainers ?? []).map((c): [ObservedContainer, boolean] => [c, true]),
    ...(pod.spec?.containers ?? []).map((c): [ObservedContainer, boolean] => [c, false]),
  ];
}

/**
 * The containers that need a registry answer: those of pods not skipped at pod level, whose image is a tag,
 * whose imageID carries a digest and whose pull policy would fetch new bytes. Pure.
 */
export function candidates(pods: readonly ObservedPod[], ctx: PlanContext): Candidate[] {
  const out: Candidate[] = [];
  for (const pod of pods) {
    if (podSkip(pod, workloadOf(pod, ctx), ctx)) continue;
    for (const [c, init] of containersOf(pod)) {
      const a = assessContainer(pod, c, init, ctx);
      if ('candidate' in a) out.push(a.candidate);
    }
  }
  return out;
}

function judge(
  plan: Omit<ContainerPlan, 'verdict' | 'reason' | 'message'>,
  running: Candidate['running'],
  state: TagState | undefined,
): ContainerPlan {
  if (!state) {
    // Unknown means keep: a container we could not ask about is never stale.
    return { ...plan, verdict: 'skipped', reason: 'registry-unreachable', message: 'tag was not resolved' };
  }
  if (!state.ok) return { ...plan, verdict: 'skipped', reason: state.reason, message: state.message };
  let accepted = acceptedOf.get(state);
  if (!accepted) {
    accepted = [state.digest, ...state.children];
    acceptedOf.set(state, accepted);
  }
  const withTag = { ...plan, currentDigest: state.digest, acceptedDigests: accepted };
  if (running.configId !== undefined) {
    if (!state.configIds) {
      return {
        ...plan,
        verdict: 'skipped',
        reason: 'no-repo-digest',
        message: 'image ID could not be compared',
      };
    }
    const withIds = { ...withTag, acceptedDigests: [...accepted, ...state.configIds] };
    return state.configIds.includes(running.configId)
      ? {
          ...withIds,
          verdict: 'current',
          reason: 'up-to-date',
          message: "running the image ID the engine's fresh pull has",
        }
      : {
          ...withIds,
          verdict: 'stale',
          reason: 'digest-changed',
          message: 'the fresh pull has another image ID',
        };
  }
  const runningDigest = running.digest;
  if (runningDigest === state.digest) {
    return {
      ...withTag,
      verdict: 'current',
      reason: 'up-to-date',
      message: 'running the digest the tag points to',
    };
  }
  if (state.children.includes(runningDigest)) {
    return {
      ...withTag,
      verdict: 'current',
      reason: 'index-child',
      message: "running a platform manifest of the tag's multi-arch index",
    };
  }
  return {
    ...withTag,
    verdict: 'stale',
    reason: 'digest-changed',
    message: 'the tag now points to another digest',
  };
}

function podVerdict(containers: ContainerPlan[]): { verdict: Verdict; reason: Reason; message: string } {
  const failed = containers.find((c) => REGISTRY_FAILURES.has(c.reason));
  const stale = containers.filter((c) => c.verdict === 'stale');
  if (stale.length > 0 && failed) {
    // A replacement would have to pull every Always image again: with one tag unknown, keep the pod.
    return {
      verdict: 'skipped',
      reason: failed.reason,
      message: `stale, but kept: container ${failed.name}: ${failed.message}`,
    };
  }
  if (stale.length > 0) {
    return {
      verdict: 'stale',
      reason: 'digest-changed',
      message: `stale: ${stale.map((c) => c.name).join(', ')} ${stale.length === 1 ? 'runs' : 'run'} an old digest`,
    };
  }
  if (failed)
    return {
      verdict: 'skipped',
      reason: failed.reason,
      message: `container ${failed.name}: ${failed.message}`,
    };
  if (containers.some((c) => c.verdict === 'current')) {
    return {
      verdict: 'current',
      reason: 'up-to-date',
      message: 'every checked container runs the current digest',
    };
  }
  const first = containers[0];
  if (first && containers.every((c) => c.reason === first.reason)) {
    return { verdict: 'skipped', reason: first.reason, message: first.message };
  }
  return { verdict: 'skipped', reason: 'no-stale-container', message: 'no container could be checked' };
}

/**
 * Builds the plan. `tags` maps candidateKey(...) to what the container's tag points to now; a candidate with no entry
 * is kept (unknown means keep). Pods are sorted by namespace and name. Pure.
 */
export function buildPlan(
  pods: readonly ObservedPod[],
  ctx: PlanContext,
  tags: ReadonlyMap<string, TagState>,
): Plan {
  const out: PodPlan[] = [];
  for (const pod of pods) {
    const m = pod.metadata ?? {};
    const wl = workloadOf(pod, ctx);
    const base = {
      namespace: m.namespace ?? '',
      name: m.name ?? '',
      uid: m.uid ?? '',
      ...(pod.spec?.nodeName ? { nodeName: pod.spec.nodeName } : {}),
      ...(wl ? { workload: wl } : {}),
    };
    const skip = podSkip(pod, wl, ctx);
    if (skip) {
      out.push({ ...base, verdict: 'skipped', ...skip, containers: [] });
      continue;
    }
    const containers = containersOf(pod).map(([c, init]) => {
      const a = assessContainer(pod, c, init, ctx);
      if ('final' in a) return a.final;
      const key = candidateKey(a.candidate.podUid, c.name, init);
      return judge(a.plan, a.candidate.running, tags.get(key));
    });
    out.push({ ...base, ...podVerdict(containers), containers });
  }
  out.sort((a, b) => a.namespace.localeCompare(b.namespace) || a.name.localeCompare(b.name));
  const summary = { pods: out.length, current: 0, stale: 0, skipped: 0 };
  for (const p of out) summary[p.verdict]++;
  return { generatedAt: ctx.now.toISOString(), pods: out, summary };
}
