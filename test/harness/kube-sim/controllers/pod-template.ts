// Turns a workload's pod template into a Pod, with the defaults the API server would fill in, because the
// controllers write straight to the store and skip the HTTP layer's admission.

import type { KObject } from '../store.ts';
import { ownerRef } from './util.ts';

/** The imagePullPolicy the API server defaults to: Always for `:latest` or no tag, else IfNotPresent. */
export function defaultPullPolicy(image: string): 'Always' | 'IfNotPresent' {
  if (image.includes('@')) return 'IfNotPresent';
  const lastSlash = image.lastIndexOf('/');
  const colon = image.indexOf(':', lastSlash + 1);
  const tag = colon >= 0 ? image.slice(colon + 1) : '';
  return tag === '' || tag === 'latest' ? 'Always' : 'IfNotPresent';
}

/** Fills in the pod spec defaults the API server sets on create (in place). */
export function defaultPodSpec(spec: KObject['spec']): void {
  spec.restartPolicy ??= 'Always';
  spec.terminationGracePeriodSeconds ??= 30;
  spec.dnsPolicy ??= 'ClusterFirst';
  spec.schedulerName ??= 'default-scheduler';
  spec.serviceAccountName ??= 'default';
  spec.securityContext ??= {};
  for (const list of [spec.initContainers, spec.containers]) {
    for (const c of list ?? []) {
      c.imagePullPolicy ??= defaultPullPolicy(String(c.image ?? ''));
      c.terminationMessagePath ??= '/dev/termination-log';
      c.terminationMessagePolicy ??= 'File';
      c.resources ??= {};
    }
  }
}

export interface PodFromTemplateOptions {
  name?: string;
  generateName?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
}

/** A new Pod object from template, controlled by owner; the caller creates it in the store. */
export function podFromTemplate(
  template: KObject | undefined,
  owner: KObject,
  opts: PodFromTemplateOptions,
): KObject {
  const t = structuredClone(template ?? { metadata: {}, spec: { containers: [] } });
  const spec = t.spec ?? { containers: [] };
  defaultPodSpec(spec);
  const metadata: KObject['metadata'] = {
    namespace: owner.metadata.namespace,
    labels: { ...(t.metadata?.labels ?? {}), ...(opts.labels ?? {}) },
    ownerReferences: [ownerRef(owner)],
  };
  const annotations = { ...(t.metadata?.annotations ?? {}), ...(opts.annotations ?? {}) };
  if (Object.keys(annotations).length) metadata.annotations = annotations;
  if (opts.name) metadata.name = opts.name;
  else metadata.generateName = opts.generateName ?? `${owner.metadata.name}-`;
  return { apiVersion: 'v1', kind: 'Pod', metadata, spec, status: { phase: 'Pending' } };
}
