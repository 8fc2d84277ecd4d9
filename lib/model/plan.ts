// The plan: pure data saying, for every observed pod and container, whether it is current, stale or skipped, and why.
// Field names here are the stable `-o json` contract documented in docs/output.md.

export type Verdict = 'current' | 'stale' | 'skipped';

/** Why a container or pod got its verdict. Stable machine codes; docs/output.md explains each. */
export type Reason =
  // current / stale
  | 'up-to-date' // running digest equals the tag's digest
  | 'index-child' // running digest is a platform manifest listed in the tag's multi-arch index
  | 'digest-changed' // the tag now points elsewhere
  // skipped: container level
  | 'digest-pinned' // spec image is repo@sha256:…: can never be stale
  | 'no-repo-digest' // imageID has no manifest digest (docker://sha256:…, bare sha256:…)
  | 'no-image-id' // container not started yet, no imageID
  | 'pull-policy-cache' // the kubelet would reuse its cached image: a restart changes nothing
  | 'invalid-image' // spec image is not a valid reference
  | TagFailureReason
  // skipped: pod level
  | 'pending' // pod not Running
  | 'terminating' // deletionTimestamp set
  | 'not-ready' // pod is not Ready: evicting it cannot be judged safe
  | 'bare-pod' // no controller: an evicted bare pod is gone forever
  | 'job-pod' // owned by a Job: eviction counts against backoffLimit
  | 'mirror-pod' // static pod mirrored from a node manifest
  | 'self' // the updater's own pod
  | 'opted-out' // annotation says false
  | 'not-opted-in' // opt-in mode and no annotation on the pod or its workload
  | 'unsupported-owner' // controlled by a kind that does not recreate pods we know of
  | 'owner-unreadable' // the controller or its Deployment could not be read: its opt-out is unknown
  | 'no-stale-container'; // every container is current (pod verdict current) or skipped

/**
 * Why a tag's current digest is unknown: the container is kept. The first four concern the registry or the
 * credentials; the last five one reference's answer, and never stop the registry from being asked for other tags.
 */
export const TAG_FAILURE_REASONS = [
  'registry-unreachable', // network, TLS, 5xx, a broken token service, or the registry failed earlier in the run
  'unauthorized', // 401/403 even with the matching credentials, or credentials asked for by another origin
  'not-found', // the tag does not exist (404)
  'rate-limited', // 429
  'unsupported-manifest', // a schema1 (or schemaVersion 1) manifest: its digest never matches a pulled image
  'invalid-manifest', // the answer is not a usable manifest: not JSON, a malformed or contradicted digest
  'invalid-challenge', // a 401 whose challenge cannot be answered (Bearer without realm, a bad realm URL)
  'redirect-refused', // a redirect to plain HTTP, to another scheme, or too many redirects
  'manifest-too-large', // the manifest body exceeds the 4 MiB cap
  'interrupted', // the run was stopped (SIGTERM) before this tag's check finished: nothing learned
] as const;

export type TagFailureReason = (typeof TAG_FAILURE_REASONS)[number];

/** The controller that recreates an evicted pod, and the top-level workload for messages and events. */
export interface WorkloadRef {
  /** Kind of the pod's controller owner (ReplicaSet, StatefulSet, DaemonSet, ReplicationController). */
  kind: string;
  name: string;
  namespace: string;
  uid: string;
  /** The top-level workload (a ReplicaSet's Deployment), when resolved; else the controller itself. */
  top?: { kind: string; name: string; uid?: string };
}

export interface ContainerPlan {
  name: string;
  /** True for an init container. */
  init: boolean;
  /** The spec image, as written in the pod. */
  image: string;
  verdict: Verdict;
  reason: Reason;
  /** Human sentence for the reason, naming the thing and, for failures, the fix. */
  message: string;
  /** Manifest digest the container runs (from status imageID), when known. */
  runningDigest?: string;
  /** What the tag points to now (index digest for multi-arch), when known. */
  currentDigest?: string;
  /** Every digest accepted as "current" for this tag: the tag's digest plus, for an index, its children. */
  acceptedDigests?: string[];
}

export interface PodPlan {
  namespace: string;
  name: string;
  uid: string;
  nodeName?: string;
  verdict: Verdict;
  reason: Reason;
  message: string;
  workload?: WorkloadRef;
  containers: ContainerPlan[];
}

export interface PlanSummary {
  pods: number;
  current: number;
  stale: number;
  skipped: number;
}

export interface Plan {
  /** ISO time the plan was made. */
  generatedAt: string;
  pods: PodPlan[];
  summary: PlanSummary;
}

/** What happened to one stale pod when the plan was applied. */
export type RestartOutcome =
  | 'restarted' // evicted; replacement Ready on an accepted digest
  | 'dry-run' // would have been evicted
  | 'pdb-blocked' // a PodDisruptionBudget kept refusing the eviction until the deadline
  | 'eviction-failed' // the API refused otherwise (500 for several PDBs, 403, …)
  | 'replacement-timeout' // no Ready replacement by the deadline
  | 'replacement-same-digest' // loop guard: replacement came back on the old digest
  | 'replacement-crash-loop' // loop guard: replacement crash-loops
  | 'workload-halted' // an earlier pod of this workload failed: not touched
  | 'max-restarts' // --max-restarts reached
  | 'interrupted'; // SIGTERM before its turn

export interface RestartResult {
  namespace: string;
  name: string;
  workload?: WorkloadRef;
  outcome: RestartOutcome;
  message: string;
  /** The replacement pod, when one was seen. */
  replacement?: string;
  durationMs: number;
}
