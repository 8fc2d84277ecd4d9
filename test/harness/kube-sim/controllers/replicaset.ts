// The ReplicaSet controller: keeps spec.replicas active pods from the template, deletes extras (least useful
// first), counts terminating pods as gone (so an evicted pod is replaced at once) and reports status.

import type { KObject } from '../store.ts';
import { controllerUid, K, splitKey } from './cache.ts';
import type { Controller, Ctx } from './context.ts';
import { createPod, podFromTemplate } from './pod-template.ts';
import { isPodActive, isPodAvailable, isPodReady, writeStatus } from './util.ts';

const PHASE_RANK: Record<string, number> = { Pending: 0, Unknown: 1, Running: 2 };

/** Which pods to delete first when scaling down, as the real controller ranks them (ActivePods ordering). */
function deletionOrder(a: KObject, b: KObject): number {
  const an = a.spec?.nodeName ? 1 : 0;
  const bn = b.spec?.nodeName ? 1 : 0;
  if (an !== bn) return an - bn;
  const ap = PHASE_RANK[a.status?.phase ?? 'Pending'] ?? 0;
  const bp = PHASE_RANK[b.status?.phase ?? 'Pending'] ?? 0;
  if (ap !== bp) return ap - bp;
  const ar = isPodReady(a) ? 1 : 0;
  const br = isPodReady(b) ? 1 : 0;
  if (ar !== br) return ar - br;
  const restarts = (p: KObject) =>
    (p.status?.containerStatuses ?? []).reduce((n: number, c: KObject) => n + (c.restartCount ?? 0), 0);
  if (restarts(a) !== restarts(b)) return restarts(b) - restarts(a);
  // Newer pods go first.
  return (b.metadata.creationTimestamp ?? '').localeCompare(a.metadata.creationTimestamp ?? '');
}

/** When the pod's Ready condition last turned True (ms), or now when unknown. */
function readySince(p: KObject): number {
  const c = p.status?.conditions?.find((x: KObject) => x.type === 'Ready');
  const t = Date.parse(c?.lastTransitionTime ?? '');
  return Number.isNaN(t) ? Date.now() : t;
}

export class ReplicaSetController implements Controller {
  readonly enqueue: (key: string) => void;
  private readonly ctx: Ctx;

  constructor(ctx: Ctx) {
    this.ctx = ctx;
    this.enqueue = ctx.rt.queue('replicaset', (k) => this.reconcile(k));
  }

  /** Routes a pod change to its owning ReplicaSet. */
  podChanged(pod: KObject): void {
    const uid = controllerUid(pod);
    if (!uid) return;
    const owner = this.ctx.cache.byUID(uid);
    if (owner?.key === K.replicasets)
      this.enqueue(`${owner.obj.metadata.namespace}/${owner.obj.metadata.name}`);
  }

  private reconcile(key: string): void {
    const { store, cache, rt } = this.ctx;
    const [ns, name] = splitKey(key);
    const rs = cache.get(K.replicasets, ns, name);
    if (!rs || rs.metadata.deletionTimestamp) return;
    const want = rs.spec?.replicas ?? 1;
    const active = cache.ownedBy(rs.metadata.uid!, K.pods).filter(isPodActive);
    const diff = active.length - want;
    if (diff < 0) {
      for (let i = 0; i < -diff; i++) {
        createPod(this.ctx, podFromTemplate(rs.spec?.template, rs, { generateName: `${name}-` }));
      }
    } else if (diff > 0) {
      for (const p of [...active].sort(deletionOrder).slice(0, diff)) {
        store.delete(K.pods, ns, p.metadata.name!);
      }
    }
    const now = rt.now();
    const minReady = rs.spec?.minReadySeconds ?? 0;
    const pods = cache.ownedBy(rs.metadata.uid!, K.pods).filter(isPodActive);
    const tmplLabels: Record<string, string> = rs.spec?.template?.metadata?.labels ?? {};
    let ready = 0;
    let available = 0;
    let fullyLabeled = 0;
    let nextAvailable = Number.POSITIVE_INFINITY;
    for (const p of pods) {
      if (isPodReady(p)) {
        ready++;
        if (isPodAvailable(p, minReady, now)) available++;
        else nextAvailable = Math.min(nextAvailable, readySince(p) + minReady * 1000);
      }
      if (Object.entries(tmplLabels).every(([k, v]) => p.metadata.labels?.[k] === v)) fullyLabeled++;
    }
    if (Number.isFinite(nextAvailable)) {
      rt.wakeUp(`rs|${key}`, Math.max(0, nextAvailable - now) + 5, () => this.enqueue(key));
    }
    writeStatus(store, K.replicasets, cache.get(K.replicasets, ns, name) ?? rs, {
      replicas: pods.length,
      fullyLabeledReplicas: fullyLabeled,
      readyReplicas: ready,
      availableReplicas: available,
      observedGeneration: rs.metadata.generation,
    });
  }
}
