// The simulator's object store: versioned, watchable Kubernetes objects with API-server semantics
// (uid, resourceVersion, generation, generateName, graceful deletion, owner-reference garbage collection).
// The HTTP layer, the simulated controllers and the tests all go through this one store.

import { randomUUID } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { applyDefaults } from './defaults.ts';
import { prepareJobCreate } from './job-strategy.ts';
import { apiVersionOf, findResource, type ResourceType, resourceKey } from './resources.ts';

// biome-ignore lint/suspicious/noExplicitAny: Kubernetes objects are open JSON documents.
export type KObject = { apiVersion?: string; kind?: string; metadata: KMeta; [field: string]: any };

export interface OwnerReference {
  apiVersion: string;
  kind: string;
  name: string;
  uid: string;
  controller?: boolean;
  blockOwnerDeletion?: boolean;
}

export interface KMeta {
  name?: string;
  generateName?: string;
  namespace?: string;
  uid?: string;
  resourceVersion?: string;
  generation?: number;
  creationTimestamp?: string;
  deletionTimestamp?: string;
  deletionGracePeriodSeconds?: number;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  ownerReferences?: OwnerReference[];
  finalizers?: string[];
  // biome-ignore lint/suspicious/noExplicitAny: open JSON.
  [field: string]: any;
}

export type WatchEventType = 'ADDED' | 'MODIFIED' | 'DELETED';

export interface StoreEvent {
  type: WatchEventType;
  /** `group/resource`, see resourceKey(). */
  key: string;
  /** A private copy: listeners may keep it. */
  object: KObject;
  /** Numeric resourceVersion of this change. */
  rv: number;
  /** For MODIFIED and DELETED: the object as it was before (shared, read-only), so watches can tell selector transitions. */
  previous?: KObject;
}

/** An API error with the status code, reason and message the real API server would send. */
export class StoreError extends Error {
  readonly code: number;
  readonly reason: string;
  readonly details: Record<string, unknown> | undefined;
  /** The Status's own list metadata (e.g. the `continue` token of a 410 for an expired list continuation). */
  readonly listMeta: Record<string, string> | undefined;
  constructor(
    code: number,
    reason: string,
    message: string,
    details?: Record<string, unknown>,
    listMeta?: Record<string, string>,
  ) {
    super(message);
    this.code = code;
    this.reason = reason;
    this.details = details;
    this.listMeta = listMeta;
  }
}

export interface WriteOptions {
  /** Validate and compute the result like the real `dryRun=All`, but store nothing and emit no event. */
  dryRun?: boolean;
}

export interface DeleteOptions extends WriteOptions {
  /** Seconds of graceful termination for pods on a node; 0 removes at once. Default: the pod's own, or 30. */
  gracePeriodSeconds?: number;
  propagationPolicy?: 'Background' | 'Foreground' | 'Orphan';
  preconditions?: { uid?: string; resourceVersion?: string };
}

export interface UpdateOptions extends WriteOptions {
  /** 'status' replaces only `.status`; anything else replaces everything but `.status` (for types with a status subresource). */
  subresource?: string;
}

const NAME_RE = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const GENERATE_ALPHABET = 'bcdfghjklmnpqrstvwxz2456789';
const HISTORY_LIMIT = 20_000;
const FOREGROUND = 'foregroundDeletion';

function now(): string {
  return new Date().toISOString().replace(/\.\d{3}Z$/, 'Z');
}

function randomSuffix(n = 5): string {
  let s = '';
  for (let i = 0; i < n; i++) s += GENERATE_ALPHABET[Math.floor(Math.random() * GENERATE_ALPHABET.length)];
  return s;
}

function objKey(ns: string | undefined, name: string): string {
  return `${ns ?? ''}/${name}`;
}

function typeOf(key: string): ResourceType {
  const slash = key.indexOf('/');
  const t = findResource(key.slice(0, slash), key.slice(slash + 1));
  if (!t) throw new Error(`kube-sim: unknown resource key ${key}`);
  return t;
}

