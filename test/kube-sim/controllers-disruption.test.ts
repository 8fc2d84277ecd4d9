// Behaviour of the simulated disruption controller: PodDisruptionBudget status as the eviction handler reads it.

import t from 'tap';
import { startControllers } from '../harness/kube-sim/controllers/index.ts';
import { barePod, deployment, pdb, statefulSet } from '../harness/kube-sim/fixtures.ts';
import { type KObject, Store } from '../harness/kube-sim/store.ts';

const NS = 'default';

async function withDeployment(
  t: { teardown(fn: () => unknown): void },
  replicas: number,
  budget: Parameters<typeof pdb>[3],
) {
  const store = new Store();
  const c = startControllers(store, { readyDelayMs: 2, terminationDelayMs: 2 });
  t.teardown(() => c.stop());
  store.create('apps/deployments', deployment('web', NS, 'nginx:1.25', { replicas }));
  store.create('policy/poddisruptionbudgets', pdb('web', NS, { app: 'web' }, budget));
  await c.settle((s) => s.get('policy/poddisruptionbudgets', NS, 'web')?.status?.currentHealthy === replicas);
  return { store, c, status: () => store.get('policy/poddisruptionbudgets', NS, 'web')!.status };
}

const cases: Array<{
  name: string;
  replicas: number;
  budget: Parameters<typeof pdb>[3];
  desired: number;
  allowed: number;
}> = [
  { name: 'minAvailable 2 of 3 allows 1', replicas: 3, budget: { minAvailable: 2 }, desired: 2, allowed: 1 },
  { name: 'minAvailable 3 of 3 allows 0', replicas: 3, budget: { minAvailable: 3 }, desired: 3, allowed: 0 },
  {
    name: 'minAvailable 50% of 3 rounds up to 2 and allows 1',
    replicas: 3,
    budget: { minAvailable: '50%' },
    desired: 2,
    allowed: 1,
  },
  {
    name: 'maxUnavailable 1 of 4 allows 1',
    replicas: 4,
    budget: { maxUnavailable: 1 },
    desired: 3,
    allowed: 1,
  },
  {
    name: 'maxUnavailable 50% of 4 allows 2',
    replicas: 4,
    budget: { maxUnavailable: '50%' },
    desired: 2,
    allowed: 2,
  },
  { name: 'maxUnavailable 0 allows 0', replicas: 2, budget: { maxUnavailable: 0 }, desired: 2, allowed: 0 },
];

for (const c of cases) {
  t.test(`when a PDB has ${c.name}`, async (t) => {
    const { status } = await withDeployment(t, c.replicas, c.budget);
    t.match(status(), {
      expectedPods: c.replicas,
      currentHealthy: c.replicas,
      desiredHealthy: c.desired,
      disruptionsAllowed: c.allowed,
      observedGeneration: 1,
    });
    const cond = (status().conditions as KObject[]).find((x) => x.type === 'DisruptionAllowed');
    t.match(
      cond,
      c.allowed > 0
        ? { status: 'True', reason: 'SufficientPods' }
        : { status: 'False', reason: 'InsufficientPods' },
    );
  });
}

t.test(
  'when the eviction handler records a disrupted pod then it stops counting as healthy until it is gone',
  async (t) => {
    const { store, c, status } = await withDeployment(t, 3, { minAvailable: 2 });
    const victim = store.listRefs('/pods', NS)[0]!.metadata.name!;
    // What the server's eviction handler does: decrement, record, then delete.
    store.mutate(
      'policy/poddisruptionbudgets',
      NS,
      'web',
      (o) => {
        o.status.disruptionsAllowed -= 1;
        o.status.disruptedPods = { [victim]: new Date().toISOString().replace(/\.\d{3}Z$/, 'Z') };
        return undefined;
      },
      { subresource: 'status' },
    );
    await c.settle();
    t.match(status(), { currentHealthy: 2, disruptionsAllowed: 0, disruptedPods: { [victim]: String } });
    store.delete('/pods', NS, victim);
    await c.settle((s) => s.get('policy/poddisruptionbudgets', NS, 'web')?.status?.currentHealthy === 3);
    t.match(status(), { disruptionsAllowed: 1 });
    t.notOk(status().disruptedPods, 'the entry is dropped once the pod is deleted');
  },
);

t.test('when a selected pod is not ready then it does not count as healthy', async (t) => {
  const store = new Store();
  const c = startControllers(store, {
    readyDelayMs: 2,
    behaviour: (p) => (p.metadata.name === 'b' ? { neverReady: true } : undefined),
  });
  t.teardown(() => c.stop());
  for (const n of ['a', 'b', 'c'])
    store.create('/pods', barePod(n, NS, 'nginx:1.25', { labels: { tier: 'x' } }));
  store.create('policy/poddisruptionbudgets', pdb('x', NS, { tier: 'x' }, { minAvailable: 1 }));
  await c.settle((s) => s.listRefs('/pods', NS).filter((p) => p.status?.phase === 'Running').length === 3);
  t.match(store.get('policy/poddisruptionbudgets', NS, 'x')!.status, {
    expectedPods: 3,
    currentHealthy: 2,
    desiredHealthy: 1,
    disruptionsAllowed: 1,
  });
});

t.test(
  'when a PDB covers a StatefulSet with maxUnavailable then expectedPods follows its replicas',
  async (t) => {
    const store = new Store();
    const c = startControllers(store, { readyDelayMs: 2 });
    t.teardown(() => c.stop());
    store.create('apps/statefulsets', statefulSet('db', NS, 'postgres:16', { replicas: 3 }));
    store.create('policy/poddisruptionbudgets', pdb('db', NS, { app: 'db' }, { maxUnavailable: 1 }));
    // While the StatefulSet is still creating pods, expectedPods is already 3.
    await c.waitFor((s) => s.get('policy/poddisruptionbudgets', NS, 'db')?.status?.expectedPods === 3);
    await c.settle((s) => s.get('policy/poddisruptionbudgets', NS, 'db')?.status?.currentHealthy === 3);
    t.match(store.get('policy/poddisruptionbudgets', NS, 'db')!.status, {
      desiredHealthy: 2,
      disruptionsAllowed: 1,
    });
  },
);

t.test('when a PDB selector changes then it follows the new pods', async (t) => {
  const store = new Store();
  const c = startControllers(store, { readyDelayMs: 2 });
  t.teardown(() => c.stop());
  for (const n of ['a1', 'a2']) store.create('/pods', barePod(n, NS, 'nginx:1.25', { labels: { grp: 'a' } }));
  store.create('/pods', barePod('b1', NS, 'nginx:1.25', { labels: { grp: 'b' } }));
  store.create('policy/poddisruptionbudgets', pdb('sel', NS, { grp: 'a' }, { minAvailable: 1 }));
  await c.settle((s) => s.get('policy/poddisruptionbudgets', NS, 'sel')?.status?.currentHealthy === 2);
  store.mutate('policy/poddisruptionbudgets', NS, 'sel', (o) => {
    o.spec.selector.matchLabels = { grp: 'b' };
    return undefined;
  });
  await c.settle();
  t.match(store.get('policy/poddisruptionbudgets', NS, 'sel')!.status, {
    expectedPods: 1,
    currentHealthy: 1,
    disruptionsAllowed: 0,
    observedGeneration: 2,
  });
});
