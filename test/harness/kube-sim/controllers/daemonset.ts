// The DaemonSet controller: one pod per eligible Node, pinned by node affinity like the real controller,
// replaced at once when evicted, rolled out node by node within maxUnavailable, with its status counters.

import type { KObject } from '../store.ts';
import { controllerUid, K, splitKey } from './cache.ts';
import type { Controller, Ctx } from './context.ts';
import { createPod, podFromTemplate } from './pod-template.ts';
import { ensureControllerRevision } from './revisions.ts';
import { intOrPercent, isPodActive, isPodAvailable, isPodReady, templateHash, writeStatus } from './util.ts';

const REVISION_LABEL = 'controller-revision-hash';

/** The node a pod is bound or pinned to: spec.nodeName, else a matchFields metadata.name affinity term. */
export function targetNode(pod: KObject): string | undefined {
  if (pod.spec?.nodeName) return pod.spec.nodeName;
  const terms =
    pod.spec?.affinity?.nodeAffinity?.requiredDuringSchedulingIgnoredDuringExecution?.nodeSelectorTerms ?? [];
  for (const t of terms) {
    for (const f of t.matchFields ?? []) {
      if (f.key === 'metadata.name' && f.operator === 'In' && f.values?.length === 1) return f.values[0];
    }
  }
  return undefined;
}

/** Whether a DaemonSet's template wants a pod on this node (nodeSelector; cordoned nodes still get one). */
function nodeWanted(ds: KObject, node: KObject): boolean {
  const sel: Record<string, string> = ds.spec?.template?.spec?.nodeSelector ?? {};
  return Object.entries(sel).every(([k, v]) => node.metadata.labels?.[k] === v);
}

export class DaemonSetController implements Controller {
  readonly enqueue: (key: string) => void;
  private readonly ctx: Ctx;

  constructor(ctx: Ctx) {
    this.ctx = ctx;
    this.enqueue = ctx.rt.queue('daemonset', (k) => this.reconcile(k));
  }

  /** Routes a pod change to its owning DaemonSet. */
  podChanged(pod: KObject): void {
    const uid = controllerUid(pod);
    if (!uid) return;
    const owner = this.ctx.cache.byUID(uid);
    if (owner?.key === K.daemonsets)
      this.enqueue(`${owner.obj.metadata.namespace}/${owner.obj.metadata.name}`);
  }

  /** A node appeared, changed or went: every DaemonSet re-checks its placement. */
  nodesChanged(): void {
    for (const ds of this.ctx.cache.list(K.daemonsets))
      this.enqueue(`${ds.metadata.namespace}/${ds.metadata.name}`);
  }

  private reconcile(key: string): void {
    const { store, cache, rt } = this.ctx;
    const [ns, name] = splitKey(key);
    const ds = cache.get(K.daemonsets, ns, name);
    if (!ds || ds.metadata.deletionTimestamp) return;
    const hash = templateHash(ds.spec?.template);
    ensureControllerRevision(this.ctx, ds, `${name}-${hash}`, hash);
    const nodes = cache.list(K.nodes).filter((n) => !n.metadata.deletionTimestamp);
    const wanted = new Set(nodes.filter((n) => nodeWanted(ds, n)).map((n) => n.metadata.name!));
    const byNode = new Map<string, KObject[]>();
    for (const p of cache.ownedBy(ds.metadata.uid!, K.pods)) {
      const n = targetNode(p) ?? '';
      const list = byNode.get(n) ?? [];
      list.push(p);
      byNode.set(n, list);
    }
    for (const node of wanted) {
      const active = (byNode.get(node) ?? []).filter((p) => !p.metadata.deletionTimestamp);
      for (const p of active.filter((x) => x.status?.phase === 'Failed'))
        store.delete(K.pods, ns, p.metadata.name!);
      const running = active.filter((x) => x.status?.phase !== 'Failed');
      if (running.length === 0) {
        const pod = podFromTemplate(ds.spec?.template, ds, { labels: { [REVISION_LABEL]: hash } });
        pod.spec.affinity = {
          ...(pod.spec.affinity ?? {}),
          nodeAffinity: {
            requiredDuringSchedulingIgnoredDuringExecution: {
              nodeSelectorTerms: [
                { matchFields: [{ key: 'metadata.name', operator: 'In', values: [node] }] },
              ],
            },
          },
        };
        pod.spec.tolerations = [
          ...(pod.spec.tolerations ?? []),
          { key: 'node.kubernetes.io/unschedulable', operator: 'Exists', effect: 'NoSchedule' },
          { key: 'node.kubernetes.io/not-ready', operator: 'Exists', effect: 'NoExecute' },
        ];
        createPod(this.ctx, pod);
      } else if (running.length > 1) {
        const sorted = [...running].sort((a, b) =>
          (a.metadata.creationTimestamp ?? '').localeCompare(b.metadata.creationTimestamp ?? ''),
        );
        for (const p of sorted.slice(1)) store.delete(K.pods, ns, p.metadata.name!);
      }
    }
    let misscheduled = 0;
    for (const [node, pods] of byNode) {
      if (wanted.has(node)) continue;
      for (const p of pods) {
        if (!p.metadata.deletionTimestamp) {
          misscheduled++;
          store.delete(K.pods, ns, p.metadata.name!);
        }
      }
    }
    const minReady = ds.spec?.minReadySeconds ?? 0;
    const now = rt.now();
    const podOn = (node: string) =>
      cache.ownedBy(ds.metadata.uid!, K.pods).find((p) => targetNode(p) === node && isPodActive(p));
    // Rolling update: replace outdated pods, unavailable ones first, within maxUnavailable.
    if ((ds.spec?.updateStrategy?.type ?? 'RollingUpdate') === 'RollingUpdate') {
      const maxUnavailable = intOrPercent(
        ds.spec?.updateStrategy?.rollingUpdate?.maxUnavailable,
        wanted.size,
        true,
        1,
      );
      let unavailable = 0;
      const outdated: KObject[] = [];
      for (const node of wanted) {
        const p = podOn(node);
        if (!p || !isPodAvailable(p, minReady, now)) unavailable++;
        if (p && p.metadata.labels?.[REVISION_LABEL] !== hash) outdated.push(p);
      }
      for (const p of outdated) {
        if (!isPodAvailable(p, minReady, now)) {
          store.delete(K.pods, ns, p.metadata.name!);
        } else if (unavailable < Math.max(1, maxUnavailable)) {
          store.delete(K.pods, ns, p.metadata.name!);
          unavailable++;
        }
      }
    }
    let current = 0;
    let ready = 0;
    let available = 0;
    let updated = 0;
    for (const node of wanted) {
      const p = podOn(node);
      if (!p) continue;
      current++;
      if (isPodReady(p)) ready++;
      if (isPodAvailable(p, minReady, now)) available++;
      if (p.metadata.labels?.[REVISION_LABEL] === hash) updated++;
    }
    writeStatus(store, K.daemonsets, cache.get(K.daemonsets, ns, name) ?? ds, {
      observedGeneration: ds.metadata.generation,
      desiredNumberScheduled: wanted.size,
      currentNumberScheduled: current,
      numberMisscheduled: misscheduled,
      numberReady: ready,
      updatedNumberScheduled: updated,
      numberAvailable: available,
      numberUnavailable: wanted.size - available,
    });
  }
}
