// Object builders for simulator tests and benchmarks: workloads, PDBs, bare pods, pull secrets, and runningPod(),
// which inserts an already-Running pod straight into the store (the fast path for 5,000-pod benchmarks).

import { randomBytes } from 'node:crypto';
import { defaultPullPolicy } from './controllers/pod-template.ts';
import type { KObject, Store } from './store.ts';

export interface ContainerOptions {
  /** Container name; default 'app'. */
  name?: string;
  imagePullPolicy?: 'Always' | 'IfNotPresent' | 'Never';
  env?: Array<{ name: string; value: string }>;
  command?: string[];
  args?: string[];
  resources?: KObject['spec'];
}

export interface WorkloadOptions {
  replicas?: number;
  /** Pod labels (and selector); default { app: name }. */
  labels?: Record<string, string>;
  /** Pod template annotations (e.g. the sim.k8s-auto-updater.io/* behaviour annotations). */
  podAnnotations?: Record<string, string>;
  /** Workload metadata annotations. */
  annotations?: Record<string, string>;
  container?: ContainerOptions;
  /** Extra containers after the first. */
  containers?: Array<ContainerOptions & { image: string }>;
  initContainers?: Array<ContainerOptions & { image: string }>;
  imagePullSecrets?: string[];
  /** Merged into the pod spec. */
  podSpec?: Record<string, unknown>;
  /** Merged into the workload spec (strategy, minReadySeconds, progressDeadlineSeconds, paused, ...). */
  spec?: Record<string, unknown>;
}

function container(image: string, c: ContainerOptions = {}): KObject['spec'] {
  const out: Record<string, unknown> = { name: c.name ?? 'app', image };
  if (c.imagePullPolicy) out.imagePullPolicy = c.imagePullPolicy;
  if (c.env) out.env = c.env;
  if (c.command) out.command = c.command;
  if (c.args) out.args = c.args;
  if (c.resources) out.resources = c.resources;
  return out;
}

/** A pod template for image with the options' containers, labels and annotations. */
export function podTemplate(name: string, image: string, opts: WorkloadOptions = {}): KObject {
  const labels = opts.labels ?? { app: name };
  const spec: Record<string, unknown> = {
    containers: [
      container(image, opts.container),
      ...(opts.containers ?? []).map((c) => container(c.image, c)),
    ],
    ...(opts.podSpec ?? {}),
  };
  if (opts.initContainers) spec.initContainers = opts.initContainers.map((c) => container(c.image, c));
  if (opts.imagePullSecrets) spec.imagePullSecrets = opts.imagePullSecrets.map((n) => ({ name: n }));
  return {
    metadata: {
      labels: { ...labels },
      ...(opts.podAnnotations ? { annotations: { ...opts.podAnnotations } } : {}),
    },
    spec,
  };
}

function workload(
  apiVersion: string,
  kind: string,
  name: string,
  ns: string,
  image: string,
  opts: WorkloadOptions,
  spec: Record<string, unknown>,
): KObject {
  const labels = opts.labels ?? { app: name };
  return {
    apiVersion,
    kind,
    metadata: {
      name,
      namespace: ns,
      labels: { ...labels },
      ...(opts.annotations ? { annotations: { ...opts.annotations } } : {}),
    },
    spec: {
      selector: { matchLabels: { ...labels } },
      template: podTemplate(name, image, opts),
      ...spec,
      ...(opts.spec ?? {}),
    },
  };
}

/** An apps/v1 Deployment (default 1 replica, RollingUpdate with the API defaults). */
export function deployment(name: string, ns: string, image: string, opts: WorkloadOptions = {}): KObject {
  return workload('apps/v1', 'Deployment', name, ns, image, opts, {
    replicas: opts.replicas ?? 1,
    strategy: { type: 'RollingUpdate', rollingUpdate: { maxSurge: '25%', maxUnavailable: '25%' } },
    revisionHistoryLimit: 10,
    progressDeadlineSeconds: 600,
  });
}

/** An apps/v1 ReplicaSet without a Deployment. */
export function replicaSet(name: string, ns: string, image: string, opts: WorkloadOptions = {}): KObject {
  return workload('apps/v1', 'ReplicaSet', name, ns, image, opts, { replicas: opts.replicas ?? 1 });
}

/** An apps/v1 StatefulSet (OrderedReady, RollingUpdate). */
export function statefulSet(name: string, ns: string, image: string, opts: WorkloadOptions = {}): KObject {
  return workload('apps/v1', 'StatefulSet', name, ns, image, opts, {
    replicas: opts.replicas ?? 1,
    serviceName: name,
    podManagementPolicy: 'OrderedReady',
    updateStrategy: { type: 'RollingUpdate', rollingUpdate: { partition: 0 } },
  });
}

/** An apps/v1 DaemonSet (RollingUpdate, maxUnavailable 1). */
export function daemonSet(name: string, ns: string, image: string, opts: WorkloadOptions = {}): KObject {
  return workload('apps/v1', 'DaemonSet', name, ns, image, opts, {
    updateStrategy: { type: 'RollingUpdate', rollingUpdate: { maxUnavailable: 1 } },
  });
}

/** A batch/v1 Job (restartPolicy Never; completions/parallelism/backoffLimit through opts.spec). */
export function job(name: string, ns: string, image: string, opts: WorkloadOptions = {}): KObject {
  const t = podTemplate(name, image, {
    ...opts,
    podSpec: { restartPolicy: 'Never', ...(opts.podSpec ?? {}) },
  });
  return {
    apiVersion: 'batch/v1',
    kind: 'Job',
    metadata: { name, namespace: ns, ...(opts.annotations ? { annotations: { ...opts.annotations } } : {}) },
    spec: { backoffLimit: 6, template: t, ...(opts.spec ?? {}) },
  };
}

