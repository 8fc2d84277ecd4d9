// Small helpers the controllers share: int-or-percent values, template hashes, conditions, pod predicates,
// owner references and status writes that only touch the store when something changed.

import { type KObject, type OwnerReference, type Store, StoreError } from '../store.ts';

/** RFC 3339 with second precision, as the API server serialises metav1.Time. */
export function isoSeconds(ms: number): string {
  return new Date(Math.floor(ms / 1000) * 1000).toISOString().replace(/\.\d{3}Z$/, 'Z');
}

/** Resolves an IntOrString ("25%" or 3) against total; percentages round up or down; undefined → dflt. */
export function intOrPercent(
  v: number | string | undefined | null,
  total: number,
  roundUp: boolean,
  dflt: number | string,
): number {
  const value = v ?? dflt;
  if (typeof value === 'number') return value;
  const m = /^(\d+)%$/.exec(value);
  if (!m) {
    const n = Number(value);
    if (Number.isInteger(n)) return n;
    throw new Error(`invalid int-or-percent value ${JSON.stringify(value)}`);
  }
  const exact = (Number(m[1]) * total) / 100;
  return roundUp ? Math.ceil(exact) : Math.floor(exact);
}

/** JSON with sorted object keys, so equal templates hash and compare equal whatever their key order. */
export function stableStringify(v: unknown): string {
  if (v === null || typeof v !== 'object') return JSON.stringify(v) ?? 'null';
  if (Array.isArray(v)) return `[${v.map(stableStringify).join(',')}]`;
  const o = v as Record<string, unknown>;
  return `{${Object.keys(o)
    .filter((k) => o[k] !== undefined)
    .sort()
    .map((k) => `${JSON.stringify(k)}:${stableStringify(o[k])}`)
    .join(',')}}`;
}

function fnv32a(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h >>> 0;
}

// k8s.io/apimachinery rand.SafeEncodeString: no vowels, no confusable digits.
const SAFE = 'bcdfghjklmnpqrstvwxz2456789';

/**
 * A pod-template-hash style hash of a template: FNV-32a over its canonical JSON (without the hash label),
 * rendered like the real controllers' SafeEncodeString of the decimal sum.
 */
export function templateHash(template: unknown, collisionCount = 0): string {
  const t = structuredClone(template ?? {}) as KObject;
  if (t.metadata?.labels) {
    delete t.metadata.labels['pod-template-hash'];
    delete t.metadata.labels['controller-revision-hash'];
  }
  const sum = fnv32a(stableStringify(t) + (collisionCount ? `#${collisionCount}` : ''));
  return [...String(sum)].map((c) => SAFE[c.charCodeAt(0) % SAFE.length]).join('');
}

/** Whether two pod templates are equal, ignoring the pod-template-hash label (as EqualIgnoreHash does). */
export function templatesEqual(a: unknown, b: unknown): boolean {
  const strip = (t: unknown) => {
    const c = structuredClone(t ?? {}) as KObject;
    if (c.metadata?.labels) {
      delete c.metadata.labels['pod-template-hash'];
      if (Object.keys(c.metadata.labels).length === 0) delete c.metadata.labels;
    }
    if (c.metadata && Object.keys(c.metadata).length === 0) delete (c as Partial<KObject>).metadata;
    return stableStringify(c);
  };
  return strip(a) === strip(b);
}

/** A controller ownerReference pointing at obj. */
export function ownerRef(obj: KObject): OwnerReference {
  return {
    apiVersion: obj.apiVersion!,
    kind: obj.kind!,
    name: obj.metadata.name!,
    uid: obj.metadata.uid!,
    controller: true,
    blockOwnerDeletion: true,
  };
}

export interface Condition {
  type: string;
  status: 'True' | 'False' | 'Unknown';
  reason?: string;
  message?: string;
  lastTransitionTime?: string;
  lastUpdateTime?: string;
  lastProbeTime?: string | null;
}

function sameCondition(old: Condition, c: Condition): boolean {
  for (const k of Object.keys(c) as Array<keyof Condition>) {
    if (c[k] !== undefined && old[k] !== c[k]) return false;
  }
  return true;
}

