// The Deployment controller: one ReplicaSet per template (`<deploy>-<pod-template-hash>`), rolling updates
// bounded by maxSurge/maxUnavailable or Recreate, revision annotations, old ReplicaSets kept for `rollout undo`,
// and the status and conditions that `kubectl rollout status` reads.

import type { KObject } from '../store.ts';
import { controllerUid, K, splitKey } from './cache.ts';
import type { Controller, Ctx } from './context.ts';
import {
  type Condition,
  getCondition,
  intOrPercent,
  isoSeconds,
  ownerRef,
  scaleTo,
  setCondition,
  templateHash,
  templatesEqual,
  writeStatus,
} from './util.ts';

const REVISION = 'deployment.kubernetes.io/revision';
const DESIRED = 'deployment.kubernetes.io/desired-replicas';
const MAX = 'deployment.kubernetes.io/max-replicas';
const REVISION_HISTORY = 'deployment.kubernetes.io/revision-history';
// Annotations the real controller does not copy from a Deployment to its ReplicaSets.
const SKIP_COPY = new Set([
  REVISION,
  REVISION_HISTORY,
  DESIRED,
  MAX,
  'kubectl.kubernetes.io/last-applied-configuration',
]);

function revisionOf(rs: KObject): number {
  const n = Number(rs.metadata.annotations?.[REVISION]);
  return Number.isFinite(n) ? n : 0;
}

function byCreation(a: KObject, b: KObject): number {
  const c = (a.metadata.creationTimestamp ?? '').localeCompare(b.metadata.creationTimestamp ?? '');
  return c !== 0 ? c : (a.metadata.name ?? '').localeCompare(b.metadata.name ?? '');
}

/** maxSurge and maxUnavailable resolved against replicas; never both 0 (as the real controller). */
export function surgeAndUnavailable(d: KObject): { surge: number; unavailable: number } {
  const replicas = d.spec?.replicas ?? 1;
  if (d.spec?.strategy?.type === 'Recreate') return { surge: 0, unavailable: 0 };
  const ru = d.spec?.strategy?.rollingUpdate ?? {};
  const surge = intOrPercent(ru.maxSurge, replicas, true, '25%');
  let unavailable = intOrPercent(ru.maxUnavailable, replicas, false, '25%');
  if (surge === 0 && unavailable === 0) unavailable = 1;
  return { surge, unavailable: Math.min(unavailable, replicas) };
}

export class DeploymentController implements Controller {
  readonly enqueue: (key: string) => void;
  private readonly ctx: Ctx;

  constructor(ctx: Ctx) {
    this.ctx = ctx;
    this.enqueue = ctx.rt.queue('deployment', (k) => this.reconcile(k));
  }

  /** Routes a ReplicaSet change to its owning Deployment. */
  replicaSetChanged(rs: KObject): void {
    const uid = controllerUid(rs);
    if (!uid) return;
    const owner = this.ctx.cache.byUID(uid);
    if (owner?.key === K.deployments)
      this.enqueue(`${owner.obj.metadata.namespace}/${owner.obj.metadata.name}`);
  }

  /** A pod went away: a Recreate rollout may be waiting for exactly that. */
  podRemoved(pod: KObject): void {
    const rsUid = controllerUid(pod);
    const rs = rsUid ? this.ctx.cache.byUID(rsUid) : undefined;
    if (rs?.key === K.replicasets) this.replicaSetChanged(rs.obj);
  }

  private owned(d: KObject): KObject[] {
    return this.ctx.cache
      .ownedBy(d.metadata.uid!, K.replicasets)
      .filter((rs) => !rs.metadata.deletionTimestamp)
      .sort(byCreation);
  }

  private reconcile(key: string): void {
    const { cache } = this.ctx;
    const [ns, name] = splitKey(key);
    const d = cache.get(K.deployments, ns, name);
    if (!d || d.metadata.deletionTimestamp) return;
    const all = this.owned(d);
    const newRS = all.find((rs) => templatesEqual(rs.spec?.template, d.spec?.template));
    const old = all.filter((rs) => rs !== newRS);
    let created: KObject | undefined;
    if (d.spec?.paused) {
      // A paused Deployment only follows scale changes of its current ReplicaSet.
      if (newRS && old.every((rs) => (rs.spec?.replicas ?? 0) === 0))
        this.scale(d, newRS, d.spec?.replicas ?? 1);
    } else if (d.spec?.strategy?.type === 'Recreate') {
      created = this.recreate(d, newRS, old);
    } else {
      created = this.rolling(d, newRS, old);
    }
    this.syncRevision(d, created ?? newRS, old);
    this.cleanup(d);
    this.updateStatus(key, created);
  }

