// The pure half of a classified update: which workloads and migration Job templates a classifier and an image
// select (images compared parsed and normalised, never by string prefix), what each container changes to, what is
// refused (a downgrade), the clean Job copy a migration runs as, and the patches that apply and roll back exactly
// the containers this update changed.

import { type ImageReference, tryParseImageReference } from '../image/reference.ts';
import { compareVersions, parseVersionTag, sameLine } from '../image/version.ts';
import {
  ANNOTATIONS,
  CHANGE_CAUSE_ANNOTATION,
  LABELS,
  XCNT_CLASSIFIER_ANNOTATION,
} from '../model/annotations.ts';
import type { ContainerChange, MigrationPlan, UpdateKind, UpdateTarget } from '../model/update.ts';

// biome-ignore lint/suspicious/noExplicitAny: API objects are open JSON read field by field.
type Obj = Record<string, any>;

/** The classifiers an object opts into: `k8s-auto-updater.io/classifier` and XCNT's annotation, comma-separated. */
export function classifiersOf(obj: Obj): string[] {
  const a: Record<string, string> = obj?.metadata?.annotations ?? {};
  return [a[ANNOTATIONS.classifier], a[XCNT_CLASSIFIER_ANNOTATION]]
    .filter((v): v is string => typeof v === 'string')
    .flatMap((v) => v.split(','))
    .map((c) => c.trim())
    .filter(Boolean);
}

/** Same registry and repository, normalised (`nginx` is `docker.io/library/nginx`); tags and digests aside. */
export function sameRepository(a: ImageReference, b: ImageReference): boolean {
  return a.registry === b.registry && a.repository === b.repository;
}

/** The pod spec of a workload kind (a CronJob's is under its job template). */
export function podSpecOf(kind: UpdateKind | 'Job', obj: Obj): Obj | undefined {
  return kind === 'CronJob' ? obj?.spec?.jobTemplate?.spec?.template?.spec : obj?.spec?.template?.spec;
}

/** Same image: same repository, tag and digest (the tag `latest` when none is written). */
function sameImage(a: ImageReference, b: ImageReference): boolean {
  return (
    sameRepository(a, b) &&
    (a.tag ?? (a.digest ? undefined : 'latest')) === (b.tag ?? (b.digest ? undefined : 'latest')) &&
    a.digest === b.digest
  );
}

/** The requested tag is lower than the running one, both versions of one family (`1.4.2` → `1.3.9`). */
export function isDowngrade(from: ImageReference, to: ImageReference): boolean {
  if (from.tag === undefined || to.tag === undefined) return false;
  const a = parseVersionTag(from.tag);
  const b = parseVersionTag(to.tag);
  if (!a || !b || !sameLine(a, b) || a.components.length !== b.components.length) return false;
  return compareVersions(b, a) < 0;
}

interface Container {
  name: string;
  image: string;
  init: boolean;
}

function containersOf(spec: Obj | undefined): Container[] {
  const list = (xs: unknown, init: boolean): Container[] =>
    (Array.isArray(xs) ? xs : []).map((c: Obj) => ({
      name: String(c?.name),
      image: String(c?.image ?? ''),
      init,
    }));
  return [...list(spec?.initContainers, true), ...list(spec?.containers, false)];
}

/**
 * What an update does to one workload that carries the classifier: undefined when none of its containers uses the
 * requested repository; else the changes, or why it is kept. `to` is the image string to write (the requested one,
 * or the digest-pinned form).
 */
export function planTarget(
  kind: UpdateKind,
  obj: Obj,
  requested: ImageReference,
  to: string,
  opts: { allowDowngrade: boolean },
): UpdateTarget | undefined {
  const matched = containersOf(podSpecOf(kind, obj)).filter((c) => {
    const ref = tryParseImageReference(c.image);
    return ref !== undefined && sameRepository(ref, requested);
  });
  if (matched.length === 0) return undefined;
  const target: UpdateTarget = {
    namespace: obj.metadata.namespace,
    kind,
    name: obj.metadata.name,
    uid: obj.metadata.uid,
    resourceVersion: obj.metadata.resourceVersion,
    reason: 'update',
    changes: [],
    matched: matched.map(({ name, init, image }) => ({ name, init, image })),
  };
  const toRef = tryParseImageReference(to) ?? requested;
  const changes: ContainerChange[] = [];
  for (const c of matched) {
    const ref = tryParseImageReference(c.image) as ImageReference;
    if (sameImage(ref, toRef)) continue;
    if (!opts.allowDowngrade && isDowngrade(ref, requested)) {
      return {
        ...target,
        reason: 'downgrade',
        message: `container ${c.name} runs ${c.image}; ${requested.original} is an older version: refused (--allow-downgrade to force)`,
      };
    }
    changes.push({ name: c.name, init: c.init, from: c.image, to });
  }
  if (changes.length === 0)
    return { ...target, reason: 'already-current', message: `already on ${requested.original}` };
  return { ...target, changes };
}