function sameJSON(a: unknown, b: unknown): boolean {
  return JSON.stringify(a ?? null) === JSON.stringify(b ?? null);
}

/** Parts of an object whose change bumps metadata.generation (everything but metadata and status). */
function specPart(o: KObject): Record<string, unknown> {
  const { metadata: _m, status: _s, apiVersion: _a, kind: _k, ...rest } = o;
  return rest;
}

/** The object store; emits `event` (StoreEvent) for every change, which watches and controllers follow. */
export class Store extends EventEmitter {
  private rv = 1;
  private readonly tables = new Map<string, Map<string, KObject>>();
  private readonly history: StoreEvent[] = [];
  /** uid -> where the object lives, for owner lookups without scanning every table. */
  private readonly byUid = new Map<string, { key: string; k: string }>();
  /** owner uid -> dependents (`key\0objKey`), so garbage collection does not scan every table per removal. */
  private readonly byOwner = new Map<string, Set<string>>();
  /** Owners in foreground deletion: they go once their last dependent is gone. */
  private readonly foregroundOwners = new Set<string>();

  private readonly historyLimit: number;

  /** historyLimit: how many change events watches can replay (older resourceVersions get 410 Expired). */
  constructor(opts: { historyLimit?: number } = {}) {
    super();
    this.historyLimit = opts.historyLimit ?? HISTORY_LIMIT;
    this.setMaxListeners(0);
    for (const ns of ['default', 'kube-system', 'kube-public']) {
      this.create('/namespaces', { metadata: { name: ns } });
    }
  }

  /** Whether changes after resourceVersion `rv` are no longer all in the kept history (a watch or continue gets 410). */
  isCompacted(rv: number): boolean {
    const oldest = this.history[0]?.rv ?? this.rv;
    return rv < oldest - 1;
  }

  /** The current global resourceVersion (what a list returns). */
  get resourceVersion(): string {
    return String(this.rv);
  }

  private table(key: string): Map<string, KObject> {
    let t = this.tables.get(key);
    if (!t) {
      typeOf(key);
      t = new Map();
      this.tables.set(key, t);
    }
    return t;
  }

  /** Stores an object and keeps the uid and owner indexes in step. */
  private put(key: string, k: string, next: KObject, prev?: KObject): void {
    this.table(key).set(k, next);
    this.byUid.set(next.metadata.uid!, { key, k });
    const ref = `${key}\0${k}`;
    for (const r of (prev?.metadata.ownerReferences ?? []) as OwnerReference[])
      this.byOwner.get(r.uid)?.delete(ref);
    for (const r of (next.metadata.ownerReferences ?? []) as OwnerReference[]) {
      let set = this.byOwner.get(r.uid);
      if (!set) {
        set = new Set();
        this.byOwner.set(r.uid, set);
      }
      set.add(ref);
    }
  }

  private drop(key: string, k: string, prev: KObject): void {
    this.table(key).delete(k);
    this.byUid.delete(prev.metadata.uid!);
    const ref = `${key}\0${k}`;
    for (const r of (prev.metadata.ownerReferences ?? []) as OwnerReference[]) {
      const set = this.byOwner.get(r.uid);
      set?.delete(ref);
      if (set?.size === 0) this.byOwner.delete(r.uid);
    }
  }

  private record(type: WatchEventType, key: string, stored: KObject, previous?: KObject): void {
    const ev: StoreEvent = {
      type,
      key,
      object: structuredClone(stored),
      rv: Number(stored.metadata.resourceVersion),
      ...(previous ? { previous } : {}),
    };
    this.history.push(ev);
    // Trimmed in batches: shifting a 20,000-entry array on every write would make bulk inserts quadratic.
    if (this.history.length > this.historyLimit + Math.ceil(this.historyLimit / 4)) {
      this.history.splice(0, this.history.length - this.historyLimit);
    }
    this.emit('event', ev);
  }

  private notFound(key: string, name: string): StoreError {
    const t = typeOf(key);
    return new StoreError(
      404,
      'NotFound',
      `${t.resource}${t.group ? `.${t.group}` : ''} "${name}" not found`,
      {
        name,
        group: t.group,
        kind: t.resource,
      },
    );
  }