  /** Creates the ReplicaSet for the current template with `replicas`, or returns the one that already exists. */
  private createRS(d: KObject, old: KObject[], replicas: number): KObject {
    const { store, cache } = this.ctx;
    const hash = templateHash(d.spec.template, d.status?.collisionCount ?? 0);
    const name = `${d.metadata.name}-${hash}`;
    const existing = cache.get(K.replicasets, d.metadata.namespace, name);
    if (existing && controllerUid(existing) === d.metadata.uid) return existing;
    const template = structuredClone(d.spec.template ?? {});
    template.metadata ??= {};
    template.metadata.labels = { ...(template.metadata.labels ?? {}), 'pod-template-hash': hash };
    const selector = structuredClone(d.spec.selector ?? {});
    selector.matchLabels = { ...(selector.matchLabels ?? {}), 'pod-template-hash': hash };
    const maxOld = Math.max(0, ...old.map(revisionOf));
    const { surge } = surgeAndUnavailable(d);
    const annotations: Record<string, string> = {};
    for (const [k, v] of Object.entries((d.metadata.annotations ?? {}) as Record<string, string>)) {
      if (!SKIP_COPY.has(k)) annotations[k] = v;
    }
    annotations[REVISION] = String(maxOld + 1);
    annotations[DESIRED] = String(d.spec.replicas ?? 1);
    annotations[MAX] = String((d.spec.replicas ?? 1) + surge);
    return store.create(K.replicasets, {
      metadata: {
        name,
        namespace: d.metadata.namespace,
        labels: { ...(d.spec.template?.metadata?.labels ?? {}), 'pod-template-hash': hash },
        annotations,
        ownerReferences: [ownerRef(d)],
      },
      spec: {
        replicas,
        minReadySeconds: d.spec.minReadySeconds ?? 0,
        selector,
        template,
      },
    });
  }

  private scale(d: KObject, rs: KObject, replicas: number): void {
    const { surge } = surgeAndUnavailable(d);
    scaleTo(this.ctx.store, K.replicasets, rs, replicas, {
      [DESIRED]: String(d.spec?.replicas ?? 1),
      [MAX]: String((d.spec?.replicas ?? 1) + surge),
    });
  }

  private fresh(rs: KObject): KObject {
    return this.ctx.cache.get(K.replicasets, rs.metadata.namespace, rs.metadata.name!) ?? rs;
  }

  /** Whether every ReplicaSet's status reflects its latest spec (else scaling decisions would use stale counts). */
  private synced(list: KObject[]): boolean {
    return list.every((rs) => (rs.status?.observedGeneration ?? 0) >= (rs.metadata.generation ?? 1));
  }

  private recreate(d: KObject, newRS: KObject | undefined, old: KObject[]): KObject | undefined {
    const replicas = d.spec?.replicas ?? 1;
    let busy = false;
    for (const rs of old) {
      if ((rs.spec?.replicas ?? 0) > 0) this.scale(d, rs, 0);
      if (this.ctx.cache.ownedBy(rs.metadata.uid!, K.pods).length > 0) busy = true;
    }
    // Recreate waits until every old pod is gone before starting the new ones.
    if (busy) return undefined;
    if (!newRS) return this.createRS(d, old, replicas);
    this.scale(d, newRS, replicas);
    return undefined;
  }

  private rolling(d: KObject, newRS: KObject | undefined, old: KObject[]): KObject | undefined {
    const replicas = d.spec?.replicas ?? 1;
    const { surge, unavailable } = surgeAndUnavailable(d);
    const specSum = (list: KObject[]) => list.reduce((n, rs) => n + (rs.spec?.replicas ?? 0), 0);
    let created: KObject | undefined;
    let current = newRS;
    if (!current) {
      const oldCount = specSum(old);
      const initial =
        oldCount === 0 ? replicas : Math.max(0, Math.min(replicas + surge - oldCount, replicas));
      created = this.createRS(d, old, initial);
      current = created;
    }
    if (!this.synced([...old, current])) return created;
    // Scale the new ReplicaSet up within maxSurge.
    const nr = current.spec?.replicas ?? 0;
    if (nr > replicas) this.scale(d, current, replicas);
    else if (nr < replicas) {
      const total = specSum(old) + nr;
      const room = replicas + surge - total;
      if (room > 0) this.scale(d, current, nr + Math.min(room, replicas - nr));
    }
    current = this.fresh(current);
    const olds = old.map((rs) => this.fresh(rs));
    if (specSum(olds) === 0) return created;
    // Scale old ReplicaSets down within maxUnavailable (reconcileOldReplicaSets).
    const allCount = specSum(olds) + (current.spec?.replicas ?? 0);
    const minAvailable = replicas - unavailable;
    const newUnavailable = (current.spec?.replicas ?? 0) - (current.status?.availableReplicas ?? 0);
    const maxScaledDown = allCount - minAvailable - newUnavailable;
    if (maxScaledDown <= 0) return created;
    let cleaned = 0;
    for (const rs of olds) {
      if (cleaned >= maxScaledDown) break;
      const spec = rs.spec?.replicas ?? 0;
      const unhealthy = spec - (rs.status?.availableReplicas ?? 0);
      if (spec === 0 || unhealthy <= 0) continue;
      const down = Math.min(maxScaledDown - cleaned, unhealthy);
      this.scale(d, rs, spec - down);
      cleaned += down;
    }
    const after = olds.map((rs) => this.fresh(rs));
    const availableAll =
      after.reduce((n, rs) => n + Math.min(rs.status?.availableReplicas ?? 0, rs.spec?.replicas ?? 0), 0) +
      (current.status?.availableReplicas ?? 0);
    if (availableAll <= minAvailable) return created;
    let budget = availableAll - minAvailable;
    for (const rs of after) {
      if (budget <= 0) break;
      const spec = rs.spec?.replicas ?? 0;
      if (spec === 0) continue;
      const down = Math.min(spec, budget);
      this.scale(d, rs, spec - down);
      budget -= down;
    }
    return created;
  }

