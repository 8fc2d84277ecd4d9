// Builds the Kubernetes API clients once and defines the narrow interfaces the rest of the code depends on,
// plus the mapping of client-node failures to KubeApiError with the server's own Status message.

import type { AppsV1Api, BatchV1Api, CoreV1Api, V1Pod, V1PodList } from '@kubernetes/client-node';
import { KubeApiError } from '../shared/errors.ts';
import { apiStatus } from './errors.ts';
import type { KubeConnection } from './kubeconfig.ts';
import { createRestClient, type Query, type RestClient, type RestOptions, seg } from './rest.ts';
import { triesOf } from './retry.ts';

// The Status reading moved to errors.ts (with the classification); callers keep importing it from here.
export { type ApiStatus, apiStatus } from './errors.ts';

/** Lists pods and namespaces (pods.ts). */
export type PodLister = Pick<CoreV1Api, 'listNamespacedPod' | 'listPodForAllNamespaces' | 'listNamespace'>;
/** Reads one pod (the restarter checks the pod still exists before evicting it). */
export type PodReader = Pick<CoreV1Api, 'readNamespacedPod'>;
/** Posts policy/v1 Evictions. Deliberately has no delete: the updater never deletes pods. */
export type Evicter = Pick<CoreV1Api, 'createNamespacedPodEviction'>;
/** Creates core/v1 Events. */
export type EventWriter = Pick<CoreV1Api, 'createNamespacedEvent'>;
/** Reads pull secrets and service accounts (pull-secrets.ts). */
export type SecretReader = Pick<CoreV1Api, 'readNamespacedSecret' | 'readNamespacedServiceAccount'>;

/** Pod list parameters, as client-node's listNamespacedPod/listPodForAllNamespaces take them. */
export interface PodListParams {
  /** Omitted: all namespaces. */
  namespace?: string;
  labelSelector?: string;
  limit?: number;
  _continue?: string;
}

/**
 * A pod listing that shapes each pod while the response streams in, so a page of full pods is never held
 * (createClients provides it; plain test fakes need not: listPods then shapes whole pages).
 */
export interface ShapedPodLister {
  listPodsShaped(params: PodListParams, shape: (pod: V1Pod) => V1Pod): Promise<V1PodList>;
}

/** Every core/v1 call the updater makes. */
export type CoreApi = PodLister &
  ShapedPodLister &
  PodReader &
  Evicter &
  EventWriter &
  SecretReader &
  Pick<CoreV1Api, 'readNamespacedReplicationController'>;
/** The workload reads (apps/v1, plus core/v1 ReplicationControllers so one object serves workloads.ts). */
export type AppsApi = Pick<
  AppsV1Api,
  | 'readNamespacedReplicaSet'
  | 'readNamespacedDeployment'
  | 'readNamespacedStatefulSet'
  | 'readNamespacedDaemonSet'
> &
  Pick<CoreV1Api, 'readNamespacedReplicationController'>;
/** The batch/v1 reads of `status`. */
export type BatchApi = Pick<BatchV1Api, 'readNamespacedCronJob' | 'listNamespacedJob'>;

export type PodWatchEvent = 'ADDED' | 'MODIFIED' | 'DELETED' | 'BOOKMARK' | 'ERROR';

/**
 * Watches the pods of one namespace. `onDone` is called once when the stream ends, with the error if any;
 * the returned handle stops it.
 */
export type PodWatcher = (
  namespace: string,
  query: { labelSelector?: string; resourceVersion?: string },
  onEvent: (type: PodWatchEvent, pod: V1Pod) => void,
  onDone: (err?: unknown) => void,
) => Promise<{ abort(): void }>;

export interface KubeClients {
  core: CoreApi;
  apps: AppsApi;
  batch: BatchApi;
  watchPods: PodWatcher;
  /** Closes idle keep-alive connections (they never keep the process alive). */
  close(): void;
}

interface ListParams {
  namespace?: string;
  labelSelector?: string;
  fieldSelector?: string;
  limit?: number;
  _continue?: string;
  resourceVersion?: string;
}
interface ReadParams {
  namespace: string;
  name: string;
}

const listQuery = (p: ListParams = {}): Query => ({
  labelSelector: p.labelSelector,
  fieldSelector: p.fieldSelector,
  limit: p.limit,
  continue: p._continue,
  resourceVersion: p.resourceVersion,
});

interface WireList {
  metadata?: { continue?: string; _continue?: string };
}

// client-node names ListMeta's `continue` `_continue` (a reserved word in its generator); callers read that name.
function withContinue<T extends WireList>(l: T): T {
  if (l?.metadata?.continue !== undefined) l.metadata._continue = l.metadata.continue;
  return l;
}

/**
 * Builds the API clients over the lean REST transport: the same methods and parameter objects as client-node's
 * CoreV1Api/AppsV1Api/BatchV1Api, answering plain JSON. Never throws; failures surface per call.
 */
