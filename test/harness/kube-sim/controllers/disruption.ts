// The disruption controller: computes each PodDisruptionBudget's status (expectedPods, currentHealthy,
// desiredHealthy, disruptionsAllowed, disruptedPods, DisruptionAllowed condition) that the eviction handler reads.

import { labelSelectorObjectMatcher, type Matcher } from '../selectors.ts';
import type { KObject } from '../store.ts';
import { controllerUid, K, splitKey } from './cache.ts';
import type { Controller, Ctx } from './context.ts';
import { type Condition, intOrPercent, isoSeconds, isPodReady, setCondition, writeStatus } from './util.ts';

// An eviction recorded in disruptedPods that the pod's deletion never followed is forgotten after this long.
const DISRUPTED_POD_TIMEOUT_MS = 2 * 60_000;

export class DisruptionController implements Controller {
  readonly enqueue: (key: string) => void;
  private readonly ctx: Ctx;

  constructor(ctx: Ctx) {
    this.ctx = ctx;
    this.enqueue = ctx.rt.queue('disruption', (k) => this.reconcile(k));
  }

  /** A pod changed: the PDBs that select it now or selected it before recompute. */
  podChanged(pod: KObject, prev: KObject | undefined): void {
    for (const pdb of this.ctx.cache.list(K.pdbs, pod.metadata.namespace)) {
      const match = this.matcher(pdb);
      if (match(pod.metadata.labels) || (prev && match(prev.metadata.labels))) {
        this.enqueue(`${pdb.metadata.namespace}/${pdb.metadata.name}`);
      }
    }
  }

  // Selectors are compiled once per PDB spec: pod events ask for them thousands of times.
  private readonly matchers = new Map<string, { generation: number; fn: Matcher }>();

  private matcher(pdb: KObject): Matcher {
    const uid = pdb.metadata.uid!;
    const m = this.matchers.get(uid);
    // The selector is spec: generation moves when it may have changed, resourceVersion moves on every status write.
    const generation = pdb.metadata.generation ?? 0;
    if (m && m.generation === generation) return m.fn;
    const fn = labelSelectorObjectMatcher(pdb.spec?.selector);
    this.matchers.set(uid, { generation, fn });
    return fn;
  }

  /** Forgets a deleted PDB's compiled selector. */
  pdbRemoved(pdb: KObject): void {
    this.matchers.delete(pdb.metadata.uid!);
  }

  /** A workload's scale changed: PDBs of its namespace recompute expectedPods. */
  workloadChanged(obj: KObject): void {
    for (const pdb of this.ctx.cache.list(K.pdbs, obj.metadata.namespace)) {
      this.enqueue(`${pdb.metadata.namespace}/${pdb.metadata.name}`);
    }
  }

  /** The scale of the controller above a pod (Deployment over ReplicaSet), or undefined for bare pods. */
  private controllerScale(pod: KObject): { uid: string; replicas: number } | undefined {
    const { cache } = this.ctx;
    const uid = controllerUid(pod);
    if (!uid) return undefined;
    const owner = cache.byUID(uid);
    if (!owner) return undefined;
    if (owner.key === K.replicasets) {
      const dUid = controllerUid(owner.obj);
      const d = dUid ? cache.byUID(dUid) : undefined;
      if (d?.key === K.deployments) return { uid: dUid!, replicas: d.obj.spec?.replicas ?? 1 };
      return { uid, replicas: owner.obj.spec?.replicas ?? 1 };
    }
    if (owner.key === K.statefulsets) return { uid, replicas: owner.obj.spec?.replicas ?? 1 };
    if (owner.key === K.daemonsets) return { uid, replicas: owner.obj.status?.desiredNumberScheduled ?? 0 };
    if (owner.key === K.jobs) return { uid, replicas: owner.obj.spec?.parallelism ?? 1 };
    return undefined;
  }

  private reconcile(key: string): void {
    const { store, cache, rt } = this.ctx;
    const [ns, name] = splitKey(key);
    const pdb = cache.get(K.pdbs, ns, name);
    if (!pdb || pdb.metadata.deletionTimestamp) return;
    const match = this.matcher(pdb);
    const pods = cache.list(K.pods, ns).filter((p) => match(p.metadata.labels));
    const nowMs = rt.now();
    const now = isoSeconds(nowMs);
    // Evictions the API server recorded whose pod is not terminating yet; they do not count as healthy.
    const disrupted: Record<string, string> = {};
    for (const [podName, at] of Object.entries((pdb.status?.disruptedPods ?? {}) as Record<string, string>)) {
      const p = pods.find((x) => x.metadata.name === podName);
      if (!p || p.metadata.deletionTimestamp) continue;
      if (Date.parse(at) + DISRUPTED_POD_TIMEOUT_MS < nowMs) continue;
      disrupted[podName] = at;
    }
    const healthy = pods.filter(
      (p) => !p.metadata.deletionTimestamp && isPodReady(p) && !(p.metadata.name! in disrupted),
    ).length;
    const minAvailable = pdb.spec?.minAvailable;
    const maxUnavailable = pdb.spec?.maxUnavailable;
    let expected: number;
    let desired: number;
    if (maxUnavailable === undefined && typeof minAvailable === 'number') {
      expected = pods.length;
      desired = minAvailable;
    } else {
      const scales = new Map<string, number>();
      let bare = 0;
      for (const p of pods) {
        const s = this.controllerScale(p);
        if (s) scales.set(s.uid, s.replicas);
        else if (!p.metadata.deletionTimestamp) bare++;
      }
      expected = [...scales.values()].reduce((a, b) => a + b, 0) + bare;
      if (maxUnavailable !== undefined && maxUnavailable !== null) {
        desired = Math.max(0, expected - intOrPercent(maxUnavailable, expected, true, 0));
      } else {
        desired = intOrPercent(minAvailable ?? 1, expected, true, 1);
      }
    }
    const allowed = Math.max(0, healthy - desired);
    const conditions: Condition[] = setCondition(
      pdb.status?.conditions,
      allowed > 0
        ? { type: 'DisruptionAllowed', status: 'True', reason: 'SufficientPods', message: '' }
        : { type: 'DisruptionAllowed', status: 'False', reason: 'InsufficientPods', message: '' },
      now,
    );
    const status: Record<string, unknown> = {
      observedGeneration: pdb.metadata.generation,
      disruptionsAllowed: allowed,
      currentHealthy: healthy,
      desiredHealthy: desired,
      expectedPods: expected,
      conditions,
    };
    if (Object.keys(disrupted).length) {
      status.disruptedPods = disrupted;
      const oldest = Math.min(...Object.values(disrupted).map((t) => Date.parse(t)));
      rt.wakeUp(`pdb|${key}`, Math.max(0, oldest + DISRUPTED_POD_TIMEOUT_MS - nowMs) + 5, () =>
        this.enqueue(key),
      );
    }
    writeStatus(store, K.pdbs, pdb, status);
  }
}