/** A Job template for this classifier and repository: it runs (as a copy) before any workload changes. */
export function isMigrationTemplate(job: Obj, classifier: string, requested: ImageReference): boolean {
  if (!classifiersOf(job).includes(classifier)) return false;
  return containersOf(podSpecOf('Job', job)).some((c) => {
    const ref = tryParseImageReference(c.image);
    return ref !== undefined && sameRepository(ref, requested);
  });
}

/** A template's place in the order (`k8s-auto-updater.io/migration-order`), or an error naming the fix. */
export function migrationOrder(job: Obj): number | Error {
  const raw: unknown = job?.metadata?.annotations?.[ANNOTATIONS.migrationOrder];
  if (raw === undefined) return 0;
  const n = Number(raw);
  if (typeof raw !== 'string' || !/^-?\d{1,9}$/.test(raw.trim()) || !Number.isSafeInteger(n)) {
    return new Error(
      `Job ${job.metadata?.namespace}/${job.metadata?.name}: ${ANNOTATIONS.migrationOrder} is ${JSON.stringify(raw)}; write an integer such as "10"`,
    );
  }
  return n;
}

const CONTROLLER_LABELS = [
  'controller-uid',
  'job-name',
  'batch.kubernetes.io/controller-uid',
  'batch.kubernetes.io/job-name',
];

/** A DNS-1123 label name ≤ 63 characters: `<template>-<suffix>`, the template part cut to fit. */
export function migrationJobName(template: string, suffix: string): string {
  const tail = `-${suffix}`.toLowerCase();
  const head = template
    .toLowerCase()
    .replace(/[^a-z0-9-]/g, '-')
    .slice(0, 63 - tail.length)
    .replace(/-+$/, '');
  return `${head || 'migration'}${tail}`;
}

/**
 * The Job a migration runs as: a clean copy of the template on the new image — server-set fields, status, the
 * selector (unless manualSelector) and the four controller labels removed (API servers ≥ 1.27 reject copied ones),
 * not suspended, no classifier (a copy is never itself a template), labelled with its template and the update id.
 */
export function migrationJob(template: Obj, requested: ImageReference, to: string, updateId: string): Obj {
  const t = structuredClone(template) as Obj;
  const meta = t.metadata ?? {};
  const name = migrationJobName(String(meta.name), updateId.slice(0, 8));
  const annotations = { ...(meta.annotations ?? {}) };
  delete annotations[ANNOTATIONS.classifier];
  delete annotations[XCNT_CLASSIFIER_ANNOTATION];
  delete annotations[ANNOTATIONS.migrationOrder];
  delete annotations['kubectl.kubernetes.io/last-applied-configuration'];
  const labels = { ...(meta.labels ?? {}) };
  for (const l of CONTROLLER_LABELS) delete labels[l];
  labels[LABELS.migrationOf] = String(meta.name).slice(0, 63);
  labels[LABELS.updateId] = updateId.slice(0, 63);
  const spec = t.spec ?? {};
  if (!spec.manualSelector) delete spec.selector;
  spec.suspend = false;
  const tmeta = spec.template?.metadata ?? {};
  const tlabels = { ...(tmeta.labels ?? {}) };
  for (const l of CONTROLLER_LABELS) delete tlabels[l];
  if (spec.template) spec.template.metadata = { ...tmeta, labels: tlabels };
  for (const c of [
    ...(spec.template?.spec?.initContainers ?? []),
    ...(spec.template?.spec?.containers ?? []),
  ]) {
    const ref = tryParseImageReference(c.image ?? '');
    if (ref && sameRepository(ref, requested)) c.image = to;
  }
  return {
    apiVersion: 'batch/v1',
    kind: 'Job',
    metadata: { name, namespace: meta.namespace, labels, annotations },
    spec,
  };
}

