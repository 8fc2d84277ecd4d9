// What kube-apiserver's Job strategy does on create (pkg/registry/batch/job/strategy.go), checked against the real
// control plane: unless spec.manualSelector, the selector and the four controller labels are generated from the new
// Job's uid and name, and a copy carrying another Job's (the classic clone mistake) is refused with 422.

import type { KObject } from './store.ts';
import { StoreError } from './store.ts';

const UID_LABELS = ['controller-uid', 'batch.kubernetes.io/controller-uid'];
const NAME_LABELS = ['job-name', 'batch.kubernetes.io/job-name'];

/** Validates and completes a Job being created (its uid already set); throws StoreError 422 like the real server. */
export function prepareJobCreate(job: KObject): void {
  const m = job.metadata;
  const name = m.name as string;
  const uid = m.uid as string;
  const errors: string[] = [];
  if (name.length > 63)
    errors.push(`spec.template.labels: Invalid value: "${name}": must be no more than 63 characters`);
  job.spec ??= {};
  const spec = job.spec;
  spec.template ??= {};
  spec.template.metadata ??= {};
  const labels: Record<string, string> = { ...(spec.template.metadata.labels ?? {}) };
  if (!spec.manualSelector) {
    const shown = JSON.stringify(labels);
    for (const l of UID_LABELS)
      if (labels[l] !== undefined && labels[l] !== uid)
        errors.push(`spec.template.metadata.labels[${l}]: Invalid value: ${shown}: must be '${uid}'`);
    for (const l of NAME_LABELS)
      if (labels[l] !== undefined && labels[l] !== name)
        errors.push(`spec.template.metadata.labels[${l}]: Invalid value: ${shown}: must be '${name}'`);
    if (spec.selector !== undefined)
      errors.push(
        `spec.selector: Invalid value: ${JSON.stringify(spec.selector)}: \`selector\` not auto-generated`,
      );
    if (errors.length === 0) {
      for (const l of UID_LABELS) labels[l] = uid;
      for (const l of NAME_LABELS) labels[l] = name;
      spec.template.metadata.labels = labels;
      spec.selector = { matchLabels: { 'batch.kubernetes.io/controller-uid': uid } };
    }
  } else if (spec.selector === undefined) {
    errors.push('spec.selector: Required value');
  }
  if (errors.length > 0) {
    throw new StoreError(422, 'Invalid', `Job.batch "${name}" is invalid: [${errors.join(', ')}]`, {
      name,
      kind: 'Job',
    });
  }
}
