// The simulator's RBAC authorizer over HTTP: Roles and ClusterRoles through bindings, resourceNames, subresources,
// namespace scoping, discovery for authenticated users and SelfSubjectAccessReview.

import t from 'tap';
import { api } from '../harness/kube-sim/http.ts';
import { type Cluster, startCluster } from '../harness/kube-sim/index.ts';
import { requireBin } from '../harness/require-bin.ts';

const RBAC = 'rbac.authorization.k8s.io';

// Every test here talks to a simulated cluster, whose TLS material comes from the openssl CLI.
if (requireBin(t, 'openssl')) {
  let cluster: Cluster;
  t.before(async () => {
    cluster = await startCluster({ controllers: false });
    for (const ns of ['team-a', 'team-b']) cluster.store.create('/namespaces', { metadata: { name: ns } });
  });
  t.teardown(() => cluster.stop());

  function role(ns: string, name: string, rules: unknown[]): void {
    cluster.store.create(`${RBAC}/roles`, { metadata: { name, namespace: ns }, rules });
  }

  function bindSA(
    ns: string,
    name: string,
    roleRef: { kind: 'Role' | 'ClusterRole'; name: string },
    sa: string,
  ): void {
    cluster.store.create(`${RBAC}/rolebindings`, {
      metadata: { name, namespace: ns },
      roleRef: { apiGroup: RBAC, ...roleRef },
      subjects: [{ kind: 'ServiceAccount', name: sa, namespace: 'team-a' }],
    });
  }

  function podIn(ns: string, name: string): void {
    cluster.store.create('/pods', {
      metadata: { name, namespace: ns, labels: { app: name } },
      spec: { containers: [{ name: 'c', image: 'x:1' }] },
      status: { phase: 'Running', conditions: [{ type: 'Ready', status: 'True' }] },
    });
  }

  t.test('when a ServiceAccount has a Role with pods get/list then it can list but not delete', async (t) => {
    role('team-a', 'pod-reader', [{ apiGroups: [''], resources: ['pods'], verbs: ['get', 'list'] }]);
    bindSA('team-a', 'reader', { kind: 'Role', name: 'pod-reader' }, 'reader');
    podIn('team-a', 'web');
    const token = cluster.serviceAccountToken('team-a', 'reader');

    const list = await api(cluster, '/api/v1/namespaces/team-a/pods', { token });
    t.equal(list.status, 200);
    t.equal(list.json.items.length, 1);
    t.equal((await api(cluster, '/api/v1/namespaces/team-a/pods/web', { token })).status, 200);

    const del = await api(cluster, '/api/v1/namespaces/team-a/pods/web', { token, method: 'DELETE' });
    t.equal(del.status, 403);
    t.same(del.json, {
      kind: 'Status',
      apiVersion: 'v1',
      metadata: {},
      status: 'Failure',
      message:
        'pods "web" is forbidden: User "system:serviceaccount:team-a:reader" cannot delete resource "pods" in API group "" in the namespace "team-a"',
      reason: 'Forbidden',
      details: { name: 'web', group: '', kind: 'pods' },
      code: 403,
    });
    t.equal(cluster.store.get('/pods', 'team-a', 'web')?.metadata.name, 'web', 'the pod is still there');

    const other = await api(cluster, '/api/v1/namespaces/team-b/pods', { token });
    t.equal(other.status, 403);
    t.equal(
      other.json.message,
      'pods is forbidden: User "system:serviceaccount:team-a:reader" cannot list resource "pods" in API group "" in the namespace "team-b"',
    );
    const all = await api(cluster, '/api/v1/pods', { token });
    t.equal(all.status, 403);
    t.match(all.json.message, /at the cluster scope$/);
    const watch = await api(cluster, '/api/v1/namespaces/team-a/pods?watch=true&timeoutSeconds=1', { token });
    t.equal(watch.status, 403, 'watch is a verb of its own');
  });

  t.test('when a rule names one secret then only that secret can be read, and never listed', async (t) => {
    for (const name of ['pull', 'other'])
      cluster.store.create('/secrets', { metadata: { name, namespace: 'team-a' }, data: {} });
    role('team-a', 'one-secret', [
      { apiGroups: [''], resources: ['secrets'], resourceNames: ['pull'], verbs: ['get', 'list'] },
    ]);
    bindSA('team-a', 'one-secret', { kind: 'Role', name: 'one-secret' }, 'secrets');
    const token = cluster.serviceAccountToken('team-a', 'secrets');
    t.equal((await api(cluster, '/api/v1/namespaces/team-a/secrets/pull', { token })).status, 200);
    const denied = await api(cluster, '/api/v1/namespaces/team-a/secrets/other', { token });
    t.equal(denied.status, 403);
    t.match(
      denied.json.message,
      /^secrets "other" is forbidden: User "system:serviceaccount:team-a:secrets" cannot get resource "secrets"/,
    );
    t.equal(
      (await api(cluster, '/api/v1/namespaces/team-a/secrets', { token })).status,
      403,
      'a list has no name to match',
    );
  });

  t.test(
    'when a RoleBinding references a ClusterRole then the grant is limited to the binding namespace',
    async (t) => {
      cluster.store.create(`${RBAC}/clusterroles`, {
        metadata: { name: 'cm-viewer' },
        rules: [{ apiGroups: [''], resources: ['configmaps'], verbs: ['list'] }],
      });
      bindSA('team-b', 'cm-viewer', { kind: 'ClusterRole', name: 'cm-viewer' }, 'viewer');
      const token = cluster.serviceAccountToken('team-a', 'viewer');
      t.equal((await api(cluster, '/api/v1/namespaces/team-b/configmaps', { token })).status, 200);
      t.equal((await api(cluster, '/api/v1/namespaces/team-a/configmaps', { token })).status, 403);
      t.equal((await api(cluster, '/api/v1/configmaps', { token })).status, 403);
    },
  );

  t.test(
    'when a ClusterRoleBinding grants a ClusterRole to a group then it applies in every namespace',
    async (t) => {
      cluster.store.create(`${RBAC}/clusterroles`, {
        metadata: { name: 'node-reader' },
        rules: [{ apiGroups: [''], resources: ['nodes', 'pods'], verbs: ['list'] }],
      });
      cluster.store.create(`${RBAC}/clusterrolebindings`, {
        metadata: { name: 'ops-nodes' },
        roleRef: { apiGroup: RBAC, kind: 'ClusterRole', name: 'node-reader' },
        subjects: [{ kind: 'Group', name: 'ops', apiGroup: RBAC }],
      });
      cluster.addUser('ops-token', 'alice', ['ops']);
      cluster.addUser('dev-token', 'bob', ['dev']);
      t.equal((await api(cluster, '/api/v1/nodes', { token: 'ops-token' })).status, 200);
      t.equal((await api(cluster, '/api/v1/pods', { token: 'ops-token' })).status, 200);
      const bob = await api(cluster, '/api/v1/nodes', { token: 'dev-token' });
      t.equal(bob.status, 403);
      t.equal(
        bob.json.message,
        'nodes is forbidden: User "bob" cannot list resource "nodes" in API group "" at the cluster scope',
      );
    },
  );

  t.test(
    'when only pods create is granted then eviction is forbidden until pods/eviction is granted',
    async (t) => {
      podIn('team-a', 'victim');
      role('team-a', 'creator', [{ apiGroups: [''], resources: ['pods'], verbs: ['create', 'get'] }]);
      bindSA('team-a', 'creator', { kind: 'Role', name: 'creator' }, 'evictor');
      const token = cluster.serviceAccountToken('team-a', 'evictor');
      const evict = () =>
        api(cluster, '/api/v1/namespaces/team-a/pods/victim/eviction', {
          token,
          body: {
            apiVersion: 'policy/v1',
            kind: 'Eviction',
            metadata: { name: 'victim', namespace: 'team-a' },
          },
        });
      const denied = await evict();
      t.equal(denied.status, 403);
      t.equal(
        denied.json.message,
        'pods "victim" is forbidden: User "system:serviceaccount:team-a:evictor" cannot create resource "pods/eviction" in API group "" in the namespace "team-a"',
      );
      role('team-a', 'evictor', [{ apiGroups: [''], resources: ['pods/eviction'], verbs: ['create'] }]);
      bindSA('team-a', 'evictor', { kind: 'Role', name: 'evictor' }, 'evictor');
      t.equal((await evict()).status, 201);
    },
  );

  t.test('when a rule uses */subresource or * then it matches like the real authorizer', async (t) => {
    podIn('team-b', 'st');
    role('team-b', 'status-only', [{ apiGroups: ['*'], resources: ['*/status'], verbs: ['get'] }]);
    bindSA('team-b', 'status-only', { kind: 'Role', name: 'status-only' }, 'status');
    const token = cluster.serviceAccountToken('team-a', 'status');
    t.equal((await api(cluster, '/api/v1/namespaces/team-b/pods/st/status', { token })).status, 200);
    t.equal((await api(cluster, '/api/v1/namespaces/team-b/pods/st', { token })).status, 403);
  });

  t.test('when any authenticated user asks for discovery then it is allowed', async (t) => {
    const token = cluster.serviceAccountToken('team-a', 'nobody');
    for (const path of ['/api', '/api/v1', '/apis', '/apis/apps/v1', '/version']) {
      t.equal((await api(cluster, path, { token })).status, 200, path);
    }
    t.equal((await api(cluster, '/api/v1/namespaces/team-a/pods', { token })).status, 403);
  });

  t.test('when a user asks SelfSubjectAccessReview then the answer follows its bindings', async (t) => {
    const token = cluster.serviceAccountToken('team-a', 'reader');
    const review = (resourceAttributes: Record<string, string>) =>
      api(cluster, '/apis/authorization.k8s.io/v1/selfsubjectaccessreviews', {
        token,
        body: {
          apiVersion: 'authorization.k8s.io/v1',
          kind: 'SelfSubjectAccessReview',
          spec: { resourceAttributes },
        },
      });
    const yes = await review({ namespace: 'team-a', verb: 'list', resource: 'pods' });
    t.equal(yes.status, 201);
    t.equal(yes.json.status.allowed, true);
    const no = await review({
      namespace: 'team-a',
      verb: 'create',
      resource: 'pods',
      subresource: 'eviction',
    });
    t.equal(no.json.status.allowed, false);
    const admin = await api(cluster, '/apis/authorization.k8s.io/v1/selfsubjectaccessreviews', {
      body: { spec: { resourceAttributes: { verb: 'delete', resource: 'nodes' } } },
    });
    t.equal(admin.json.status.allowed, true, 'system:masters may do anything');
  });

  t.test(
    "when a request impersonates a ServiceAccount then it gets exactly that account's rights",
    async (t) => {
      const as = { 'Impersonate-User': 'system:serviceaccount:team-a:reader' };
      t.equal((await api(cluster, '/api/v1/namespaces/team-a/pods', { headers: as })).status, 200);
      const del = await api(cluster, '/api/v1/namespaces/team-a/pods/web', { method: 'DELETE', headers: as });
      t.equal(del.status, 403, 'the admin acting as the reader cannot delete');
      t.match(del.json.message, /User "system:serviceaccount:team-a:reader" cannot delete/);
      const grouped = await api(cluster, '/api/v1/nodes', {
        headers: { 'Impersonate-User': 'carol', 'Impersonate-Group': ['ops', 'other'] },
      });
      t.equal(grouped.status, 200, 'impersonated groups carry their bindings');

      const token = cluster.serviceAccountToken('team-a', 'reader');
      const denied = await api(cluster, '/api/v1/namespaces/team-a/pods', {
        token,
        headers: { 'Impersonate-User': 'admin' },
      });
      t.equal(denied.status, 403);
      t.equal(
        denied.json.message,
        'users "admin" is forbidden: User "system:serviceaccount:team-a:reader" cannot impersonate resource "users" in API group "" at the cluster scope',
      );
    },
  );
}
