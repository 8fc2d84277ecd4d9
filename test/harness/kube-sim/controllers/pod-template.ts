// Turns a workload's pod template into a Pod and creates it as the API server would admit it (defaults, the
// ServiceAccount's pull secrets), because the controllers write straight to the store and skip the HTTP layer.

import { applyDefaults } from '../defaults.ts';
import type { KObject } from '../store.ts';
import { K } from './cache.ts';
import type { Ctx } from './context.ts';
import { createGenerated, ownerRef } from './util.ts';

/** The imagePullPolicy the API server defaults to: Always for `:latest` or no tag, else IfNotPresent. */
export function defaultPullPolicy(image: string): 'Always' | 'IfNotPresent' {
  if (image.includes('@')) return 'IfNotPresent';
  const lastSlash = image.lastIndexOf('/');
  const colon = image.indexOf(':', lastSlash + 1);
  const tag = colon >= 0 ? image.slice(colon + 1) : '';
  return tag === '' || tag === 'latest' ? 'Always' : 'IfNotPresent';
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

/**
 * Creates a controller's pod the way the API server would admit it: server defaults, then the ServiceAccount
 * admission step that copies the account's imagePullSecrets into a pod that names none. Throws the store's errors.
 */
export function createPod(ctx: Ctx, pod: KObject): KObject {
  applyDefaults(pod);
  const spec = pod.spec;
  if (!spec.imagePullSecrets?.length) {
    const sa = ctx.cache.get(K.serviceaccounts, pod.metadata.namespace, spec.serviceAccountName ?? 'default');
    const secrets = (sa?.imagePullSecrets ?? []).filter((s: KObject) => s?.name);
    if (secrets.length) spec.imagePullSecrets = secrets.map((s: KObject) => ({ name: s.name }));
  }
  return createGenerated(ctx.store, K.pods, pod);
}
