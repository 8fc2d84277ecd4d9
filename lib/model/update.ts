// The data of a classified update (`update --image … --classifier …`): what it targets, what it changes and what
// became of each step. Pure data, named once here; docs/output.md documents the JSON names.

/** The workload kinds a classified update moves. */
export type UpdateKind = 'Deployment' | 'StatefulSet' | 'DaemonSet' | 'CronJob';

export const UPDATE_KINDS: readonly UpdateKind[] = ['Deployment', 'StatefulSet', 'DaemonSet', 'CronJob'];

/** One container's image change: `from` as the workload named it, `to` as it will be written. */
export interface ContainerChange {
  name: string;
  init: boolean;
  from: string;
  to: string;
}

/** Why a matched workload is changed or kept, decided before anything is applied. */
export type TargetReason =
  /** Its containers on the repository move to the requested image. */
  | 'update'
  /** Every matching container already names the requested image (a same-tag restart is decided by digests). */
  | 'already-current'
  /** Current and requested tags are versions of the same family and the requested one is lower. */
  | 'downgrade';

export interface UpdateTarget {
  namespace: string;
  kind: UpdateKind;
  name: string;
  uid: string;
  /** The resourceVersion the plan was made from: the patch's precondition. */
  resourceVersion: string;
  reason: TargetReason;
  /** The containers that change (empty unless reason is `update`). */
  changes: ContainerChange[];
  /** Every container on the repository, with the image it names now (for messages and same-tag checks). */
  matched: Array<{ name: string; init: boolean; image: string }>;
  message?: string;
}

/** A migration Job template and the copy an update would run. */
export interface MigrationPlan {
  namespace: string;
  template: string;
  order: number;
  /** The Job to create (a clean copy on the new image). */
  job: Record<string, unknown>;
}

export type MigrationOutcome = 'complete' | 'failed' | 'timeout' | 'dry-run' | 'not-started' | 'interrupted';

export type WorkloadOutcome =
  | 'updated'
  | 'restarted'
  | 'already-current'
  | 'downgrade'
  | 'dry-run'
  | 'failed'
  | 'rolled-back'
  | 'rollback-skipped'
  | 'rollback-failed'
  | 'not-started'
  | 'interrupted'
  | 'on-delete';

/** A workload's rollout as kubectl judges it. */
export interface RolloutHealth {
  state: 'progressing' | 'done' | 'failed';
  /** What is awaited or what failed, for progress lines and the report. */
  message: string;
}
