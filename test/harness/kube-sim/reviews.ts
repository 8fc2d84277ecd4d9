// The virtual, never-stored resources: SelfSubjectAccessReview, SelfSubjectRulesReview, SelfSubjectReview
// (`kubectl auth can-i / whoami`) and the serviceaccounts/token subresource (TokenRequest).

import { randomBytes } from 'node:crypto';
import { type Authenticator, authorize, rulesFor, type UserInfo } from './rbac.ts';
import type { Store } from './store.ts';

// biome-ignore lint/suspicious/noExplicitAny: open JSON.
type Json = any;

/** `kubectl auth can-i`: the authorizer's decision for the attributes in the review. */
export function accessReview(store: Store, user: UserInfo, body: Json): Json {
  const ra = body?.spec?.resourceAttributes;
  const nra = body?.spec?.nonResourceAttributes;
  let allowed = false;
  if (ra) {
    allowed = authorize(store, user, {
      verb: ra.verb ?? '',
      apiGroup: ra.group ?? '',
      resource: ra.resource ?? '',
      ...(ra.subresource ? { subresource: ra.subresource } : {}),
      namespace: ra.namespace ?? '',
      ...(ra.name ? { name: ra.name } : {}),
    });
  } else if (nra) {
    allowed = authorize(store, user, { verb: nra.verb ?? '', path: nra.path ?? '' });
  }
  return {
    kind: 'SelfSubjectAccessReview',
    apiVersion: 'authorization.k8s.io/v1',
    metadata: { creationTimestamp: null },
    spec: body?.spec ?? {},
    status: { allowed, ...(allowed ? { reason: "RBAC: allowed by the simulator's RBAC authorizer" } : {}) },
  };
}

/** `kubectl auth can-i --list`: the rules that apply to the user in the namespace. */
export function rulesReview(store: Store, user: UserInfo, body: Json): Json {
  const ns = body?.spec?.namespace || undefined;
  const rules = user.groups.includes('system:masters')
    ? [
        { verbs: ['*'], apiGroups: ['*'], resources: ['*'] },
        { verbs: ['*'], nonResourceURLs: ['*'] },
      ]
    : rulesFor(store, user, ns);
  return {
    kind: 'SelfSubjectRulesReview',
    apiVersion: 'authorization.k8s.io/v1',
    metadata: { creationTimestamp: null },
    spec: body?.spec ?? {},
    status: {
      resourceRules: rules
        .filter((x) => x.resources)
        .map((x) => ({
          verbs: x.verbs,
          apiGroups: x.apiGroups ?? [],
          resources: x.resources,
          ...(x.resourceNames ? { resourceNames: x.resourceNames } : {}),
        })),
      nonResourceRules: rules
        .filter((x) => x.nonResourceURLs)
        .map((x) => ({ verbs: x.verbs, nonResourceURLs: x.nonResourceURLs })),
      incomplete: false,
    },
  };
}

/** `kubectl auth whoami`. */
export function selfSubjectReview(user: UserInfo): Json {
  return {
    kind: 'SelfSubjectReview',
    apiVersion: 'authentication.k8s.io/v1',
    metadata: { creationTimestamp: null },
    status: { userInfo: { username: user.username, groups: user.groups } },
  };
}

/**
 * serviceaccounts/<name>/token (`kubectl create token`): registers a fresh bearer token for the ServiceAccount;
 * throws the store's 404 when the ServiceAccount does not exist.
 */
export function tokenRequest(
  store: Store,
  auth: Authenticator,
  namespace: string,
  name: string,
  body: Json,
): Json {
  const sa = store.mustGet('/serviceaccounts', namespace, name);
  const token = randomBytes(24).toString('base64url');
  auth.addServiceAccount(token, namespace, name);
  const seconds = body?.spec?.expirationSeconds ?? 3600;
  return {
    kind: 'TokenRequest',
    apiVersion: 'authentication.k8s.io/v1',
    metadata: { name: sa.metadata.name, namespace: sa.metadata.namespace, creationTimestamp: null },
    spec: { audiences: [], ...(body?.spec ?? {}), expirationSeconds: seconds },
    status: {
      token,
      expirationTimestamp: new Date(Date.now() + seconds * 1000).toISOString().replace(/\.\d{3}Z$/, 'Z'),
    },
  };
}
