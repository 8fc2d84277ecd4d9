// The simulator at benchmark scale: 5,000 pods through a Deployment, its PDB and the kubelet, and the runningPod
// fast path.

import t from 'tap';
import { startControllers } from '../harness/kube-sim/controllers/index.ts';
import { deployment, pdb, runningPod } from '../harness/kube-sim/fixtures.ts';
import { Store } from '../harness/kube-sim/store.ts';

t.test(
  'when a Deployment asks for 5,000 replicas then all of them become available and the loops go quiet',
  async (t) => {
    const store = new Store();
    const c = startControllers(store);
    t.teardown(() => c.stop());
    const started = performance.now();
    store.create('apps/deployments', deployment('big', 'default', 'nginx:1.25', { replicas: 5000 }));
    store.create(
      'policy/poddisruptionbudgets',
      pdb('big', 'default', { app: 'big' }, { maxUnavailable: '10%' }),
    );
    await c.settle(
      (s) => s.get('apps/deployments', 'default', 'big')?.status?.availableReplicas === 5000,
      90_000,
    );
    t.comment(`5,000 pods available after ${Math.round(performance.now() - started)} ms`);
    const pods = store.listRefs('/pods', 'default');
    t.equal(pods.length, 5000);
    t.ok(
      pods.every((p) =>
        p.status?.containerStatuses?.[0]?.imageID?.startsWith('docker.io/library/nginx@sha256:'),
      ),
    );
    t.equal(new Set(pods.map((p) => p.metadata.name)).size, 5000, 'generated names are unique');
    await c.settle(
      (s) => s.get('policy/poddisruptionbudgets', 'default', 'big')?.status?.currentHealthy === 5000,
    );
    t.match(store.get('policy/poddisruptionbudgets', 'default', 'big')!.status, {
      expectedPods: 5000,
      disruptionsAllowed: 500,
    });
    t.same(c.errors, [], 'no reconcile errors');
    // Quiet means quiet: no further writes while idle.
    const rv = store.resourceVersion;
    c.resync();
    await c.settle();
    t.equal(store.resourceVersion, rv, 'a resync of a settled cluster writes nothing');
  },
);

t.test('when runningPod inserts 5,000 pods then they are Running with the given imageID', async (t) => {
  const store = new Store();
  const id = `docker.io/library/nginx@sha256:${'f'.repeat(64)}`;
  for (let i = 0; i < 5000; i++)
    runningPod(store, `p-${i}`, 'default', 'nginx:1.25', id, { node: i % 2 ? 'node-a' : 'node-b' });
  const pods = store.listRefs('/pods', 'default');
  t.equal(pods.length, 5000);
  t.ok(pods.every((p) => p.status.phase === 'Running' && p.status.containerStatuses[0].imageID === id));
});
