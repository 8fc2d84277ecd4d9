// API discovery documents (/version, /api, /apis, resource lists, aggregated discovery v2), all derived from the
// resource table so that kubectl's RESTMapper sees exactly what the simulator routes.

import { apiVersionOf, RESOURCE_TYPES, type ResourceType } from './resources.ts';

export const AGGREGATED_DISCOVERY_TYPE =
  'application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList';

export const VERSION_INFO = {
  major: '1',
  minor: '32',
  gitVersion: 'v1.32.0-kube-sim',
  gitCommit: '0000000000000000000000000000000000000000',
  gitTreeState: 'clean',
  buildDate: '2026-01-01T00:00:00Z',
  goVersion: 'go1.23.0',
  compiler: 'gc',
  platform: 'linux/amd64',
};

/** Workload kinds `kubectl get all` lists. */
const CATEGORY_ALL = new Set([
  'pods',
  'deployments',
  'replicasets',
  'statefulsets',
  'daemonsets',
  'jobs',
  'cronjobs',
]);

interface SubresourceInfo {
  group: string;
  version: string;
  kind: string;
  verbs: string[];
}

function subresourceInfo(t: ResourceType, sub: string): SubresourceInfo {
  switch (sub) {
    case 'eviction':
      return { group: 'policy', version: 'v1', kind: 'Eviction', verbs: ['create'] };
    case 'scale':
      return { group: 'autoscaling', version: 'v1', kind: 'Scale', verbs: ['get', 'patch', 'update'] };
    case 'log':
      return { group: '', version: 'v1', kind: 'Pod', verbs: ['get'] };
    case 'token':
      return { group: 'authentication.k8s.io', version: 'v1', kind: 'TokenRequest', verbs: ['create'] };
    default:
      return { group: t.group, version: t.version, kind: t.kind, verbs: ['get', 'patch', 'update'] };
  }
}

function groups(): Map<string, ResourceType[]> {
  const out = new Map<string, ResourceType[]>();
  for (const t of RESOURCE_TYPES) {
    const list = out.get(t.group) ?? [];
    list.push(t);
    out.set(t.group, list);
  }
  return out;
}

/** `/api`: the legacy core group's versions. */
export function apiVersions(serverAddress: string): object {
  return {
    kind: 'APIVersions',
    versions: ['v1'],
    serverAddressByClientCIDRs: [{ clientCIDR: '0.0.0.0/0', serverAddress }],
  };
}

function groupEntry(name: string, version: string): object {
  const gv = { groupVersion: `${name}/${version}`, version };
  return { name, versions: [gv], preferredVersion: gv };
}

/** `/apis`: the named groups. */
export function apiGroupList(): object {
  const list = [];
  for (const [name, types] of groups()) if (name !== '') list.push(groupEntry(name, types[0]!.version));
  return { kind: 'APIGroupList', apiVersion: 'v1', groups: list };
}

/** `/apis/<group>`: one group, or undefined when not served. */
export function apiGroup(name: string): object | undefined {
  const types = groups().get(name);
  if (!types || name === '') return undefined;
  return { kind: 'APIGroup', apiVersion: 'v1', ...groupEntry(name, types[0]!.version) };
}

/** `/api/v1` or `/apis/<group>/<version>`: the resource list (subresources as `pods/status` entries), or undefined. */
export function apiResourceList(group: string, version: string): object | undefined {
  const types = RESOURCE_TYPES.filter((t) => t.group === group && t.version === version);
  if (types.length === 0) return undefined;
  const resources: object[] = [];
  for (const t of types) {
    resources.push({
      name: t.resource,
      singularName: t.singular,
      namespaced: t.namespaced,
      kind: t.kind,
      verbs: t.verbs,
      ...(t.shortNames ? { shortNames: t.shortNames } : {}),
      ...(CATEGORY_ALL.has(t.resource) ? { categories: ['all'] } : {}),
    });
    for (const sub of t.subresources) {
      const s = subresourceInfo(t, sub);
      resources.push({
        name: `${t.resource}/${sub}`,
        singularName: '',
        namespaced: t.namespaced,
        ...(s.group !== t.group || s.version !== t.version ? { group: s.group, version: s.version } : {}),
        kind: s.kind,
        verbs: s.verbs,
      });
    }
  }
  return {
    kind: 'APIResourceList',
    apiVersion: 'v1',
    groupVersion: apiVersionOf({ group, version }),
    resources,
  };
}

