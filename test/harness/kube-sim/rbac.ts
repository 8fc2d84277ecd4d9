// Bearer-token authentication and an RBAC authorizer for the API simulator, evaluating the Roles, ClusterRoles
// and bindings in the store the way the real RBAC authorizer does (subresources, resourceNames, nonResourceURLs).

import type { KObject, Store } from './store.ts';

export interface UserInfo {
  username: string;
  groups: string[];
}

export interface ResourceAttributes {
  verb: string;
  apiGroup: string;
  resource: string;
  subresource?: string;
  namespace?: string;
  name?: string;
}

export interface NonResourceAttributes {
  verb: string;
  path: string;
}

export type RequestAttributes = ResourceAttributes | NonResourceAttributes;

export interface PolicyRule {
  verbs: string[];
  apiGroups?: string[];
  resources?: string[];
  resourceNames?: string[];
  nonResourceURLs?: string[];
}

/**
 * What every authenticated user may do, standing in for the bootstrap ClusterRoles `system:discovery`,
 * `system:basic-user` and `system:public-info-viewer` that a real cluster binds to system:authenticated.
 */
export const AUTHENTICATED_DEFAULT_RULES: readonly PolicyRule[] = [
  {
    verbs: ['get'],
    nonResourceURLs: [
      '/api',
      '/api/*',
      '/apis',
      '/apis/*',
      '/healthz',
      '/livez',
      '/readyz',
      '/version',
      '/version/',
      '/openapi',
      '/openapi/*',
    ],
  },
  {
    verbs: ['create'],
    apiGroups: ['authorization.k8s.io'],
    resources: ['selfsubjectaccessreviews', 'selfsubjectrulesreviews'],
  },
  { verbs: ['create'], apiGroups: ['authentication.k8s.io'], resources: ['selfsubjectreviews'] },
];

const SA_PREFIX = 'system:serviceaccount:';

/** Maps bearer tokens to users; unknown tokens authenticate nobody. */
export class Authenticator {
  private readonly users = new Map<string, UserInfo>();

  /** Registers (or replaces) a token for a user; system:authenticated is added to the groups. */
  add(token: string, username: string, groups: string[]): void {
    const all = [...new Set([...groups, 'system:authenticated'])];
    this.users.set(token, { username, groups: all });
  }

  /** Registers a ServiceAccount token with the groups the real token authenticator gives it. */
  addServiceAccount(token: string, namespace: string, name: string): void {
    this.add(token, `${SA_PREFIX}${namespace}:${name}`, [
      'system:serviceaccounts',
      `system:serviceaccounts:${namespace}`,
    ]);
  }

  /** The user of an `Authorization` header value, or undefined (the server then answers 401). */
  authenticate(authorization: string | undefined): UserInfo | undefined {
    const m = authorization?.match(/^Bearer\s+(\S+)\s*$/i);
    return m ? this.users.get(m[1]!) : undefined;
  }
}

function isResource(a: RequestAttributes): a is ResourceAttributes {
  return 'resource' in a;
}

function has(list: readonly string[] | undefined, v: string): boolean {
  return !!list && (list.includes('*') || list.includes(v));
}

/** Whether one rule allows the request (the real rbac/v1 RuleAllows). */
export function ruleAllows(rule: PolicyRule, a: RequestAttributes): boolean {
  if (!has(rule.verbs, a.verb)) return false;
  if (!isResource(a)) {
    return (rule.nonResourceURLs ?? []).some(
      (u) => u === '*' || u === a.path || (u.endsWith('*') && a.path.startsWith(u.slice(0, -1))),
    );
  }
  if (!has(rule.apiGroups, a.apiGroup)) return false;
  const combined = a.subresource ? `${a.resource}/${a.subresource}` : a.resource;
  const resourceOk = (rule.resources ?? []).some(
    (r) => r === '*' || r === combined || (!!a.subresource && r === `*/${a.subresource}`),
  );
  if (!resourceOk) return false;
  if (!rule.resourceNames?.length) return true;
  // Named rules never match requests without a name (list, watch, create, deletecollection), like the real one.
  return !!a.name && rule.resourceNames.includes(a.name);
}

function subjectMatches(
  subject: KObject['subjects'][number],
  user: UserInfo,
  bindingNamespace?: string,
): boolean {
  switch (subject?.kind) {
    case 'User':
      return subject.name === user.username;
    case 'Group':
      return user.groups.includes(subject.name);
    case 'ServiceAccount': {
      const ns = subject.namespace || bindingNamespace;
      return user.username === `${SA_PREFIX}${ns}:${subject.name}`;
    }
    default:
      return false;
  }
}