  /** A private copy of one object, or undefined. */
  get(key: string, namespace: string | undefined, name: string): KObject | undefined {
    const o = this.table(key).get(objKey(namespace, name));
    return o && structuredClone(o);
  }

  /** Like get(), but throws the API's 404. */
  mustGet(key: string, namespace: string | undefined, name: string): KObject {
    const o = this.get(key, namespace, name);
    if (!o) throw this.notFound(key, name);
    return o;
  }

  /**
   * The stored objects of a type (all namespaces when namespace is undefined), sorted by namespace/name,
   * NOT copied: callers must not mutate them (the HTTP layer clones the page it sends).
   */
  listRefs(key: string, namespace?: string): KObject[] {
    const out: KObject[] = [];
    for (const o of this.table(key).values()) {
      if (namespace === undefined || o.metadata.namespace === namespace) out.push(o);
    }
    out.sort((a, b) => {
      const ka = objKey(a.metadata.namespace, a.metadata.name!);
      const kb = objKey(b.metadata.namespace, b.metadata.name!);
      return ka < kb ? -1 : ka > kb ? 1 : 0;
    });
    return out;
  }

  /** Private copies of the objects of a type. */
  list(key: string, namespace?: string): KObject[] {
    return this.listRefs(key, namespace).map((o) => structuredClone(o));
  }

  /** Creates an object (metadata.name or generateName); returns the stored copy. Throws 409 AlreadyExists / 422 / 404 namespace. */
  create(key: string, input: KObject, opts: WriteOptions = {}): KObject {
    const t = typeOf(key);
    const o = structuredClone(input);
    o.metadata ??= {};
    const m = o.metadata;
    if (!m.name) {
      if (!m.generateName) {
        throw new StoreError(
          422,
          'Invalid',
          `${t.kind} "" is invalid: metadata.name: Required value: name or generateName is required`,
        );
      }
      m.name = `${m.generateName}${randomSuffix()}`;
    }
    if (!NAME_RE.test(m.name) || m.name.length > 253) {
      throw new StoreError(
        422,
        'Invalid',
        `${t.kind} "${m.name}" is invalid: metadata.name: Invalid value: "${m.name}": a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character`,
        { name: m.name, kind: t.kind },
      );
    }
    if (t.namespaced) {
      if (!m.namespace)
        throw new StoreError(
          422,
          'Invalid',
          `${t.kind} "${m.name}" is invalid: metadata.namespace: Required value`,
        );
      if (!this.table('/namespaces').has(objKey(undefined, m.namespace))) {
        throw new StoreError(404, 'NotFound', `namespaces "${m.namespace}" not found`, {
          name: m.namespace,
          kind: 'namespaces',
        });
      }
    } else {
      delete m.namespace;
    }
    const table = this.table(key);
    const k = objKey(m.namespace, m.name);
    if (table.has(k)) {
      throw new StoreError(
        409,
        'AlreadyExists',
        `${t.resource}${t.group ? `.${t.group}` : ''} "${m.name}" already exists`,
        {
          name: m.name,
          group: t.group,
          kind: t.resource,
        },
      );
    }
    o.apiVersion = apiVersionOf(t);
    o.kind = t.kind;
    m.uid = randomUUID();
    m.creationTimestamp = now();
    m.generation = 1;
    delete m.deletionTimestamp;
    delete m.deletionGracePeriodSeconds;
    if (t.kind === 'Namespace') o.status = { phase: 'Active' };
    if (t.kind === 'Job') prepareJobCreate(o);
    applyDefaults(o);
    if (opts.dryRun) {
      delete m.resourceVersion;
      return o;
    }
    m.resourceVersion = String(++this.rv);
    this.put(key, k, o);
    this.record('ADDED', key, o);
    // The garbage collector deletes what a controller still creates for an owner in foreground deletion.
    if ((m.ownerReferences ?? []).some((r: OwnerReference) => this.foregroundOwners.has(r.uid))) {
      return structuredClone(
        this.delete(key, m.namespace, m.name, { propagationPolicy: 'Foreground' }).object,
      );
    }
    return structuredClone(o);
  }

