import t from 'tap';
import { resolveWorkloads, type WorkloadReader } from '../../lib/kube/workloads.ts';
import { apiError, pod } from './fakes.ts';

type Obj =
  | { uid: string; annotations?: Record<string, string>; deployment?: { name: string; uid: string } }
  | Error;

/** A fake apps API over `kind/namespace/name` → object; records every read. */
function fakeApps(objects: Record<string, Obj>) {
  const reads: string[] = [];
  const read =
    (kind: string) =>
    async ({ namespace, name }: { namespace: string; name: string }) => {
      reads.push(`${kind}/${namespace}/${name}`);
      const o = objects[`${kind}/${namespace}/${name}`];
      if (o instanceof Error) throw o;
      if (!o) throw apiError(404, 'not found', { reason: 'NotFound' });
      return {
        metadata: {
          name,
          namespace,
          uid: o.uid,
          ...(o.annotations ? { annotations: o.annotations } : {}),
          ownerReferences: o.deployment
            ? [
                {
                  apiVersion: 'apps/v1',
                  kind: 'Deployment',
                  name: o.deployment.name,
                  uid: o.deployment.uid,
                  controller: true,
                },
              ]
            : [],
        },
      };
    };
  const api = {
    readNamespacedReplicaSet: read('ReplicaSet'),
    readNamespacedDeployment: read('Deployment'),
    readNamespacedStatefulSet: read('StatefulSet'),
    readNamespacedDaemonSet: read('DaemonSet'),
  } as unknown as WorkloadReader;
  return { api, reads };
}

const rsOwner = { kind: 'ReplicaSet', name: 'web-7d9', uid: 'rs-1' };

t.test(
  'when a pod is owned by a ReplicaSet then the Deployment above it is the top-level workload',
  async (t) => {
    const { api } = fakeApps({
      'ReplicaSet/shop/web-7d9': { uid: 'rs-1', deployment: { name: 'web', uid: 'dep-1' } },
      'Deployment/shop/web': { uid: 'dep-1', annotations: { 'k8s-auto-updater.io/enabled': 'false' } },
    });
    const r = await resolveWorkloads([pod({ name: 'web-7d9-a', namespace: 'shop', owner: rsOwner })], api);
    t.same(r.refs.get('uid-web-7d9-a'), {
      kind: 'ReplicaSet',
      name: 'web-7d9',
      namespace: 'shop',
      uid: 'rs-1',
      top: { kind: 'Deployment', name: 'web', uid: 'dep-1' },
    });
    t.same(
      r.annotations.get('dep-1'),
      { 'k8s-auto-updater.io/enabled': 'false' },
      'the Deployment annotations are read',
    );
    t.same(r.annotations.get('rs-1'), {});
    t.same(r.warnings, []);
  },
);

t.test('when pods share a ReplicaSet then it and its Deployment are read once', async (t) => {
  const { api, reads } = fakeApps({
    'ReplicaSet/shop/web-7d9': { uid: 'rs-1', deployment: { name: 'web', uid: 'dep-1' } },
    'Deployment/shop/web': { uid: 'dep-1' },
  });
  const pods = ['a', 'b', 'c'].map((n) => pod({ name: n, namespace: 'shop', owner: rsOwner }));
  await resolveWorkloads(pods, api);
  t.same(reads.sort(), ['Deployment/shop/web', 'ReplicaSet/shop/web-7d9']);
});

t.test(
  'when the ReplicaSet cannot be read then its annotations are unknown (null) and a warning names it',
  async (t) => {
    const { api } = fakeApps({
      'ReplicaSet/shop/web-7d9': apiError(403, 'forbidden', { reason: 'Forbidden' }),
    });
    const r = await resolveWorkloads([pod({ name: 'a', namespace: 'shop', owner: rsOwner })], api);
    t.same(r.refs.get('uid-a'), { kind: 'ReplicaSet', name: 'web-7d9', namespace: 'shop', uid: 'rs-1' });
    t.equal(r.annotations.get('rs-1'), null);
    t.match(r.warnings[0], /cannot read ReplicaSet shop\/web-7d9 \(HTTP 403\)/);
  },
);

t.test('when the object under the owner name has another uid then it is not trusted', async (t) => {
  const { api } = fakeApps({ 'ReplicaSet/shop/web-7d9': { uid: 'rs-NEW' } });
  const r = await resolveWorkloads([pod({ name: 'a', namespace: 'shop', owner: rsOwner })], api);
  t.equal(r.annotations.get('rs-1'), null);
  t.match(r.warnings[0], /was replaced/);
});

t.test(
  'when a pod is owned by a StatefulSet then its annotations are read and there is no Deployment',
  async (t) => {
    const { api, reads } = fakeApps({ 'StatefulSet/shop/db': { uid: 'sts-1', annotations: { a: 'b' } } });
    const r = await resolveWorkloads(
      [pod({ name: 'db-0', namespace: 'shop', owner: { kind: 'StatefulSet', name: 'db', uid: 'sts-1' } })],
      api,
    );
    t.same(r.refs.get('uid-db-0'), { kind: 'StatefulSet', name: 'db', namespace: 'shop', uid: 'sts-1' });
    t.same(r.annotations.get('sts-1'), { a: 'b' });
    t.same(reads, ['StatefulSet/shop/db']);
  },
);

t.test('when a pod has no controller or an unknown one then nothing is read', async (t) => {
  const { api, reads } = fakeApps({});
  const r = await resolveWorkloads(
    [
      pod({ name: 'bare' }),
      pod({ name: 'j', owner: { kind: 'Job', name: 'j', uid: 'job-1', apiVersion: 'batch/v1' } }),
    ],
    api,
  );
  t.equal(r.refs.size, 0);
  t.same(reads, []);
});
