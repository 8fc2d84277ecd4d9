import t from 'tap';
import type { OwnerReader } from '../../lib/kube/api.ts';
import { createWorkloadResolver, resolveWorkload } from '../../lib/kube/owners.ts';
import { apiError, pod } from './fakes.ts';

function fakeApps(
  replicaSets: Record<string, { uid: string; deployment?: { name: string; uid: string } } | Error>,
) {
  const reads: string[] = [];
  const api = {
    async readNamespacedReplicaSet({ namespace, name }: { namespace: string; name: string }) {
      reads.push(`${namespace}/${name}`);
      const rs = replicaSets[`${namespace}/${name}`];
      if (rs instanceof Error) throw rs;
      if (!rs) throw apiError(404, 'not found', { reason: 'NotFound' });
      return {
        metadata: {
          name,
          namespace,
          uid: rs.uid,
          ownerReferences: rs.deployment
            ? [
                {
                  apiVersion: 'apps/v1',
                  kind: 'Deployment',
                  name: rs.deployment.name,
                  uid: rs.deployment.uid,
                  controller: true,
                },
              ]
            : [],
        },
      };
    },
  };
  return { api: api as unknown as OwnerReader, reads };
}

t.test(
  'when a pod is owned by a ReplicaSet then the Deployment above it is the top-level workload',
  async (t) => {
    const { api } = fakeApps({ 'shop/web-7d9': { uid: 'rs-1', deployment: { name: 'web', uid: 'dep-1' } } });
    const w = await resolveWorkload(
      pod({
        name: 'web-7d9-a',
        namespace: 'shop',
        owner: { kind: 'ReplicaSet', name: 'web-7d9', uid: 'rs-1' },
      }),
      api,
    );
    t.same(w, {
      kind: 'ReplicaSet',
      name: 'web-7d9',
      namespace: 'shop',
      uid: 'rs-1',
      top: { kind: 'Deployment', name: 'web', uid: 'dep-1' },
    });
  },
);

t.test('when pods share a ReplicaSet then it is read once', async (t) => {
  const { api, reads } = fakeApps({
    'shop/web-7d9': { uid: 'rs-1', deployment: { name: 'web', uid: 'dep-1' } },
  });
  const resolve = createWorkloadResolver(api);
  const owner = { kind: 'ReplicaSet', name: 'web-7d9', uid: 'rs-1' };
  await Promise.all(['a', 'b', 'c'].map((n) => resolve(pod({ name: n, namespace: 'shop', owner }))));
  t.same(reads, ['shop/web-7d9']);
});

t.test('when the ReplicaSet cannot be read then the controller is returned without top', async (t) => {
  const { api } = fakeApps({ 'shop/web-7d9': apiError(403, 'forbidden', { reason: 'Forbidden' }) });
  const w = await resolveWorkload(
    pod({ name: 'a', namespace: 'shop', owner: { kind: 'ReplicaSet', name: 'web-7d9', uid: 'rs-1' } }),
    api,
  );
  t.same(w, { kind: 'ReplicaSet', name: 'web-7d9', namespace: 'shop', uid: 'rs-1' });
});

t.test('when a pod is owned by a StatefulSet then it is its own top and nothing is read', async (t) => {
  const { api, reads } = fakeApps({});
  const w = await resolveWorkload(
    pod({ name: 'db-0', namespace: 'shop', owner: { kind: 'StatefulSet', name: 'db', uid: 'sts-1' } }),
    api,
  );
  t.same(w, {
    kind: 'StatefulSet',
    name: 'db',
    namespace: 'shop',
    uid: 'sts-1',
    top: { kind: 'StatefulSet', name: 'db', uid: 'sts-1' },
  });
  t.same(reads, []);
});

t.test('when a pod has no controller owner then there is no workload', async (t) => {
  const { api } = fakeApps({});
  t.equal(await resolveWorkload(pod({ name: 'bare' }), api), undefined);
});