  /**
   * Replaces an object. A non-empty metadata.resourceVersion must match the stored one (409 Conflict otherwise).
   * Identity fields (uid, creationTimestamp, deletionTimestamp) are kept; generation grows when the spec changes.
   */
  update(key: string, input: KObject, opts: UpdateOptions = {}): KObject {
    const t = typeOf(key);
    const name = input.metadata?.name;
    if (!name) throw new StoreError(422, 'Invalid', `${t.kind} "" is invalid: metadata.name: Required value`);
    const table = this.table(key);
    const k = objKey(t.namespaced ? input.metadata.namespace : undefined, name);
    const old = table.get(k);
    if (!old) throw this.notFound(key, name);
    const wantRV = input.metadata.resourceVersion;
    if (wantRV && wantRV !== old.metadata.resourceVersion) {
      throw new StoreError(
        409,
        'Conflict',
        `Operation cannot be fulfilled on ${t.resource}${t.group ? `.${t.group}` : ''} "${name}": the object has been modified; please apply your changes to the latest version and try again`,
        { name, group: t.group, kind: t.resource },
      );
    }
    let next: KObject;
    const hasStatus = t.subresources.includes('status');
    if (opts.subresource === 'status') {
      next = structuredClone(old);
      next.status = structuredClone(input.status);
    } else {
      next = structuredClone(input);
      if (hasStatus) next.status = structuredClone(old.status);
      const m = next.metadata;
      m.namespace = old.metadata.namespace;
      if (!t.namespaced) delete m.namespace;
      m.uid = old.metadata.uid;
      m.creationTimestamp = old.metadata.creationTimestamp;
      m.generation = old.metadata.generation;
      if (old.metadata.deletionTimestamp) {
        m.deletionTimestamp = old.metadata.deletionTimestamp;
        m.deletionGracePeriodSeconds = old.metadata.deletionGracePeriodSeconds;
      } else {
        delete m.deletionTimestamp;
        delete m.deletionGracePeriodSeconds;
      }
      applyDefaults(next);
      if (!sameJSON(specPart(old), specPart(next))) m.generation = (old.metadata.generation ?? 1) + 1;
    }
    next.apiVersion = apiVersionOf(t);
    next.kind = t.kind;
    if (
      sameJSON(old, {
        ...next,
        metadata: { ...next.metadata, resourceVersion: old.metadata.resourceVersion },
      })
    ) {
      return structuredClone(old); // a no-op update does not bump resourceVersion, like the real server
    }
    if (opts.dryRun) return next;
    next.metadata.resourceVersion = String(++this.rv);
    this.put(key, k, next, old);
    this.record('MODIFIED', key, next, old);
    // An object that was waiting only for its finalizers goes once they are gone.
    if (next.metadata.deletionTimestamp && !next.metadata.finalizers?.length && t.kind !== 'Pod') {
      this.remove(key, next);
    }
    return structuredClone(next);
  }

  /**
   * Read-modify-write for controllers and tests: applies fn to a fresh copy and stores it, retrying on conflicts.
   * Returns the stored object, or undefined when the object does not exist (or fn returns false).
   */
  mutate(
    key: string,
    namespace: string | undefined,
    name: string,
    fn: (o: KObject) => undefined | boolean,
    opts: UpdateOptions = {},
  ): KObject | undefined {
    const o = this.get(key, namespace, name);
    if (!o) return undefined;
    if (fn(o) === false) return undefined;
    return this.update(key, o, opts);
  }

