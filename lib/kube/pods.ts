// Paginated pod listing over the selected namespaces: all of them, a fixed list, or those matching a regex.

import type { V1ListMeta, V1Namespace, V1Pod } from '@kubernetes/client-node';
import { mapLimit } from '../shared/concurrency.ts';
import { hasStatus, type PodLister, type ShapedPodLister, toKubeApiError } from './api.ts';
import { podProjector } from './pod-fields.ts';

export interface ListPodsOptions {
  /** Namespaces to list, or 'all' (one cluster-wide listing). */
  namespaces: string[] | 'all';
  /** Keep only namespaces whose name matches (listed from the API; intersected with `namespaces` when that is a list). */
  namespaceRegex?: RegExp;
  labelSelector?: string;
  /** Items per page (`limit`). */
  pageSize?: number;
  /** Namespaces listed at the same time. */
  concurrency?: number;
  /**
   * Keep only the fields the updater reads (pod-fields.ts), page by page, so thousands of full pods are never held
   * at once. Off by default: callers that need whole pods get them.
   */
  project?: boolean;
}

interface Page<T> {
  items: T[];
  metadata?: V1ListMeta;
}

/**
 * Lists every pod in the selected namespaces, following `continue` tokens; a 410 Expired token restarts that listing
 * once from the start. Any other failure throws KubeApiError naming the namespace.
 */
export async function listPods(
  api: PodLister & Partial<ShapedPodLister>,
  opts: ListPodsOptions,
): Promise<V1Pod[]> {
  const limit = opts.pageSize ?? 500;
  const labelSelector = opts.labelSelector || undefined;
  // One projector per listing: its pods share their repeated strings. Shaped while streaming when the client can
  // (createClients), else page by page (plain fakes).
  const projector = opts.project ? podProjector() : undefined;
  const streamed = projector && api.listPodsShaped ? api.listPodsShaped.bind(api) : undefined;
  const shape = streamed ? undefined : projector;
  const page = (namespace: string | undefined, cont: string | undefined) => {
    if (streamed && projector) {
      const params = {
        ...(namespace === undefined ? {} : { namespace }),
        labelSelector,
        limit,
        _continue: cont,
      };
      return streamed(params, projector);
    }
    return namespace === undefined
      ? api.listPodForAllNamespaces({ labelSelector, limit, _continue: cont })
      : api.listNamespacedPod({ namespace, labelSelector, limit, _continue: cont });
  };
  if (opts.namespaces === 'all' && !opts.namespaceRegex) {
    return listAllPages((cont) => page(undefined, cont), 'list pods in all namespaces', shape);
  }
  const namespaces = opts.namespaceRegex
    ? await matchingNamespaces(api, opts.namespaceRegex, opts.namespaces, limit)
    : [...new Set(opts.namespaces === 'all' ? [] : opts.namespaces)];
  const perNamespace = await mapLimit(namespaces, opts.concurrency ?? 4, (namespace) =>
    listAllPages((cont) => page(namespace, cont), `list pods in namespace ${namespace}`, shape),
  );
  return perNamespace.flat();
}

async function matchingNamespaces(
  api: PodLister,
  regex: RegExp,
  within: string[] | 'all',
  limit: number,
): Promise<string[]> {
  const all: V1Namespace[] = await listAllPages(
    (cont) => api.listNamespace({ limit, _continue: cont }),
    'list namespaces',
  );
  const allowed = within === 'all' ? undefined : new Set(within);
  return all
    .map((ns) => ns.metadata?.name ?? '')
    .filter((name) => name !== '' && regexTest(regex, name) && (!allowed || allowed.has(name)))
    .sort();
}

// A /g or /y regex keeps lastIndex between calls and would skip every other match.
function regexTest(regex: RegExp, s: string): boolean {
  regex.lastIndex = 0;
  return regex.test(s);
}

/**
 * Fetches every page of a list call, mapping each item through `shape` as its page arrives; restarts once when a
 * continue token has expired (410).
 */
export async function listAllPages<T>(
  fetchPage: (cont: string | undefined) => Promise<Page<T>>,
  what: string,
  shape?: (item: T) => T,
): Promise<T[]> {
  let restarted = false;
  for (;;) {
    const items: T[] = [];
    let cont: string | undefined;
    try {
      do {
        const page = await fetchPage(cont);
        for (const item of page.items ?? []) items.push(shape ? shape(item) : item);
        cont = page.metadata?._continue || undefined;
      } while (cont);
      return items;
    } catch (err) {
      // The server compacted the snapshot the token pointed into: a fresh listing is consistent again.
      if (cont && !restarted && hasStatus(err, 410)) {
        restarted = true;
        continue;
      }
      throw toKubeApiError(err, what);
    }
  }
}
