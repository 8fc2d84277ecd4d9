// An informer-like read cache over the Store, fed synchronously by its events: controllers read objects and
// "what does this owner control" from here without cloning or sorting the store's tables on every reconcile.

import type { KObject, Store, StoreEvent } from '../store.ts';

/** Store keys of the types the controllers read. */
export const K = {
  pods: '/pods',
  nodes: '/nodes',
  secrets: '/secrets',
  serviceaccounts: '/serviceaccounts',
  namespaces: '/namespaces',
  events: '/events',
  deployments: 'apps/deployments',
  replicasets: 'apps/replicasets',
  statefulsets: 'apps/statefulsets',
  daemonsets: 'apps/daemonsets',
  controllerrevisions: 'apps/controllerrevisions',
  jobs: 'batch/jobs',
  cronjobs: 'batch/cronjobs',
  pdbs: 'policy/poddisruptionbudgets',
} as const;

const WATCHED: readonly string[] = Object.values(K);

/** `namespace/name` (cluster-scoped: `/name`), the queue key of an object. */
export function keyOf(o: KObject): string {
  return `${o.metadata.namespace ?? ''}/${o.metadata.name}`;
}

/** Splits a queue key back into namespace and name. */
export function splitKey(key: string): [string | undefined, string] {
  const i = key.indexOf('/');
  const ns = key.slice(0, i);
  return [ns === '' ? undefined : ns, key.slice(i + 1)];
}

/** The uid of the object's controlling owner, if any. */
export function controllerUid(o: KObject): string | undefined {
  return o.metadata.ownerReferences?.find((r) => r.controller)?.uid;
}

export class ObjectCache {
  private readonly tables = new Map<string, Map<string, Map<string, KObject>>>();
  private readonly owned = new Map<string, Map<string, KObject>>();
  private readonly byUid = new Map<string, { key: string; obj: KObject }>();

  constructor(store: Store) {
    for (const key of WATCHED) {
      this.tables.set(key, new Map());
      for (const o of store.listRefs(key)) this.put(key, structuredClone(o));
    }
  }

  /** Applies one store event; returns the object as it was before (undefined for a new one). */
  apply(ev: StoreEvent): KObject | undefined {
    if (!this.tables.has(ev.key)) return undefined;
    const prev = this.getRaw(ev.key, ev.object.metadata.namespace, ev.object.metadata.name!);
    if (prev) this.drop(ev.key, prev);
    if (ev.type !== 'DELETED') this.put(ev.key, ev.object);
    return prev;
  }

  private put(key: string, o: KObject): void {
    const ns = o.metadata.namespace ?? '';
    const t = this.tables.get(key)!;
    let nsMap = t.get(ns);
    if (!nsMap) {
      nsMap = new Map();
      t.set(ns, nsMap);
    }
    nsMap.set(o.metadata.name!, o);
    this.byUid.set(o.metadata.uid!, { key, obj: o });
    const owner = controllerUid(o);
    if (owner) {
      let m = this.owned.get(owner);
      if (!m) {
        m = new Map();
        this.owned.set(owner, m);
      }
      m.set(`${key}|${ns}/${o.metadata.name}`, o);
    }
  }

  private drop(key: string, o: KObject): void {
    const ns = o.metadata.namespace ?? '';
    this.tables.get(key)?.get(ns)?.delete(o.metadata.name!);
    this.byUid.delete(o.metadata.uid!);
    const owner = controllerUid(o);
    if (owner) {
      const m = this.owned.get(owner);
      m?.delete(`${key}|${ns}/${o.metadata.name}`);
      if (m && m.size === 0) this.owned.delete(owner);
    }
  }

  private getRaw(key: string, ns: string | undefined, name: string): KObject | undefined {
    return this.tables
      .get(key)
      ?.get(ns ?? '')
      ?.get(name);
  }

  /** The cached object (shared: never mutate it). */
  get(key: string, ns: string | undefined, name: string): KObject | undefined {
    return this.getRaw(key, ns, name);
  }

  /** The cached object with this uid, and its type key. */
  byUID(uid: string): { key: string; obj: KObject } | undefined {
    return this.byUid.get(uid);
  }

  /** Cached objects of a type, in one namespace or all (unsorted, shared). */
  list(key: string, ns?: string): KObject[] {
    const t = this.tables.get(key);
    if (!t) return [];
    if (ns !== undefined) return [...(t.get(ns)?.values() ?? [])];
    const out: KObject[] = [];
    for (const m of t.values()) out.push(...m.values());
    return out;
  }

  /** Objects of a type whose controlling owner has this uid. */
  ownedBy(uid: string, key: string): KObject[] {
    const m = this.owned.get(uid);
    if (!m) return [];
    const out: KObject[] = [];
    const prefix = `${key}|`;
    for (const [k, o] of m) if (k.startsWith(prefix)) out.push(o);
    return out;
  }
}
