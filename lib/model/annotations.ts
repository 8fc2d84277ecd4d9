// The annotation vocabulary the updater honours: one prefix, few keys, each defined only here.

export const ANNOTATION_PREFIX = 'k8s-auto-updater.io/';

export const ANNOTATIONS = {
  /**
   * On a pod or its workload (Deployment, StatefulSet, DaemonSet, ReplicaSet): "true" opts in (needed when the
   * updater runs with --opt-in), "false" opts out and always wins, whatever the mode.
   */
  enabled: `${ANNOTATION_PREFIX}enabled`,
  /**
   * On a workload: the version policy of its containers (`digest`, the default; `patch`, `minor`, `major`,
   * `semver:<range>`, `regexp:<pattern>`, `never`). This and the next four also take a per-container form,
   * `<key>.<container>`, which wins over the workload-wide one. See docs/policies.md.
   */
  policy: `${ANNOTATION_PREFIX}policy`,
  /** What a policy may do: `auto` (apply), `notify` (report only) or `frontier:<N>`. */
  apply: `${ANNOTATION_PREFIX}apply`,
  /** How a `regexp:` policy orders its `version` group: `numeric` (default), `semver` or `alphabetical`. */
  order: `${ANNOTATION_PREFIX}order`,
  /** "true" lets a policy choose prereleases. */
  prerelease: `${ANNOTATION_PREFIX}prerelease`,
  /** A candidate image must be at least this old (`48h`). */
  minAge: `${ANNOTATION_PREFIX}min-age`,
  /**
   * Written by the updater: `<key>.<container>` holds the tag a policy run last set, so that a human rollback below it
   * is recognised and respected.
   */
  lastApplied: `${ANNOTATION_PREFIX}last-applied`,
  /**
   * On a Deployment, StatefulSet, DaemonSet, CronJob or migration Job template: the classifiers (comma-separated)
   * whose `update --classifier` moves it. See docs/update.md.
   */
  classifier: `${ANNOTATION_PREFIX}classifier`,
  /** On a migration Job template: its place in the order migrations run (an integer, default 0; then by name). */
  migrationOrder: `${ANNOTATION_PREFIX}migration-order`,
  /** Written by `update` on what it changed: `<from> -> <to>` per container and the update's id (JSON). */
  updated: `${ANNOTATION_PREFIX}updated`,
} as const;

/** The XCNT update manager's classifier annotation, honoured like ANNOTATIONS.classifier for its users. */
export const XCNT_CLASSIFIER_ANNOTATION = 'xcnt.io/update-classifier';

/** Labels the updater writes. */
export const LABELS = {
  /** On a migration Job `update` created: the template it was copied from. */
  migrationOf: `${ANNOTATION_PREFIX}migration-of`,
  /** On a migration Job `update` created: the update's id. */
  updateId: `${ANNOTATION_PREFIX}update-id`,
} as const;

/** Kubernetes' annotation recording why a workload's template changed (kubectl rollout history shows it). */
export const CHANGE_CAUSE_ANNOTATION = 'kubernetes.io/change-cause';

/** Kubernetes' own annotation marking a mirror (static) pod. */
export const MIRROR_POD_ANNOTATION = 'kubernetes.io/config.mirror';
