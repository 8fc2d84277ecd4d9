// The StatefulSet controller: pods `<name>-<ordinal>` created in order (OrderedReady) or all at once (Parallel),
// a deleted or evicted pod recreated under the same name once the old one is gone, rolling updates in reverse
// ordinal order, ControllerRevisions and the `controller-revision-hash` label.

import type { KObject } from '../store.ts';
import { controllerUid, K, splitKey } from './cache.ts';
import type { Controller, Ctx } from './context.ts';
import { createPod, podFromTemplate } from './pod-template.ts';
import { ensureControllerRevision } from './revisions.ts';
import { isPodAvailable, isPodReady, sameStatus, templateHash, writeStatus } from './util.ts';

const REVISION_LABEL = 'controller-revision-hash';

function runningAndReady(p: KObject): boolean {
  return p.status?.phase === 'Running' && isPodReady(p) && !p.metadata.deletionTimestamp;
}

export class StatefulSetController implements Controller {
  readonly enqueue: (key: string) => void;
  private readonly ctx: Ctx;

  constructor(ctx: Ctx) {
    this.ctx = ctx;
    this.enqueue = ctx.rt.queue('statefulset', (k) => this.reconcile(k));
  }

  /** Routes a pod change to its owning StatefulSet. */
  podChanged(pod: KObject): void {
    const uid = controllerUid(pod);
    if (!uid) return;
    const owner = this.ctx.cache.byUID(uid);
    if (owner?.key === K.statefulsets)
      this.enqueue(`${owner.obj.metadata.namespace}/${owner.obj.metadata.name}`);
  }

  private templateFor(sts: KObject, revName: string): KObject | undefined {
    const rev = this.ctx.cache.get(K.controllerrevisions, sts.metadata.namespace, revName);
    const t = rev?.data?.spec?.template;
    if (!t) return undefined;
    const { $patch: _p, ...rest } = t;
    return rest as KObject;
  }

  private reconcile(key: string): void {
    const { store, cache, rt } = this.ctx;
    const [ns, name] = splitKey(key);
    const sts = cache.get(K.statefulsets, ns, name);
    if (!sts || sts.metadata.deletionTimestamp) return;
    const replicas = sts.spec?.replicas ?? 1;
    const hash = templateHash(sts.spec?.template);
    const updateRevision = `${name}-${hash}`;
    ensureControllerRevision(this.ctx, sts, updateRevision, hash);
    const currentRevision: string = sts.status?.currentRevision ?? updateRevision;
    const ordered = (sts.spec?.podManagementPolicy ?? 'OrderedReady') === 'OrderedReady';
    const partition = sts.spec?.updateStrategy?.rollingUpdate?.partition ?? 0;
    const re = new RegExp(`^${name.replace(/[.]/g, '\\.')}-(\\d+)$`);
    const byOrdinal = new Map<number, KObject>();
    for (const p of cache.ownedBy(sts.metadata.uid!, K.pods)) {
      const m = re.exec(p.metadata.name!);
      if (m) byOrdinal.set(Number(m[1]), p);
    }
    const makePod = (i: number) => {
      const rev = i < partition && currentRevision !== updateRevision ? currentRevision : updateRevision;
      const template = this.templateFor(sts, rev) ?? sts.spec?.template;
      const podName = `${name}-${i}`;
      const pod = podFromTemplate(template, sts, {
        name: podName,
        labels: {
          [REVISION_LABEL]: rev,
          'statefulset.kubernetes.io/pod-name': podName,
          'apps.kubernetes.io/pod-index': String(i),
        },
      });
      pod.spec.hostname = podName;
      if (sts.spec?.serviceName) pod.spec.subdomain = sts.spec.serviceName;
      createPod(this.ctx, pod);
    };
    let blocked = false;
    for (let i = 0; i < replicas && !blocked; i++) {
      const p = byOrdinal.get(i);
      if (!p) {
        makePod(i);
        if (ordered) blocked = true;
        continue;
      }
      if (p.metadata.deletionTimestamp) {
        if (ordered) blocked = true;
        continue;
      }
      if (p.status?.phase === 'Failed' || p.status?.phase === 'Succeeded') {
        store.delete(K.pods, ns, p.metadata.name!);
        if (ordered) blocked = true;
        continue;
      }
      if (ordered && !runningAndReady(p)) blocked = true;
    }
    // Condemned pods (ordinal >= replicas) go highest first; OrderedReady waits for each to be gone.
    const condemned = [...byOrdinal.entries()].filter(([i]) => i >= replicas).sort((a, b) => b[0] - a[0]);
    const inRange = [...byOrdinal.entries()].filter(([i]) => i < replicas).map(([, p]) => p);
    const allHealthy = inRange.length === replicas && inRange.every(runningAndReady);
    for (const [, p] of condemned) {
      if (p.metadata.deletionTimestamp) {
        if (ordered) break;
        continue;
      }
      if (ordered && !allHealthy) break;
      store.delete(K.pods, ns, p.metadata.name!);
      if (ordered) break;
    }
    // Rolling update: replace the highest-ordinal outdated pod once all pods are healthy.
    const strategy = sts.spec?.updateStrategy?.type ?? 'RollingUpdate';
    if (strategy === 'RollingUpdate' && allHealthy && condemned.length === 0) {
      for (let i = replicas - 1; i >= partition; i--) {
        const p = byOrdinal.get(i);
        if (p && p.metadata.labels?.[REVISION_LABEL] !== updateRevision) {
          store.delete(K.pods, ns, p.metadata.name!);
          break;
        }
      }
    }
    // Status from the pods as they are now.
    const pods = cache.ownedBy(sts.metadata.uid!, K.pods).filter((p) => re.test(p.metadata.name!));
    const minReady = sts.spec?.minReadySeconds ?? 0;
    let ready = 0;
    let available = 0;
    let current = 0;
    let updated = 0;
    for (const p of pods) {
      if (runningAndReady(p)) {
        ready++;
        if (isPodAvailable(p, minReady, rt.now())) available++;
      }
      if (!p.metadata.deletionTimestamp) {
        if (p.metadata.labels?.[REVISION_LABEL] === currentRevision) current++;
        if (p.metadata.labels?.[REVISION_LABEL] === updateRevision) updated++;
      }
    }
    let curRev = currentRevision;
    if (updated === replicas && ready === replicas && pods.length === replicas) {
      curRev = updateRevision;
      current = updated;
    }
    const fresh = cache.get(K.statefulsets, ns, name) ?? sts;
    const status: Record<string, unknown> = {
      observedGeneration: sts.metadata.generation,
      replicas: pods.length,
      readyReplicas: ready,
      currentReplicas: current,
      updatedReplicas: updated,
      availableReplicas: available,
      currentRevision: curRev,
      updateRevision,
      collisionCount: fresh.status?.collisionCount ?? 0,
    };
    if (!sameStatus(status, fresh.status)) writeStatus(store, K.statefulsets, fresh, status);
  }
}