/**
 * A batch/v1 CronJob running a Job from image on schedule; `spec` goes to the CronJob (suspend,
 * concurrencyPolicy, timeZone, history limits), `jobSpec` to its Job template (backoffLimit, completions).
 */
export function cronJob(
  name: string,
  ns: string,
  schedule: string,
  image: string,
  opts: WorkloadOptions & { jobSpec?: Record<string, unknown> } = {},
): KObject {
  const { spec: _cronSpec, jobSpec, ...rest } = opts;
  const j = job(name, ns, image, { ...rest, ...(jobSpec ? { spec: jobSpec } : {}) });
  return {
    apiVersion: 'batch/v1',
    kind: 'CronJob',
    metadata: { name, namespace: ns },
    spec: { schedule, jobTemplate: { metadata: {}, spec: j.spec }, ...(opts.spec ?? {}) },
  };
}

/** A policy/v1 PodDisruptionBudget selecting matchLabels, with minAvailable or maxUnavailable (int or "N%"). */
export function pdb(
  name: string,
  ns: string,
  matchLabels: Record<string, string>,
  budget: { minAvailable?: number | string; maxUnavailable?: number | string },
): KObject {
  return {
    apiVersion: 'policy/v1',
    kind: 'PodDisruptionBudget',
    metadata: { name, namespace: ns },
    spec: { selector: { matchLabels: { ...matchLabels } }, ...budget },
  };
}

/** A Pod with no controller (gone for good when evicted). */
export function barePod(
  name: string,
  ns: string,
  image: string,
  opts: WorkloadOptions & { nodeName?: string } = {},
): KObject {
  const t = podTemplate(name, image, opts);
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      name,
      namespace: ns,
      ...t.metadata,
      ...(opts.annotations
        ? { annotations: { ...(t.metadata.annotations ?? {}), ...opts.annotations } }
        : {}),
    },
    spec: { ...t.spec, ...(opts.nodeName ? { nodeName: opts.nodeName } : {}) },
  };
}

/** A kubernetes.io/dockerconfigjson Secret holding user:pass for registry (host[:port]). */
export function pullSecret(name: string, ns: string, registry: string, user: string, pass: string): KObject {
  const auth = Buffer.from(`${user}:${pass}`).toString('base64');
  const cfg = { auths: { [registry]: { username: user, password: pass, auth } } };
  return {
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: { name, namespace: ns },
    type: 'kubernetes.io/dockerconfigjson',
    data: { '.dockerconfigjson': Buffer.from(JSON.stringify(cfg)).toString('base64') },
  };
}

export interface RunningPodOptions {
  /** Container name; default 'app'. */
  container?: string;
  node?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  imagePullPolicy?: 'Always' | 'IfNotPresent' | 'Never';
  /** Controller owner (e.g. a ReplicaSet object from the store). */
  owner?: KObject;
  ready?: boolean;
  restartCount?: number;
  imagePullSecrets?: string[];
}

/**
 * Inserts a pod that is already Running on a node with the given imageID (any runtime format) directly into
 * the store, bypassing controllers and the kubelet; returns the stored pod. Throws the store's errors.
 */
export function runningPod(
  store: Store,
  name: string,
  ns: string,
  image: string,
  imageID: string,
  opts: RunningPodOptions = {},
): KObject {
  const node = opts.node ?? 'node-a';
  const at = new Date().toISOString().replace(/\.\d{3}Z$/, 'Z');
  const ready = opts.ready ?? true;
  const cname = opts.container ?? 'app';
  const cond = (type: string, ok: boolean) => ({
    type,
    status: ok ? 'True' : 'False',
    lastProbeTime: null,
    lastTransitionTime: at,
  });
  const metadata: KObject['metadata'] = {
    name,
    namespace: ns,
    labels: { ...(opts.labels ?? { app: name }) },
  };
  if (opts.annotations) metadata.annotations = { ...opts.annotations };
  if (opts.owner) {
    metadata.ownerReferences = [
      {
        apiVersion: opts.owner.apiVersion!,
        kind: opts.owner.kind!,
        name: opts.owner.metadata.name!,
        uid: opts.owner.metadata.uid!,
        controller: true,
        blockOwnerDeletion: true,
      },
    ];
  }
  return store.create('/pods', {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata,
    spec: {
      nodeName: node,
      restartPolicy: 'Always',
      terminationGracePeriodSeconds: 30,
      ...(opts.imagePullSecrets ? { imagePullSecrets: opts.imagePullSecrets.map((n) => ({ name: n })) } : {}),
      containers: [
        {
          name: cname,
          image,
          imagePullPolicy: opts.imagePullPolicy ?? defaultPullPolicy(image),
        },
      ],
    },
    status: {
      phase: 'Running',
      conditions: [
        cond('Initialized', true),
        cond('Ready', ready),
        cond('ContainersReady', ready),
        cond('PodScheduled', true),
      ],
      hostIP: '10.0.0.10',
      podIP: `10.250.${randomBytes(1)[0]}.${randomBytes(1)[0]}`,
      startTime: at,
      qosClass: 'BestEffort',
      containerStatuses: [
        {
          name: cname,
          image,
          imageID,
          ready,
          started: true,
          restartCount: opts.restartCount ?? 0,
          state: { running: { startedAt: at } },
          lastState: {},
          containerID: `containerd://${randomBytes(32).toString('hex')}`,
        },
      ],
    },
  });
}