  /** Gives the current ReplicaSet the next revision when an old one was reactivated (rollout undo), like the real one. */
  private syncRevision(d: KObject, newRS: KObject | undefined, old: KObject[]): void {
    const { store } = this.ctx;
    if (!newRS) return;
    const fresh = this.fresh(newRS);
    const maxOld = Math.max(0, ...old.map(revisionOf));
    const have = revisionOf(fresh);
    if (have <= maxOld) {
      store.mutate(K.replicasets, fresh.metadata.namespace, fresh.metadata.name!, (o) => {
        o.metadata.annotations ??= {};
        const ann = o.metadata.annotations;
        if (ann[REVISION])
          ann[REVISION_HISTORY] = ann[REVISION_HISTORY]
            ? `${ann[REVISION_HISTORY]},${ann[REVISION]}`
            : ann[REVISION];
        ann[REVISION] = String(maxOld + 1);
        return undefined;
      });
    }
    const rev = String(revisionOf(this.fresh(newRS)));
    if (d.metadata.annotations?.[REVISION] !== rev) {
      store.mutate(K.deployments, d.metadata.namespace, d.metadata.name!, (o) => {
        o.metadata.annotations = { ...(o.metadata.annotations ?? {}), [REVISION]: rev };
        return undefined;
      });
    }
  }

  /** Deletes the oldest fully scaled-down ReplicaSets beyond revisionHistoryLimit. */
  private cleanup(d: KObject): void {
    const limit = d.spec?.revisionHistoryLimit ?? 10;
    const fresh = this.ctx.cache.get(K.deployments, d.metadata.namespace, d.metadata.name!) ?? d;
    const all = this.owned(fresh);
    const old = all.filter((rs) => !templatesEqual(rs.spec?.template, fresh.spec?.template));
    let extra = old.length - limit;
    if (extra <= 0) return;
    for (const rs of old.sort((a, b) => revisionOf(a) - revisionOf(b))) {
      if (extra <= 0) break;
      if ((rs.spec?.replicas ?? 0) !== 0 || (rs.status?.replicas ?? 0) !== 0) continue;
      if (this.ctx.cache.ownedBy(rs.metadata.uid!, K.pods).length > 0) continue;
      this.ctx.store.delete(K.replicasets, rs.metadata.namespace, rs.metadata.name!);
      extra--;
    }
  }

