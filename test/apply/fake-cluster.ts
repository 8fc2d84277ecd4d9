// An in-memory stand-in for the few API calls the restarter makes, with scripted controller behaviour per workload,
// recording what was evicted and whether any workload ever had two pods disrupted at once.

import type { V1Pod } from '@kubernetes/client-node';
import type { RestarterDeps } from '../../lib/apply/restarter.ts';
import type { Evicter, PodWatchEvent } from '../../lib/kube/api.ts';
import type { EventInput } from '../../lib/kube/events.ts';
import { ApiHttpError } from '../../lib/kube/rest.ts';
import type { PodPlan, WorkloadRef } from '../../lib/model/plan.ts';
import { silentLogger } from '../../lib/shared/log.ts';
import { digest, fakeClock, pod } from '../kube/fakes.ts';

export const OLD = digest('old');
export const NEW = digest('new');

/** What the controller does after an eviction. */
export type Behaviour =
  | 'ok' // replacement Ready on the new digest
  | 'same-digest' // replacement Ready on the old digest (node reused its cache)
  | 'crash-loop' // replacement waits in CrashLoopBackOff
  | 'restarts' // replacement keeps restarting without the CrashLoopBackOff reason
  | 'never'; // no replacement at all

export interface FakeWorkload {
  kind: 'ReplicaSet' | 'StatefulSet' | 'DaemonSet';
  name: string;
  uid: string;
  behaviour: Behaviour;
  top?: { kind: string; name: string; uid?: string };
}

export function workloadRef(w: FakeWorkload, namespace = 'shop'): WorkloadRef {
  return { kind: w.kind, name: w.name, namespace, uid: w.uid, ...(w.top ? { top: w.top } : {}) };
}

export class FakeCluster {
  readonly namespace = 'shop';
  readonly pods = new Map<string, V1Pod>();
  readonly workloads = new Map<string, FakeWorkload>();
  readonly evictions: { name: string; uid: string | undefined }[] = [];
  readonly events: EventInput[] = [];
  readonly listSelectors: (string | undefined)[] = [];
  /** Workloads with an eviction whose replacement is not Ready yet. */
  readonly disrupted = new Set<string>();
  maxDisruptedAtOnce = 0;
  /** An eviction while the same workload was still disrupted. */
  overlappingEvictions = 0;
  /** List calls a new replacement needs before it exists, and again before it is Ready. */
  ticks = 1;
  /** Called on each eviction, before it is applied (tests abort from here). */
  onEvict?: (name: string) => void;
  readonly clock = fakeClock();
  #pending: { workload: FakeWorkload; evicted: V1Pod; countdown: number; created?: V1Pod }[] = [];
  #seq = 0;
  #watchers = new Set<(type: PodWatchEvent, p: V1Pod) => void>();

  addWorkload(w: FakeWorkload, podNames: string[]): PodPlan[] {
    this.workloads.set(w.uid, w);
    return podNames.map((name, i) => {
      const p = pod({
        name,
        namespace: this.namespace,
        owner: { kind: w.kind, name: w.name, uid: w.uid },
        labels: { app: w.name, 'pod-template-hash': 'abc' },
        nodeName: `node-${i}`,
        containers: [{ name: 'app', imageID: `registry.example/app@${OLD}` }],
      });
      this.pods.set(p.metadata?.uid as string, p);
      return stalePlan(p, workloadRef(w, this.namespace));
    });
  }

  #emit(type: PodWatchEvent, p: V1Pod) {
    for (const w of this.#watchers) w(type, p);
  }

  #tick(selector: string | undefined) {
    for (const pending of [...this.#pending]) {
      if (selector && selector !== `app=${pending.workload.name}`) continue;
      if (pending.countdown-- > 0) continue;
      if (!pending.created) {
        pending.created = this.#replacement(pending.workload, pending.evicted);
        pending.countdown = this.ticks;
        this.pods.set(pending.created.metadata?.uid as string, pending.created);
        this.#emit('ADDED', pending.created);
      } else {
        const ready = this.#finish(pending.workload, pending.created);
        this.pods.set(ready.metadata?.uid as string, ready);
        this.#emit('MODIFIED', ready);
        this.#pending = this.#pending.filter((x) => x !== pending);
        if (pending.workload.behaviour === 'ok' || pending.workload.behaviour === 'same-digest') {
          this.disrupted.delete(pending.workload.uid);
        }
      }
    }
  }