  /**
   * Deletes an object as the API server does. Pods bound to a node and objects with finalizers get a
   * deletionTimestamp and stay (MODIFIED) until the kubelet / finalizer removes them; everything else goes at once.
   * Returns the object as it is after the call (with deletionTimestamp) or as it was when removed.
   */
  delete(
    key: string,
    namespace: string | undefined,
    name: string,
    opts: DeleteOptions = {},
  ): { object: KObject; removed: boolean } {
    const t = typeOf(key);
    const table = this.table(key);
    const k = objKey(t.namespaced ? namespace : undefined, name);
    const old = table.get(k);
    if (!old) throw this.notFound(key, name);
    const pre = opts.preconditions;
    if (pre?.uid && pre.uid !== old.metadata.uid) {
      throw new StoreError(
        409,
        'Conflict',
        `Precondition failed: UID in precondition: ${pre.uid}, UID in object meta: ${old.metadata.uid}`,
      );
    }
    if (pre?.resourceVersion && pre.resourceVersion !== old.metadata.resourceVersion) {
      throw new StoreError(
        409,
        'Conflict',
        `Precondition failed: ResourceVersion in precondition: ${pre.resourceVersion}, ResourceVersion in meta: ${old.metadata.resourceVersion}`,
      );
    }
    const isBoundPod =
      t.kind === 'Pod' && !!old.spec?.nodeName && !['Succeeded', 'Failed'].includes(old.status?.phase);
    const grace = opts.gracePeriodSeconds ?? old.spec?.terminationGracePeriodSeconds ?? 30;
    const graceful = (isBoundPod && grace > 0) || (old.metadata.finalizers?.length ?? 0) > 0;
    if (opts.dryRun) return { object: structuredClone(old), removed: !graceful };
    if (opts.propagationPolicy === 'Orphan') this.orphanDependents(old.metadata.uid!);
    if (opts.propagationPolicy === 'Foreground' && this.dependents(old.metadata.uid!).length > 0) {
      return this.deleteForeground(key, k, old);
    }
    if (graceful) {
      if (old.metadata.deletionTimestamp) return { object: structuredClone(old), removed: false };
      const next = structuredClone(old);
      // A terminating pod's timestamp is when its grace period ends; a finalizer wait starts now.
      next.metadata.deletionTimestamp = new Date(Date.now() + (isBoundPod ? grace : 0) * 1000)
        .toISOString()
        .replace(/\.\d{3}Z$/, 'Z');
      next.metadata.deletionGracePeriodSeconds = isBoundPod ? grace : 0;
      next.metadata.resourceVersion = String(++this.rv);
      this.put(key, k, next, old);
      this.record('MODIFIED', key, next, old);
      return { object: structuredClone(next), removed: false };
    }
    this.remove(key, old);
    return { object: structuredClone(old), removed: true };
  }

  /**
   * Foreground cascading deletion as the garbage collector does it: the owner gets a deletionTimestamp and the
   * `foregroundDeletion` finalizer, its dependents are deleted (foreground too), and the owner goes when the last
   * one is gone (terminating pods wait for the kubelet).
   */
  private deleteForeground(key: string, k: string, old: KObject): { object: KObject; removed: boolean } {
    const uid = old.metadata.uid!;
    let current = old;
    if (!old.metadata.finalizers?.includes(FOREGROUND)) {
      const next = structuredClone(old);
      next.metadata.deletionTimestamp ??= now();
      next.metadata.deletionGracePeriodSeconds ??= 0;
      next.metadata.finalizers = [...(old.metadata.finalizers ?? []), FOREGROUND];
      next.metadata.resourceVersion = String(++this.rv);
      this.put(key, k, next, old);
      this.record('MODIFIED', key, next, old);
      current = next;
    }
    this.foregroundOwners.add(uid);
    this.collectDependents(uid, 'Foreground');
    this.releaseForeground(uid);
    // Like the real server, the answer is the object as it was when deletion started.
    return { object: structuredClone(current), removed: false };
  }

  /** Drops the foregroundDeletion finalizer of an owner whose dependents are all gone (which removes it). */
  private releaseForeground(uid: string): void {
    if (!this.foregroundOwners.has(uid) || this.dependents(uid).length > 0) return;
    this.foregroundOwners.delete(uid);
    const loc = this.byUid.get(uid);
    const o = loc && this.tables.get(loc.key)?.get(loc.k);
    if (!loc || !o) return;
    this.mutate(loc.key, o.metadata.namespace, o.metadata.name!, (c) => {
      c.metadata.finalizers = (c.metadata.finalizers ?? []).filter((f: string) => f !== FOREGROUND);
      if (c.metadata.finalizers.length === 0) delete c.metadata.finalizers;
      return undefined;
    });
  }