/** The rules that apply to a user in a namespace (cluster-wide ones when namespace is undefined). */
export function rulesFor(store: Store, user: UserInfo, namespace: string | undefined): PolicyRule[] {
  const rules: PolicyRule[] = [...AUTHENTICATED_DEFAULT_RULES];
  const roleRules = (kind: string, name: string, ns: string | undefined): PolicyRule[] => {
    const role =
      kind === 'ClusterRole'
        ? store.get('rbac.authorization.k8s.io/clusterroles', undefined, name)
        : kind === 'Role' && ns
          ? store.get('rbac.authorization.k8s.io/roles', ns, name)
          : undefined;
    return (role?.rules as PolicyRule[] | undefined) ?? [];
  };
  for (const b of store.listRefs('rbac.authorization.k8s.io/clusterrolebindings')) {
    if ((b.subjects ?? []).some((s: KObject['subjects'][number]) => subjectMatches(s, user))) {
      rules.push(...roleRules(b.roleRef?.kind, b.roleRef?.name, undefined));
    }
  }
  if (namespace) {
    for (const b of store.listRefs('rbac.authorization.k8s.io/rolebindings', namespace)) {
      if ((b.subjects ?? []).some((s: KObject['subjects'][number]) => subjectMatches(s, user, namespace))) {
        rules.push(...roleRules(b.roleRef?.kind, b.roleRef?.name, namespace));
      }
    }
  }
  return rules;
}

/** The RBAC decision for one request: system:masters may do anything, everyone else needs a matching rule. */
export function authorize(store: Store, user: UserInfo, a: RequestAttributes): boolean {
  if (user.groups.includes('system:masters')) return true;
  const ns = isResource(a) ? a.namespace : undefined;
  return rulesFor(store, user, ns || undefined).some((r) => ruleAllows(r, a));
}

/** The message of the 403 the real authorizer causes, e.g. `User "x" cannot list resource "pods" in API group "" in the namespace "ns"`. */
export function forbiddenReason(user: UserInfo, a: RequestAttributes): string {
  if (!isResource(a)) return `User "${user.username}" cannot ${a.verb} path "${a.path}"`;
  const res = a.subresource ? `${a.resource}/${a.subresource}` : a.resource;
  const scope = a.namespace ? `in the namespace "${a.namespace}"` : 'at the cluster scope';
  return `User "${user.username}" cannot ${a.verb} resource "${res}" in API group "${a.apiGroup}" ${scope}`;
}

/** The `Impersonate-User` / `Impersonate-Group` headers (`kubectl --as`, `--as-group`). */
export interface ImpersonationRequest {
  user: string;
  groups: string[];
}

/**
 * The user a request acts as after impersonation, or a 403 message when the requester may not impersonate
 * (the real filter checks the `impersonate` verb on users, groups and serviceaccounts).
 */
export function impersonate(
  store: Store,
  requester: UserInfo,
  want: ImpersonationRequest,
): { user: UserInfo } | { forbidden: string; details: Record<string, string> } {
  const sa = want.user.startsWith(SA_PREFIX) ? want.user.slice(SA_PREFIX.length).split(':') : undefined;
  const checks: ResourceAttributes[] = [
    sa?.length === 2
      ? { verb: 'impersonate', apiGroup: '', resource: 'serviceaccounts', namespace: sa[0]!, name: sa[1]! }
      : { verb: 'impersonate', apiGroup: '', resource: 'users', namespace: '', name: want.user },
    ...want.groups.map((g) => ({
      verb: 'impersonate',
      apiGroup: '',
      resource: 'groups',
      namespace: '',
      name: g,
    })),
  ];
  for (const a of checks) {
    if (!authorize(store, requester, a)) {
      return {
        forbidden: `${a.resource} "${a.name}" is forbidden: ${forbiddenReason(requester, a)}`,
        details: { name: a.name!, kind: a.resource },
      };
    }
  }
  const groups = want.groups.length
    ? [...want.groups]
    : sa?.length === 2
      ? ['system:serviceaccounts', `system:serviceaccounts:${sa[0]}`]
      : [];
  if (!groups.includes('system:authenticated')) groups.push('system:authenticated');
  return { user: { username: want.user, groups } };
}
