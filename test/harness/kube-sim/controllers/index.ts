// Starts the simulated cluster's control loops over a Store: workload controllers (Deployment, ReplicaSet,
// StatefulSet, DaemonSet, Job, CronJob), the disruption controller and the kubelet, all in-process and event
// driven, with settle() so tests wait for quiescence instead of sleeping.

import type { Store, StoreEvent } from '../store.ts';
import { K, keyOf, ObjectCache } from './cache.ts';
import type { Ctx } from './context.ts';
import { CronJobController } from './cronjob.ts';
import { DaemonSetController } from './daemonset.ts';
import { DeploymentController } from './deployment.ts';
import { DisruptionController } from './disruption.ts';
import { JobController } from './job.ts';
import { Kubelet, type KubeletOptions } from './kubelet.ts';
import { ReplicaSetController } from './replicaset.ts';
import { Runtime } from './runtime.ts';
import { StatefulSetController } from './statefulset.ts';

export type { RuntimeFormat } from './image-ref.ts';
export { ATTEMPT_ANNOTATION } from './job.ts';
export type { CachedImage, KubeletOptions, PodBehaviour, PullRecord } from './kubelet.ts';
export { Kubelet, SIM_ANNOTATIONS } from './kubelet.ts';
export type { NodeSpec } from './nodes.ts';
export { RUNTIME_ANNOTATION } from './nodes.ts';

export interface ControllerOptions extends KubeletOptions {
  /** The controllers' clock (cron schedules, progress deadlines, availability); default Date.now. */
  now?: () => number;
  /** Every object is reconciled again this often (a safety net; events do the real work); default 1000 ms. */
  resyncMs?: number;
  /** Where reconcile errors go; default console.warn. They never stop the loops. */
  onError?: (e: Error) => void;
}

export interface Controllers {
  /** Stops every loop and timer; pending settle() calls reject. Never rejects. */
  stop(): Promise<void>;
  kubelet: Kubelet;
  cronjobs: { tick(date?: Date): void };
  /**
   * Resolves when nothing is queued, pulling, or due on a short timer, and predicate(store) (if given) holds;
   * rejects after timeoutMs (default 10 s) saying what was still pending.
   */
  settle(predicate?: (store: Store) => boolean, timeoutMs?: number): Promise<void>;
  /**
   * Resolves as soon as predicate(store) holds, busy or not (for states that never go quiet, such as a long
   * running Job pod or a crash loop); rejects after timeoutMs (default 10 s).
   */
  waitFor(predicate: (store: Store) => boolean, timeoutMs?: number): Promise<void>;
  /** Queues every object for reconciliation now (e.g. after moving a fake clock). */
  resync(): void;
  /** Recent reconcile errors (tests can assert there were none). */
  readonly errors: readonly Error[];
}

/** Starts the controllers and the kubelet on store; creates the simulated Node objects. Throws on a bad option. */
export function startControllers(store: Store, opts: ControllerOptions = {}): Controllers {
  const rt = new Runtime({ now: opts.now, onError: opts.onError });
  const cache = new ObjectCache(store);
  const ctx: Ctx = { store, cache, rt };
  const rs = new ReplicaSetController(ctx);
  const deploy = new DeploymentController(ctx);
  const sts = new StatefulSetController(ctx);
  const ds = new DaemonSetController(ctx);
  const job = new JobController(ctx);
  const cron = new CronJobController(ctx);
  const pdb = new DisruptionController(ctx);
  const kubelet = new Kubelet(ctx, opts);

  const onEvent = (ev: StoreEvent) => {
    const prev = cache.apply(ev);
    const o = ev.object;
    switch (ev.key) {
      case K.pods:
        rs.podChanged(o);
        sts.podChanged(o);
        ds.podChanged(o);
        job.podChanged(o);
        pdb.podChanged(o, prev);
        kubelet.podChanged(o);
        if (ev.type === 'DELETED') deploy.podRemoved(o);
        break;
      case K.replicasets:
        rs.enqueue(keyOf(o));
        deploy.replicaSetChanged(o);
        pdb.workloadChanged(o);
        break;
      case K.deployments:
        deploy.enqueue(keyOf(o));
        pdb.workloadChanged(o);
        break;
      case K.statefulsets:
        sts.enqueue(keyOf(o));
        pdb.workloadChanged(o);
        break;
      case K.daemonsets:
        ds.enqueue(keyOf(o));
        pdb.workloadChanged(o);
        break;
      case K.jobs:
        job.enqueue(keyOf(o));
        cron.jobChanged(o);
        if (ev.type === 'DELETED') job.jobRemoved(o);
        break;
      case K.cronjobs:
        cron.enqueue(keyOf(o));
        break;
      case K.pdbs:
        pdb.enqueue(keyOf(o));
        if (ev.type === 'DELETED') pdb.pdbRemoved(o);
        break;
      case K.nodes:
        ds.nodesChanged();
        kubelet.nodeChanged(o);
        break;
    }
  };
  store.on('event', onEvent);

  const resync = () => {
    const all: Array<[string, (k: string) => void]> = [
      [K.replicasets, rs.enqueue],
      [K.deployments, deploy.enqueue],
      [K.statefulsets, sts.enqueue],
      [K.daemonsets, ds.enqueue],
      [K.jobs, job.enqueue],
      [K.cronjobs, cron.enqueue],
      [K.pdbs, pdb.enqueue],
    ];
    for (const [key, enqueue] of all) for (const o of cache.list(key)) enqueue(keyOf(o));
  };
  const resyncMs = opts.resyncMs ?? 1000;
  const tick = () => {
    resync();
    rt.after(resyncMs, tick, { background: true });
  };
  kubelet.start();
  resync();
  rt.after(resyncMs, tick, { background: true });

  return {
    kubelet,
    cronjobs: { tick: (date?: Date) => cron.tick(date) },
    settle: (predicate, timeoutMs) => rt.settle(predicate && (() => predicate(store)), timeoutMs),
    waitFor: (predicate, timeoutMs) => rt.settle(() => predicate(store), timeoutMs, { idle: false }),
    resync: () => {
      resync();
      rt.poke();
    },
    get errors() {
      return rt.errors;
    },
    stop: async () => {
      store.off('event', onEvent);
      rt.stop();
      kubelet.stop();
    },
  };
}
