// Projects a listed pod to the fields the updater reads (planner, restarter, pull secrets, workloads), so a listing
// of thousands of pods keeps a few hundred bytes per pod instead of the whole object. Repeated strings (images,
// imageIDs, namespaces, owner names, label values) are shared between pods: replicas repeat nearly all of them.

import type { V1Pod } from '@kubernetes/client-node';

type Obj = Record<string, unknown>;

// Per pod unique: not worth a lookup in the shared-string table.
const META_UNIQUE = ['name', 'uid', 'resourceVersion'] as const;
const META_SHARED = ['namespace', 'deletionTimestamp', 'creationTimestamp'] as const;
const OWNER = ['apiVersion', 'kind', 'name', 'uid', 'controller'] as const;
const SPEC = ['nodeName', 'serviceAccountName'] as const;
const CONTAINER = ['name', 'image', 'imagePullPolicy'] as const;
const CONTAINER_STATUS = ['name', 'image', 'imageID', 'ready', 'restartCount', 'state'] as const;

/** Maps a listed pod to its projection; the strings it shares live as long as the projector. */
export type PodProjector = (pod: V1Pod) => V1Pod;

/**
 * A projector keeping metadata name/namespace/uid/labels/annotations/ownerReferences/deletionTimestamp/
 * creationTimestamp/resourceVersion; spec nodeName/serviceAccountName/imagePullSecrets and (init)containers'
 * name/image/imagePullPolicy; status phase, the Ready condition (the only one read) and (init)container statuses'
 * name/image/imageID/ready/restartCount/state. Never throws: missing parts stay missing.
 */
export function podProjector(): PodProjector {
  const strings = new Map<string, string>();
  const share = (v: unknown): unknown => {
    if (typeof v !== 'string') return v;
    const seen = strings.get(v);
    if (seen !== undefined) return seen;
    strings.set(v, v);
    return v;
  };
  const pick = (from: unknown, keys: readonly string[], shared: boolean, into: Obj = {}): Obj | undefined => {
    if (!from || typeof from !== 'object') return undefined;
    const src = from as Obj;
    for (const k of keys) if (src[k] !== undefined) into[k] = shared ? share(src[k]) : src[k];
    return into;
  };
  const each = (list: unknown, keys: readonly string[]): Obj[] | undefined =>
    Array.isArray(list) ? list.map((x) => pick(x, keys, true) ?? {}) : undefined;
  const map = (m: unknown): Obj | undefined => {
    if (!m || typeof m !== 'object') return undefined;
    const out: Obj = {};
    for (const [k, v] of Object.entries(m as Obj)) out[share(k) as string] = share(v);
    return out;
  };

  return (pod) => {
    const p = pod as unknown as Obj;
    const out: Obj = {};
    const m = p.metadata as Obj | undefined;
    if (m && typeof m === 'object') {
      const meta = pick(m, META_UNIQUE, false) ?? {};
      pick(m, META_SHARED, true, meta);
      set(meta, 'labels', map(m.labels));
      set(meta, 'annotations', map(m.annotations));
      set(meta, 'ownerReferences', each(m.ownerReferences, OWNER));
      out.metadata = meta;
    }
    const spec = p.spec as Obj | undefined;
    if (spec && typeof spec === 'object') {
      const s = pick(spec, SPEC, true) ?? {};
      set(s, 'imagePullSecrets', each(spec.imagePullSecrets, ['name']));
      s.containers = each(spec.containers, CONTAINER) ?? [];
      set(s, 'initContainers', each(spec.initContainers, CONTAINER));
      out.spec = s;
    }
    const status = p.status as Obj | undefined;
    if (status && typeof status === 'object') {
      const s: Obj = {};
      set(s, 'phase', share(status.phase));
      const conditions = Array.isArray(status.conditions)
        ? status.conditions.filter((c: Obj | null) => c?.type === 'Ready')
        : undefined;
      set(s, 'conditions', each(conditions, ['type', 'status']));
      set(s, 'containerStatuses', each(status.containerStatuses, CONTAINER_STATUS));
      set(s, 'initContainerStatuses', each(status.initContainerStatuses, CONTAINER_STATUS));
      out.status = s;
    }
    return out as V1Pod;
  };
}

/** projectPod with a projector of its own (no strings shared with other pods); never throws. */
export function projectPod(pod: V1Pod): V1Pod {
  return podProjector()(pod);
}

// Leaves `key` out when undefined, so the projection has no explicit-undefined members (tap's t.same, JSON output).
function set(o: Obj, key: string, v: unknown): void {
  if (v !== undefined) o[key] = v;
}