/** Aggregated discovery (apidiscovery.k8s.io/v2) for `/api` (core only) or `/apis` (named groups). */
export function aggregatedDiscovery(core: boolean): object {
  const items = [];
  for (const [name, types] of groups()) {
    if ((name === '') !== core) continue;
    const version = types[0]!.version;
    items.push({
      metadata: { name, creationTimestamp: null },
      versions: [
        {
          version,
          freshness: 'Current',
          resources: types.map((t) => ({
            resource: t.resource,
            responseKind: { group: t.group, version: t.version, kind: t.kind },
            scope: t.namespaced ? 'Namespaced' : 'Cluster',
            singularResource: t.singular,
            verbs: t.verbs,
            ...(t.shortNames ? { shortNames: t.shortNames } : {}),
            ...(CATEGORY_ALL.has(t.resource) ? { categories: ['all'] } : {}),
            ...(t.subresources.length
              ? {
                  subresources: t.subresources.map((sub) => {
                    const s = subresourceInfo(t, sub);
                    return {
                      subresource: sub,
                      responseKind: { group: s.group, version: s.version, kind: s.kind },
                      verbs: s.verbs,
                    };
                  }),
                }
              : {}),
          })),
        },
      ],
    });
  }
  return { kind: 'APIGroupDiscoveryList', apiVersion: 'apidiscovery.k8s.io/v2', metadata: {}, items };
}

const QUERY_PARAMS = ['dryRun', 'fieldManager', 'fieldValidation', 'force', 'pretty'].map((name) => ({
  name,
  in: 'query',
  schema: { type: name === 'force' ? 'boolean' : 'string', uniqueItems: true },
}));

function gvPath(group: string, version: string): string {
  return group === '' ? `api/${version}` : `apis/${group}/${version}`;
}

/**
 * `/openapi/v3`: the index of group-version documents. kubectl reads it to learn that the server validates fields
 * itself (the `fieldValidation` parameter on PATCH operations), after which it needs no schemas.
 */
export function openApiV3Root(): object {
  const paths: Record<string, { serverRelativeURL: string }> = {};
  for (const [group, types] of groups()) {
    const p = gvPath(group, types[0]!.version);
    paths[p] = { serverRelativeURL: `/openapi/v3/${p}?hash=kube-sim-1` };
  }
  return { paths };
}

/** `/openapi/v3/<api/v1|apis/g/v>`: operations with their GVK and query parameters, no schemas; undefined when unknown. */
export function openApiV3GroupVersion(path: string): object | undefined {
  const t0 = RESOURCE_TYPES.find((t) => gvPath(t.group, t.version) === path);
  if (!t0) return undefined;
  const paths: Record<string, object> = {};
  for (const t of RESOURCE_TYPES) {
    if (t.group !== t0.group || t.version !== t0.version) continue;
    const gvk = { group: t.group, version: t.version, kind: t.kind };
    const base = `/${path}${t.namespaced ? '/namespaces/{namespace}' : ''}/${t.resource}`;
    const op = (action: string) => ({
      operationId: `${action}${t.kind}`,
      'x-kubernetes-action': action,
      'x-kubernetes-group-version-kind': gvk,
      parameters: QUERY_PARAMS,
      responses: { '200': { description: 'OK' } },
    });
    paths[base] = { get: op('list'), post: op('post') };
    paths[`${base}/{name}`] = { get: op('get'), put: op('put'), patch: op('patch'), delete: op('delete') };
  }
  return {
    openapi: '3.0.0',
    info: { title: 'Kubernetes', version: VERSION_INFO.gitVersion },
    paths,
    components: { schemas: {} },
  };
}