  /** Removes an object now (the kubelet's final step for a terminating pod); garbage-collects its dependents. */
  remove(key: string, obj: KObject): void {
    const t = typeOf(key);
    const table = this.table(key);
    const k = objKey(t.namespaced ? obj.metadata.namespace : undefined, obj.metadata.name!);
    const stored = table.get(k);
    if (!stored) return;
    this.drop(key, k, stored);
    const gone = structuredClone(stored);
    gone.metadata.resourceVersion = String(++this.rv);
    this.record('DELETED', key, gone, stored);
    this.foregroundOwners.delete(stored.metadata.uid!);
    this.collectDependents(stored.metadata.uid!);
    for (const r of (stored.metadata.ownerReferences ?? []) as OwnerReference[])
      this.releaseForeground(r.uid);
    if (t.kind === 'Namespace') {
      for (const [tk, tab] of this.tables) {
        for (const o of [...tab.values()])
          if (o.metadata.namespace === stored.metadata.name) this.remove(tk, o);
      }
    }
  }

  private dependents(uid: string): Array<[string, KObject]> {
    const out: Array<[string, KObject]> = [];
    for (const ref of this.byOwner.get(uid) ?? []) {
      const [tk, k] = ref.split('\0') as [string, string];
      const o = this.tables.get(tk)?.get(k);
      if (o) out.push([tk, o]);
    }
    return out;
  }

  private collectDependents(uid: string, policy: 'Background' | 'Foreground' = 'Background'): void {
    for (const [tk, o] of this.dependents(uid)) {
      const refs = (o.metadata.ownerReferences as OwnerReference[]).filter((r) => r.uid !== uid);
      if (refs.some((r) => this.ownerExists(r))) {
        this.mutate(tk, o.metadata.namespace, o.metadata.name!, (c) => {
          c.metadata.ownerReferences = refs;
          return undefined;
        });
        continue;
      }
      try {
        this.delete(tk, o.metadata.namespace, o.metadata.name!, { propagationPolicy: policy });
      } catch (e) {
        if (!(e instanceof StoreError && e.code === 404)) throw e;
      }
    }
  }

  private ownerExists(r: OwnerReference): boolean {
    return this.byUid.has(r.uid);
  }

  private orphanDependents(uid: string): void {
    for (const [tk, o] of this.dependents(uid)) {
      this.mutate(tk, o.metadata.namespace, o.metadata.name!, (c) => {
        c.metadata.ownerReferences = (c.metadata.ownerReferences as OwnerReference[]).filter(
          (r) => r.uid !== uid,
        );
        if (c.metadata.ownerReferences.length === 0) delete c.metadata.ownerReferences;
        return undefined;
      });
    }
  }

  /**
   * Subscribes to changes of one type (optionally one namespace) after resourceVersion `fromRV`
   * (replaying history newer than it). Throws 410 Gone when fromRV is older than the kept history.
   * Returns the unsubscribe function.
   */
  watch(
    key: string,
    namespace: string | undefined,
    fromRV: number | undefined,
    cb: (ev: StoreEvent) => void,
  ): () => void {
    this.table(key);
    const match = (ev: StoreEvent) =>
      ev.key === key && (namespace === undefined || ev.object.metadata.namespace === namespace);
    if (fromRV !== undefined && fromRV > 0) {
      if (this.isCompacted(fromRV)) {
        const oldest = this.history[0]?.rv ?? this.rv;
        throw new StoreError(410, 'Expired', `too old resource version: ${fromRV} (${oldest})`);
      }
      for (const ev of this.history) if (ev.rv > fromRV && match(ev)) cb(ev);
    }
    const listener = (ev: StoreEvent) => {
      if (match(ev)) cb(ev);
    };
    this.on('event', listener);
    return () => this.off('event', listener);
  }
}

export { resourceKey };
