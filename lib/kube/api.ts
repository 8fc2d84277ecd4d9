// Builds the Kubernetes API clients once and defines the narrow interfaces the rest of the code depends on,
// plus the mapping of client-node failures to KubeApiError with the server's own Status message.

import { AppsV1Api, CoreV1Api, type KubeConfig, type V1Pod, Watch } from '@kubernetes/client-node';
import { KubeApiError } from '../errors.ts';

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
/** Reads ReplicaSets to find their Deployment. */
export type OwnerReader = Pick<AppsV1Api, 'readNamespacedReplicaSet'>;

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
  kc: KubeConfig;
  core: CoreV1Api;
  apps: AppsV1Api;
  watchPods: PodWatcher;
}

/** Builds the API clients for a loaded KubeConfig; throws only if the config has no current cluster. */
export function createClients(kc: KubeConfig): KubeClients {
  return {
    kc,
    core: kc.makeApiClient(CoreV1Api),
    apps: kc.makeApiClient(AppsV1Api),
    watchPods: podWatcher(kc),
  };
}

/** A PodWatcher over client-node's Watch (a streaming GET with `watch=true`). */
export function podWatcher(kc: KubeConfig): PodWatcher {
  const watch = new Watch(kc);
  return async (namespace, query, onEvent, onDone) => {
    const params: Record<string, string | boolean> = { allowWatchBookmarks: true };
    if (query.labelSelector) params.labelSelector = query.labelSelector;
    if (query.resourceVersion) params.resourceVersion = query.resourceVersion;
    let finished = false;
    const done = (err?: unknown) => {
      if (finished) return;
      finished = true;
      onDone(err);
    };
    const controller = await watch.watch(
      `/api/v1/namespaces/${encodeURIComponent(namespace)}/pods`,
      params,
      (type, obj) => onEvent(type as PodWatchEvent, obj as V1Pod),
      (err) => done(err ?? undefined),
    );
    return {
      abort() {
        finished = true;
        controller.abort();
      },
    };
  };
}

/** What the API server said about a failed call: HTTP status, Status reason/message, and retry hints. */
export interface ApiStatus {
  /** HTTP status; undefined for network failures (no answer). */
  code: number | undefined;
  /** Status.reason, e.g. "TooManyRequests", "NotFound". */
  reason: string | undefined;
  /** Status.message, or the error's own message when the server sent none. */
  message: string;
  /** Status.details.causes[].message, e.g. the PodDisruptionBudget that blocks an eviction. */
  causes: string[];
  /** Seconds from the `Retry-After` header or Status.details.retryAfterSeconds, when given. */
  retryAfterSeconds: number | undefined;
}

interface StatusBody {
  message?: string;
  reason?: string;
  details?: { causes?: { message?: string }[]; retryAfterSeconds?: number };
}

/** Reads an ApiException (duck-typed: `.code`, `.body`, `.headers`) or any other error into an ApiStatus. Never throws. */
export function apiStatus(err: unknown): ApiStatus {
  const e = err as {
    code?: unknown;
    body?: unknown;
    headers?: Record<string, string>;
    message?: unknown;
  } | null;
  const code = typeof e?.code === 'number' ? e.code : undefined;
  let body: StatusBody | undefined;
  if (code !== undefined) {
    if (typeof e?.body === 'string') {
      try {
        const parsed: unknown = JSON.parse(e.body);
        if (parsed && typeof parsed === 'object') body = parsed as StatusBody;
      } catch {
        // Not JSON (a proxy's HTML page, say): fall back to the status code alone.
      }
    } else if (e?.body && typeof e.body === 'object') {
      body = e.body as StatusBody;
    }
  }
  const headerRetry = headerValue(e?.headers, 'retry-after');
  let retryAfterSeconds: number | undefined;
  if (headerRetry !== undefined && /^\d+$/.test(headerRetry.trim()))
    retryAfterSeconds = Number(headerRetry.trim());
  else if (typeof body?.details?.retryAfterSeconds === 'number' && body.details.retryAfterSeconds > 0) {
    retryAfterSeconds = body.details.retryAfterSeconds;
  }
  const causes = (body?.details?.causes ?? [])
    .map((c) => c.message)
    .filter((m): m is string => typeof m === 'string' && m.length > 0);
  let message: string;
  if (body?.message) message = body.message;
  else if (code !== undefined) message = `HTTP ${code}`;
  else message = err instanceof Error ? err.message : String(err);
  return { code, reason: body?.reason, message, causes, retryAfterSeconds };
}

function headerValue(headers: Record<string, string> | undefined, name: string): string | undefined {
  if (!headers || typeof headers !== 'object') return undefined;
  for (const [k, v] of Object.entries(headers)) if (k.toLowerCase() === name) return String(v);
  return undefined;
}

/** Wraps a failed API call as KubeApiError naming what was attempted (e.g. "get secret ns/name"); keeps the cause. */
export function toKubeApiError(err: unknown, what: string): KubeApiError {
  if (err instanceof KubeApiError) return err;
  const s = apiStatus(err);
  const how =
    s.code === undefined ? `no answer from the API server: ${s.message}` : `HTTP ${s.code}: ${s.message}`;
  return new KubeApiError(`${what} failed: ${how}`, { status: s.code, cause: err });
}

/** True when the error is an API answer with this HTTP status. */
export function hasStatus(err: unknown, code: number): boolean {
  return apiStatus(err).code === code;
}