export function createClients(conn: KubeConnection, opts: RestOptions = {}): KubeClients {
  const rest = createRestClient(conn, opts);
  const get = <T>(path: string, query?: Query) => rest.json<T>('GET', path, query ? { query } : {});
  const list = (path: string, p?: ListParams) => get<WireList>(path, listQuery(p)).then(withContinue);
  const post = <T>(path: string, body: unknown) => rest.json<T>('POST', path, { body });
  const core = (ns: string) => `/api/v1/namespaces/${seg(ns)}`;
  const apps = (ns: string, kind: string, name: string) =>
    `/apis/apps/v1/namespaces/${seg(ns)}/${kind}/${seg(name)}`;
  const readRC = (p: ReadParams) => get(`${core(p.namespace)}/replicationcontrollers/${seg(p.name)}`);
  const coreApi = {
    listNamespacedPod: (p: ListParams & { namespace: string }) => list(`${core(p.namespace)}/pods`, p),
    listPodForAllNamespaces: (p?: ListParams) => list('/api/v1/pods', p),
    listNamespace: (p?: ListParams) => list('/api/v1/namespaces', p),
    readNamespacedPod: (p: ReadParams) => get(`${core(p.namespace)}/pods/${seg(p.name)}`),
    createNamespacedPodEviction: (p: ReadParams & { body: unknown }) =>
      post(`${core(p.namespace)}/pods/${seg(p.name)}/eviction`, p.body),
    createNamespacedEvent: (p: { namespace: string; body: unknown }) =>
      post(`${core(p.namespace)}/events`, p.body),
    readNamespacedSecret: (p: ReadParams) => get(`${core(p.namespace)}/secrets/${seg(p.name)}`),
    readNamespacedServiceAccount: (p: ReadParams) =>
      get(`${core(p.namespace)}/serviceaccounts/${seg(p.name)}`),
    readNamespacedReplicationController: readRC,
    listPodsShaped: (p: PodListParams, shape: (pod: V1Pod) => V1Pod) =>
      rest
        .list(
          p.namespace === undefined ? '/api/v1/pods' : `${core(p.namespace)}/pods`,
          listQuery(p),
          (item) => shape(item as V1Pod),
        )
        .then((l) => withContinue(l as WireList) as V1PodList),
  };
  const appsApi = {
    readNamespacedReplicaSet: (p: ReadParams) => get(apps(p.namespace, 'replicasets', p.name)),
    readNamespacedDeployment: (p: ReadParams) => get(apps(p.namespace, 'deployments', p.name)),
    readNamespacedStatefulSet: (p: ReadParams) => get(apps(p.namespace, 'statefulsets', p.name)),
    readNamespacedDaemonSet: (p: ReadParams) => get(apps(p.namespace, 'daemonsets', p.name)),
    readNamespacedReplicationController: readRC,
  };
  const batchApi = {
    readNamespacedCronJob: (p: ReadParams) =>
      get(`/apis/batch/v1/namespaces/${seg(p.namespace)}/cronjobs/${seg(p.name)}`),
    listNamespacedJob: (p: ListParams & { namespace: string }) =>
      list(`/apis/batch/v1/namespaces/${seg(p.namespace)}/jobs`, p),
  };
  // The JSON is the wire form of client-node's models except that dates stay ISO strings; every reader of a date
  // goes through `new Date(x)`, which accepts both.
  return {
    core: coreApi as unknown as CoreApi,
    apps: appsApi as unknown as AppsApi,
    batch: batchApi as unknown as BatchApi,
    watchPods: podWatcher(rest),
    close: () => rest.close(),
  };
}

/** A PodWatcher over a streaming GET with `watch=true&allowWatchBookmarks=true`. */
export function podWatcher(rest: RestClient): PodWatcher {
  return (namespace, query, onEvent, onDone) =>
    rest.watch(
      `/api/v1/namespaces/${seg(namespace)}/pods`,
      {
        allowWatchBookmarks: true,
        labelSelector: query.labelSelector,
        resourceVersion: query.resourceVersion,
      },
      (type, obj) => onEvent(type as PodWatchEvent, obj as V1Pod),
      onDone,
    );
}

/** Wraps a failed API call as KubeApiError naming what was attempted (e.g. "get secret ns/name"); keeps the cause. */
export function toKubeApiError(err: unknown, what: string): KubeApiError {
  if (err instanceof KubeApiError) return err;
  const s = apiStatus(err);
  const how =
    s.code === undefined ? `no answer from the API server: ${s.message}` : `HTTP ${s.code}: ${s.message}`;
  const tries = triesOf(err);
  const after = tries > 1 ? ` (after ${tries} tries)` : '';
  return new KubeApiError(`${what} failed${after}: ${how}`, { status: s.code, cause: err });
}

/** True when the error is an API answer with this HTTP status. */
export function hasStatus(err: unknown, code: number): boolean {
  return apiStatus(err).code === code;
}