/** Whether two statuses are the same JSON (key order counts: a spurious write is harmless, a missed one is not). */
export function sameStatus(a: unknown, b: unknown): boolean {
  return JSON.stringify(a ?? {}) === JSON.stringify(b ?? {});
}

/** Finds a condition by type. */
export function getCondition(conds: Condition[] | undefined, type: string): Condition | undefined {
  return conds?.find((c) => c.type === type);
}

/**
 * Returns conditions with `next` set: the transition time is kept while the status does not change, and an
 * identical condition is kept as it is (so a status write stays a no-op).
 */
export function setCondition(
  conds: Condition[] | undefined,
  next: Condition,
  now: string,
  opts: { updateTime?: boolean } = {},
): Condition[] {
  const list = [...(conds ?? [])];
  const i = list.findIndex((c) => c.type === next.type);
  const old = i >= 0 ? list[i] : undefined;
  const c: Condition = { ...next };
  c.lastTransitionTime = old && old.status === next.status ? old.lastTransitionTime : now;
  if (opts.updateTime) {
    const same =
      old && old.status === next.status && old.reason === next.reason && old.message === next.message;
    c.lastUpdateTime = same ? old.lastUpdateTime : now;
  }
  if (old && sameCondition(old, c)) return list;
  if (i >= 0) list[i] = c;
  else list.push(c);
  return list;
}

/** Whether the pod counts for its controller: not terminating, not finished. */
export function isPodActive(p: KObject): boolean {
  return !p.metadata.deletionTimestamp && p.status?.phase !== 'Succeeded' && p.status?.phase !== 'Failed';
}

/** Whether the pod's Ready condition is True. */
export function isPodReady(p: KObject): boolean {
  return p.status?.conditions?.some((c: Condition) => c.type === 'Ready' && c.status === 'True') ?? false;
}

/** Whether the pod has been Ready for at least minReadySeconds at nowMs. */
export function isPodAvailable(p: KObject, minReadySeconds: number, nowMs: number): boolean {
  if (!isPodReady(p)) return false;
  if (!minReadySeconds) return true;
  const c = p.status.conditions.find((x: Condition) => x.type === 'Ready');
  const since = Date.parse(c?.lastTransitionTime ?? '');
  return Number.isNaN(since) || since + minReadySeconds * 1000 <= nowMs;
}

/** Writes obj's status through the status subresource when it differs from the cached one; never conflicts. */
export function writeStatus(
  store: Store,
  key: string,
  cached: KObject,
  status: Record<string, unknown>,
): void {
  if (sameStatus(cached.status, status)) return;
  store.update(
    key,
    { metadata: { name: cached.metadata.name, namespace: cached.metadata.namespace }, status },
    { subresource: 'status' },
  );
}

/** Sets spec.replicas (and optionally annotations) with a read-modify-write; a missing object is ignored. */
export function scaleTo(
  store: Store,
  key: string,
  obj: KObject,
  replicas: number,
  annotations?: Record<string, string>,
): void {
  const sameAnn =
    !annotations || Object.entries(annotations).every(([k, v]) => obj.metadata.annotations?.[k] === v);
  if (obj.spec?.replicas === replicas && sameAnn) return;
  store.mutate(key, obj.metadata.namespace, obj.metadata.name!, (o) => {
    o.spec.replicas = replicas;
    if (annotations) o.metadata.annotations = { ...(o.metadata.annotations ?? {}), ...annotations };
    return undefined;
  });
}

/**
 * Creates an object named by generateName, retrying when the random suffix collides (the real API server answers
 * 409 too, and its controllers retry); other errors are thrown.
 */
export function createGenerated(store: Store, key: string, obj: KObject): KObject {
  for (let attempt = 0; ; attempt++) {
    try {
      return store.create(key, obj);
    } catch (e) {
      const collision =
        e instanceof StoreError && e.code === 409 && !obj.metadata.name && obj.metadata.generateName;
      if (!collision || attempt >= 8) throw e;
    }
  }
}