/** The migration plans for the templates, in the order they run; an invalid order annotation refuses them all. */
export function planMigrations(
  templates: Obj[],
  requested: ImageReference,
  to: string,
  updateId: string,
): MigrationPlan[] | Error {
  const out: MigrationPlan[] = [];
  for (const job of templates) {
    const order = migrationOrder(job);
    if (order instanceof Error) return order;
    out.push({
      namespace: job.metadata.namespace,
      template: job.metadata.name,
      order,
      job: migrationJob(job, requested, to, updateId),
    });
  }
  return out.sort(
    (a, b) =>
      a.order - b.order || a.namespace.localeCompare(b.namespace) || a.template.localeCompare(b.template),
  );
}

/** Where a kind's pod template lives, as a patch path. */
function templatePatch(kind: UpdateKind, podSpec: Obj, templateMeta?: Obj): Obj {
  const template = { ...(templateMeta ? { metadata: templateMeta } : {}), spec: podSpec };
  return kind === 'CronJob' ? { spec: { jobTemplate: { spec: { template } } } } : { spec: { template } };
}

function imagesPatch(
  changes: readonly Pick<ContainerChange, 'name' | 'init'>[],
  image: (c: { name: string }) => string,
): Obj {
  const pod: Obj = {};
  const init = changes.filter((c) => c.init).map((c) => ({ name: c.name, image: image(c) }));
  const main = changes.filter((c) => !c.init).map((c) => ({ name: c.name, image: image(c) }));
  if (init.length) pod.initContainers = init;
  if (main.length) pod.containers = main;
  return pod;
}

/**
 * The strategic merge patch that applies an update's changes: containers merged by name (the others untouched),
 * the resourceVersion the plan read (a concurrent change makes it 409, never a silent overwrite), the change cause
 * and a record of from → to with the update id.
 */
export function updatePatch(target: UpdateTarget, updateId: string, cause: string): Obj {
  const record = JSON.stringify({
    id: updateId,
    containers: target.changes.map(({ name, from, to }) => ({ name, from, to })),
  });
  const patch = templatePatch(
    target.kind,
    imagesPatch(target.changes, (c) => target.changes.find((x) => x.name === c.name)?.to as string),
  );
  patch.metadata = {
    resourceVersion: target.resourceVersion,
    annotations: { [CHANGE_CAUSE_ANNOTATION]: cause, [ANNOTATIONS.updated]: record },
  };
  return patch;
}

/**
 * The rollback of an update on the workload as it is now: each container this update changed that still names the
 * image it wrote goes back to its old image; one changed since by someone else is left alone (`skipped`). Another
 * container or field edited meanwhile survives, because only these containers are in the patch.
 */
export function rollbackPatch(
  kind: UpdateKind,
  current: Obj,
  changes: readonly ContainerChange[],
  updateId: string,
): { patch?: Obj; restored: ContainerChange[]; skipped: Array<{ name: string; image: string }> } {
  const now = new Map(containersOf(podSpecOf(kind, current)).map((c) => [`${c.init}/${c.name}`, c.image]));
  const restored: ContainerChange[] = [];
  const skipped: Array<{ name: string; image: string }> = [];
  for (const c of changes) {
    const image = now.get(`${c.init}/${c.name}`);
    if (image === c.to) restored.push(c);
    else skipped.push({ name: c.name, image: image ?? '(container removed)' });
  }
  if (restored.length === 0) return { restored, skipped };
  const patch = templatePatch(
    kind,
    imagesPatch(restored, (c) => restored.find((x) => x.name === c.name)?.from as string),
  );
  patch.metadata = {
    resourceVersion: current.metadata.resourceVersion,
    annotations: {
      [CHANGE_CAUSE_ANNOTATION]: `k8s-auto-updater: rollback of update ${updateId}`,
      [ANNOTATIONS.updated]: JSON.stringify({ id: updateId, rolledBack: true }),
    },
  };
  return { patch, restored, skipped };
}

/** The rolling-restart patch for a same-tag update (new bytes under the same name): a pod template annotation. */
export function restartPatch(kind: UpdateKind, resourceVersion: string, updateId: string, at: string): Obj {
  const patch = templatePatch(
    kind,
    {},
    { annotations: { 'kubectl.kubernetes.io/restartedAt': at, [LABELS.updateId]: updateId } },
  );
  // A template without a pod spec change: drop the empty spec so the patch only touches the annotation.
  const template = kind === 'CronJob' ? patch.spec.jobTemplate.spec.template : patch.spec.template;
  delete template.spec;
  patch.metadata = { resourceVersion };
  return patch;
}
