// The kubelet's record of one running pod and its containers, and the pod status rendered from it.

import type { KObject } from '../store.ts';
import type { ImageRef, RuntimeFormat } from './image-ref.ts';
import type { TimerHandle } from './runtime.ts';
import { type Condition, isoSeconds, setCondition } from './util.ts';

export interface ContainerRun {
  spec: KObject;
  name: string;
  init: boolean;
  ref?: ImageRef;
  statusImage: string;
  imageID: string;
  state: Record<string, unknown>;
  lastState: Record<string, unknown>;
  ready: boolean;
  started: boolean;
  restartCount: number;
  containerID?: string;
  crash: boolean;
  timers: TimerHandle[];
}

export interface PodRun {
  uid: string;
  key: string;
  node: string;
  runtime: RuntimeFormat;
  pod: KObject;
  cancelled: boolean;
  phase: 'Pending' | 'Running' | 'Succeeded' | 'Failed';
  initialized: boolean;
  containers: ContainerRun[];
  conditions: Condition[];
  startTime: string;
  podIP: string;
  hostIP: string;
  timers: TimerHandle[];
  behaviour: { neverReady: boolean; readyDelayMs: number };
  runToCompletion: boolean;
}

let isoCache = { second: -1, text: '' };

/** Now as RFC 3339 seconds, computed once per second (thousands of pods write timestamps). */
export function nowIso(): string {
  const second = Math.floor(Date.now() / 1000);
  if (second !== isoCache.second) isoCache = { second, text: isoSeconds(second * 1000) };
  return isoCache.text;
}

/** 64 hex characters for container IDs: unique enough, and much cheaper than crypto for thousands of pods. */
export function hex64(): string {
  let s = '';
  while (s.length < 64)
    s += Math.floor(Math.random() * 0x100000000)
      .toString(16)
      .padStart(8, '0');
  return s;
}

function statusOf(c: ContainerRun): KObject {
  const s: KObject = {
    name: c.name,
    image: c.statusImage,
    imageID: c.imageID,
    ready: c.ready,
    restartCount: c.restartCount,
    started: c.started,
    state: c.state,
    lastState: c.lastState,
  } as unknown as KObject;
  if (c.containerID) (s as Record<string, unknown>).containerID = c.containerID;
  return s;
}

/** The pod status the kubelet reports for a run (also updates run.conditions, keeping transition times). */
export function podStatus(run: PodRun): Record<string, unknown> {
  const now = nowIso();
  const mains = run.containers.filter((c) => !c.init);
  const inits = run.containers.filter((c) => c.init);
  const finished = run.phase === 'Succeeded' || run.phase === 'Failed';
  const allReady = run.phase === 'Running' && mains.length > 0 && mains.every((c) => c.ready);
  const notReady = mains.filter((c) => !c.ready).map((c) => c.name);
  let conds = run.conditions;
  const set = (c: Condition) => {
    conds = setCondition(conds, { lastProbeTime: null, ...c }, now);
  };
  set(
    run.initialized
      ? { type: 'Initialized', status: 'True' }
      : {
          type: 'Initialized',
          status: 'False',
          reason: 'ContainersNotInitialized',
          message: `containers with incomplete status: [${inits
            .filter((c) => !c.state.terminated)
            .map((c) => c.name)
            .join(' ')}]`,
        },
  );
  const readyCond = (type: string): Condition =>
    allReady
      ? { type, status: 'True' }
      : finished
        ? { type, status: 'False', reason: 'PodCompleted' }
        : {
            type,
            status: 'False',
            reason: 'ContainersNotReady',
            message: `containers with unready status: [${notReady.join(' ')}]`,
          };
  set(readyCond('Ready'));
  set(readyCond('ContainersReady'));
  set({ type: 'PodScheduled', status: 'True' });
  // Conditions in the order the real kubelet lists them.
  const order = ['PodReadyToStartContainers', 'Initialized', 'Ready', 'ContainersReady', 'PodScheduled'];
  conds = [...conds].sort((a, b) => order.indexOf(a.type) - order.indexOf(b.type));
  for (const c of conds) if (c.status === 'True') delete c.reason;
  run.conditions = conds;
  const status: KObject = {
    phase: run.phase,
    conditions: conds,
    hostIP: run.hostIP,
    hostIPs: run.hostIP ? [{ ip: run.hostIP }] : [],
    startTime: run.startTime,
    containerStatuses: mains.map((c) => statusOf(c)),
    qosClass: qosClass(run.pod),
  } as unknown as KObject;
  if (run.podIP) {
    (status as Record<string, unknown>).podIP = run.podIP;
    (status as Record<string, unknown>).podIPs = [{ ip: run.podIP }];
  }
  if (inits.length) (status as Record<string, unknown>).initContainerStatuses = inits.map((c) => statusOf(c));
  return status as unknown as Record<string, unknown>;
}

/** The pod's QoS class from its containers' requests and limits. */
export function qosClass(pod: KObject): 'Guaranteed' | 'Burstable' | 'BestEffort' {
  const cs: KObject[] = [...(pod.spec?.initContainers ?? []), ...(pod.spec?.containers ?? [])];
  let any = false;
  let guaranteed = cs.length > 0;
  for (const c of cs) {
    const req = c.resources?.requests ?? {};
    const lim = c.resources?.limits ?? {};
    if (Object.keys(req).length || Object.keys(lim).length) any = true;
    for (const r of ['cpu', 'memory']) {
      const l = lim[r];
      const q = req[r] ?? l;
      if (l === undefined || q !== l) guaranteed = false;
    }
  }
  if (!any) return 'BestEffort';
  return guaranteed ? 'Guaranteed' : 'Burstable';
}
