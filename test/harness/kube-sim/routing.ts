// Maps Kubernetes REST paths and methods to a resource type, namespace, name, subresource and RBAC verb.

import { findResource, type ResourceType } from './resources.ts';

export interface ResourceRoute {
  type: ResourceType;
  namespace?: string;
  name?: string;
  subresource?: string;
  /** The legacy `/watch/` path prefix was used. */
  watchPath: boolean;
}

export type Route = { nonResource: string } | ResourceRoute | { notFound: true };

/**
 * Parses `/api/v1/…` and `/apis/<group>/<version>/…` paths; everything else is a non-resource path.
 * Unknown resources, versions and subresources are `notFound`.
 */
export function parseRoute(path: string): Route {
  const seg = path
    .split('/')
    .filter((s) => s !== '')
    .map(decodeURIComponent);
  let group: string;
  let version: string;
  let rest: string[];
  if (seg[0] === 'api' && seg.length >= 2) {
    group = '';
    version = seg[1]!;
    rest = seg.slice(2);
  } else if (seg[0] === 'apis' && seg.length >= 3) {
    group = seg[1]!;
    version = seg[2]!;
    rest = seg.slice(3);
  } else {
    return { nonResource: path };
  }
  if (rest.length === 0) return { nonResource: path };
  let watchPath = false;
  if (rest[0] === 'watch') {
    watchPath = true;
    rest = rest.slice(1);
  }
  let namespace: string | undefined;
  // `/namespaces/<ns>/<resource>…` unless <resource> is not namespaced (then it is the Namespace's subresource).
  if (rest[0] === 'namespaces' && rest.length >= 3 && findResource(group, rest[2]!)?.namespaced) {
    namespace = rest[1];
    rest = rest.slice(2);
  }
  if (rest.length > 3) return { notFound: true };
  const type = findResource(group, rest[0]!);
  if (!type || type.version !== version) return { notFound: true };
  if (namespace !== undefined && !type.namespaced) return { notFound: true };
  if (type.namespaced && namespace === undefined && rest.length > 1) return { notFound: true };
  const sub = rest[2];
  if (sub !== undefined && !type.subresources.includes(sub)) return { notFound: true };
  return { type, namespace, name: rest[1], subresource: sub, watchPath };
}

/** The RBAC verb of a request, or undefined when the method is not allowed on the path (405). */
export function verbOf(method: string, r: ResourceRoute, q: URLSearchParams): string | undefined {
  const watch = r.watchPath || q.get('watch') === 'true' || q.get('watch') === '1';
  switch (method) {
    case 'GET':
      if (watch) return 'watch';
      return r.name ? 'get' : 'list';
    case 'POST':
      if (r.name && !r.subresource) return undefined;
      return 'create';
    case 'PUT':
      return r.name ? 'update' : undefined;
    case 'PATCH':
      return r.name ? 'patch' : undefined;
    case 'DELETE':
      if (r.subresource) return undefined;
      return r.name ? 'delete' : 'deletecollection';
    default:
      return undefined;
  }
}