  private updateStatus(key: string, created: KObject | undefined): void {
    const { store, cache, rt } = this.ctx;
    const [ns, name] = splitKey(key);
    const d = cache.get(K.deployments, ns, name);
    if (!d) return;
    const replicas = d.spec?.replicas ?? 1;
    const all = this.owned(d);
    const newRS = all.find((rs) => templatesEqual(rs.spec?.template, d.spec?.template));
    const sum = (f: (rs: KObject) => number) => all.reduce((n, rs) => n + f(rs), 0);
    const prev = d.status ?? {};
    const status: Record<string, unknown> & { conditions?: Condition[] } = {
      observedGeneration: d.metadata.generation,
      replicas: sum((rs) => rs.status?.replicas ?? 0),
      updatedReplicas: newRS?.status?.replicas ?? 0,
      readyReplicas: sum((rs) => rs.status?.readyReplicas ?? 0),
      availableReplicas: sum((rs) => rs.status?.availableReplicas ?? 0),
      unavailableReplicas: 0,
      conditions: prev.conditions ? structuredClone(prev.conditions) : [],
    };
    status.unavailableReplicas = Math.max(
      0,
      sum((rs) => rs.spec?.replicas ?? 0) - (status.availableReplicas as number),
    );
    if (prev.collisionCount !== undefined) status.collisionCount = prev.collisionCount;
    const nowMs = rt.now();
    const now = isoSeconds(nowMs);
    const { unavailable } = surgeAndUnavailable(d);
    const available = (status.availableReplicas as number) >= replicas - unavailable;
    status.conditions = setCondition(
      status.conditions,
      available
        ? {
            type: 'Available',
            status: 'True',
            reason: 'MinimumReplicasAvailable',
            message: 'Deployment has minimum availability.',
          }
        : {
            type: 'Available',
            status: 'False',
            reason: 'MinimumReplicasUnavailable',
            message: 'Deployment does not have minimum availability.',
          },
      now,
      { updateTime: true },
    );
    const rsName = newRS?.metadata.name ?? '';
    const deadline = d.spec?.progressDeadlineSeconds ?? 600;
    let cond = getCondition(status.conditions, 'Progressing');
    const set = (c: Condition) => {
      status.conditions = setCondition(status.conditions, c, now, { updateTime: true });
      cond = getCondition(status.conditions, 'Progressing');
    };
    if (d.spec?.paused) {
      if (cond?.reason !== 'DeploymentPaused')
        set({
          type: 'Progressing',
          status: 'Unknown',
          reason: 'DeploymentPaused',
          message: 'Deployment is paused',
        });
    } else {
      if (cond?.reason === 'DeploymentPaused')
        set({
          type: 'Progressing',
          status: 'Unknown',
          reason: 'DeploymentResumed',
          message: 'Deployment is resumed',
        });
      if (created) {
        set({
          type: 'Progressing',
          status: 'True',
          reason: 'NewReplicaSetCreated',
          message: `Created new replica set "${rsName}"`,
        });
      }
      const complete =
        status.updatedReplicas === replicas &&
        status.replicas === replicas &&
        status.availableReplicas === replicas &&
        all.every((rs) => rs === newRS || (rs.spec?.replicas ?? 0) === 0);
      const alreadyComplete =
        status.replicas === status.updatedReplicas && cond?.reason === 'NewReplicaSetAvailable';
      if (!alreadyComplete && !created) {
        const oldOld = (prev.replicas ?? 0) - (prev.updatedReplicas ?? 0);
        const newOld = (status.replicas as number) - (status.updatedReplicas as number);
        const progressing =
          (status.updatedReplicas as number) > (prev.updatedReplicas ?? 0) ||
          newOld < oldOld ||
          (status.readyReplicas as number) > (prev.readyReplicas ?? 0) ||
          (status.availableReplicas as number) > (prev.availableReplicas ?? 0);
        if (complete) {
          set({
            type: 'Progressing',
            status: 'True',
            reason: 'NewReplicaSetAvailable',
            message: `ReplicaSet "${rsName}" has successfully progressed.`,
          });
        } else if (progressing || !cond) {
          // The update time moves with every step forward, which restarts the progress deadline.
          const c: Condition = {
            type: 'Progressing',
            status: 'True',
            reason: 'ReplicaSetUpdated',
            message: `ReplicaSet "${rsName}" is progressing.`,
          };
          status.conditions = setCondition(status.conditions, c, now);
          const i = status.conditions.findIndex((x) => x.type === 'Progressing');
          status.conditions[i] = { ...status.conditions[i]!, lastUpdateTime: now };
          cond = status.conditions[i];
        } else if (
          cond &&
          cond.reason !== 'ProgressDeadlineExceeded' &&
          cond.reason !== 'NewReplicaSetAvailable'
        ) {
          const from = Date.parse(cond.lastUpdateTime ?? cond.lastTransitionTime ?? now);
          const due = from + deadline * 1000;
          if (due < nowMs) {
            set({
              type: 'Progressing',
              status: 'False',
              reason: 'ProgressDeadlineExceeded',
              message: `ReplicaSet "${rsName}" has timed out progressing.`,
            });
          } else {
            rt.wakeUp(`deploy|${key}`, due - nowMs + 5, () => this.enqueue(key));
          }
        }
      }
      // A step forward that happened within the same write keeps the deadline clock running.
      if (cond && cond.status === 'True' && cond.reason !== 'NewReplicaSetAvailable') {
        const from = Date.parse(cond.lastUpdateTime ?? now);
        rt.wakeUp(`deploy|${key}`, Math.max(0, from + deadline * 1000 - nowMs) + 5, () => this.enqueue(key));
      }
    }
    writeStatus(store, K.deployments, d, status);
  }
}