  #replacement(w: FakeWorkload, evicted: V1Pod): V1Pod {
    const n = ++this.#seq;
    const name = w.kind === 'StatefulSet' ? (evicted.metadata?.name as string) : `${w.name}-r${n}`;
    return pod({
      name,
      uid: `uid-replacement-${n}`,
      namespace: this.namespace,
      owner: { kind: w.kind, name: w.name, uid: w.uid },
      labels: { app: w.name, 'pod-template-hash': 'abc' },
      nodeName: evicted.spec?.nodeName,
      ready: false,
      containers: [{ name: 'app', imageID: '' }],
      created: `2026-01-01T00:00:${String(n).padStart(2, '0')}Z`,
    });
  }

  #finish(w: FakeWorkload, created: V1Pod): V1Pod {
    const base = {
      name: created.metadata?.name as string,
      uid: created.metadata?.uid,
      namespace: this.namespace,
      owner: { kind: w.kind, name: w.name, uid: w.uid },
      labels: created.metadata?.labels,
      nodeName: created.spec?.nodeName,
    };
    switch (w.behaviour) {
      case 'ok':
        return pod({ ...base, containers: [{ name: 'app', imageID: `registry.example/app@${NEW}` }] });
      case 'same-digest':
        return pod({ ...base, containers: [{ name: 'app', imageID: `registry.example/app@${OLD}` }] });
      case 'crash-loop':
        return pod({
          ...base,
          ready: false,
          containers: [
            {
              name: 'app',
              imageID: `registry.example/app@${NEW}`,
              restartCount: 1,
              waiting: 'CrashLoopBackOff',
            },
          ],
        });
      case 'restarts':
        return pod({
          ...base,
          ready: false,
          containers: [{ name: 'app', imageID: `registry.example/app@${NEW}`, restartCount: 5 }],
        });
      default:
        return created;
    }
  }

  readonly evicter = {
    createNamespacedPodEviction: async (req: {
      namespace: string;
      name: string;
      body: { deleteOptions?: { preconditions?: { uid?: string } } };
    }) => {
      await Promise.resolve();
      this.onEvict?.(req.name);
      const target = [...this.pods.values()].find((p) => p.metadata?.name === req.name);
      this.evictions.push({ name: req.name, uid: req.body.deleteOptions?.preconditions?.uid });
      if (!target) throw new ApiHttpError(404, '{"message":"not found"}', {}, `POST eviction ${req.name}`);
      const owner = target.metadata?.ownerReferences?.[0];
      const w = owner ? this.workloads.get(owner.uid) : undefined;
      if (w) {
        if (this.disrupted.has(w.uid)) this.overlappingEvictions++;
        this.disrupted.add(w.uid);
        this.maxDisruptedAtOnce = Math.max(this.maxDisruptedAtOnce, this.disrupted.size);
        if (w.behaviour !== 'never')
          this.#pending.push({ workload: w, evicted: target, countdown: this.ticks });
      }
      this.pods.delete(target.metadata?.uid as string);
      this.#emit('DELETED', target);
      return {};
    },
  } as unknown as Evicter;

  deps(extra: Partial<RestarterDeps> = {}): RestarterDeps {
    return {
      evicter: this.evicter,
      readPod: async (_ns, name) => [...this.pods.values()].find((p) => p.metadata?.name === name),
      listPods: async (_ns, selector) => {
        await Promise.resolve();
        this.listSelectors.push(selector);
        this.#tick(selector);
        const items = [...this.pods.values()].filter(
          (p) => !selector || selector === `app=${p.metadata?.labels?.app}`,
        );
        return { items, resourceVersion: String(this.#seq + 100) };
      },
      recordEvent: async (e) => {
        this.events.push(e);
      },
      logger: silentLogger(),
      clock: this.clock,
      ...extra,
    };
  }

  /** A PodWatcher fed by this cluster's changes; replacements then progress on each watch wake-up via tick(). */
  watcher() {
    const started: { labelSelector?: string; resourceVersion?: string }[] = [];
    let aborted = 0;
    const watchPods: RestarterDeps['watchPods'] = async (_ns, query, onEvent) => {
      started.push(query);
      const fn = (type: PodWatchEvent, p: V1Pod) => {
        if (!query.labelSelector || query.labelSelector === `app=${p.metadata?.labels?.app}`)
          onEvent(type, p);
      };
      this.#watchers.add(fn);
      return {
        abort: () => {
          aborted++;
          this.#watchers.delete(fn);
        },
      };
    };
    return { watchPods, started, aborted: () => aborted };
  }
}

/** The plan for a stale pod: container app runs OLD, the tag now points to NEW. */
export function stalePlan(p: V1Pod, workload: WorkloadRef | undefined): PodPlan {
  return {
    namespace: p.metadata?.namespace as string,
    name: p.metadata?.name as string,
    uid: p.metadata?.uid as string,
    nodeName: p.spec?.nodeName,
    verdict: 'stale',
    reason: 'digest-changed',
    message: 'tag moved',
    ...(workload ? { workload } : {}),
    containers: [
      {
        name: 'app',
        init: false,
        image: 'registry.example/app:latest',
        verdict: 'stale',
        reason: 'digest-changed',
        message: 'tag moved',
        runningDigest: OLD,
        currentDigest: NEW,
        acceptedDigests: [NEW],
      },
    ],
  };
}
