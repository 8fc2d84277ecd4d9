// Projects a listed pod to the fields the updater reads (planner, restarter, pull secrets, workloads), so a listing
// of thousands of pods keeps a few hundred bytes per pod instead of the whole object.

import type { V1Pod } from '@kubernetes/client-node';

type Obj = Record<string, unknown>;

const META = [
  'name',
  'namespace',
  'uid',
  'labels',
  'annotations',
  'ownerReferences',
  'deletionTimestamp',
  'creationTimestamp',
  'resourceVersion',
] as const;
const SPEC = ['nodeName', 'serviceAccountName', 'imagePullSecrets'] as const;
const CONTAINER = ['name', 'image', 'imagePullPolicy'] as const;
const CONTAINER_STATUS = ['name', 'image', 'imageID', 'ready', 'restartCount', 'state'] as const;

function pick(from: unknown, keys: readonly string[]): Obj | undefined {
  if (!from || typeof from !== 'object') return undefined;
  const src = from as Obj;
  const out: Obj = {};
  for (const k of keys) if (src[k] !== undefined) out[k] = src[k];
  return out;
}

function pickEach(list: unknown, keys: readonly string[]): Obj[] | undefined {
  return Array.isArray(list) ? list.map((x) => pick(x, keys) ?? {}) : undefined;
}

// Drops `key` when undefined, so the projection has no explicit-undefined members (tap's t.same, JSON output).
function set(o: Obj, key: string, v: unknown): void {
  if (v !== undefined) o[key] = v;
}

/** The pod with only the fields the updater reads; never throws (missing parts stay missing). */
export function projectPod(pod: V1Pod): V1Pod {
  const p = pod as unknown as Obj;
  const out: Obj = {};
  set(out, 'metadata', pick(p.metadata, META));
  const spec = p.spec as Obj | undefined;
  if (spec && typeof spec === 'object') {
    const s = pick(spec, SPEC) ?? {};
    s.containers = pickEach(spec.containers, CONTAINER) ?? [];
    set(s, 'initContainers', pickEach(spec.initContainers, CONTAINER));
    out.spec = s;
  }
  const status = p.status as Obj | undefined;
  if (status && typeof status === 'object') {
    const s: Obj = {};
    set(s, 'phase', status.phase);
    set(s, 'conditions', pickEach(status.conditions, ['type', 'status']));
    set(s, 'containerStatuses', pickEach(status.containerStatuses, CONTAINER_STATUS));
    set(s, 'initContainerStatuses', pickEach(status.initContainerStatuses, CONTAINER_STATUS));
    out.status = s;
  }
  return out as V1Pod;
}
