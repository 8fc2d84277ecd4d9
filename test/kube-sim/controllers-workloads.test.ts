// Behaviour of the simulated workload controllers (ReplicaSet, Deployment, StatefulSet, DaemonSet) in-process.

import t from 'tap';
import { type Controllers, startControllers } from '../harness/kube-sim/controllers/index.ts';
import { daemonSet, deployment, replicaSet, statefulSet } from '../harness/kube-sim/fixtures.ts';
import { type KObject, Store } from '../harness/kube-sim/store.ts';

const NS = 'default';

function podsOf(store: Store, labels: Record<string, string>): KObject[] {
  return store
    .listRefs('/pods', NS)
    .filter((p) => Object.entries(labels).every(([k, v]) => p.metadata.labels?.[k] === v));
}

function ready(p: KObject): boolean {
  return p.status?.conditions?.some((c: KObject) => c.type === 'Ready' && c.status === 'True') ?? false;
}

function start(
  t: { teardown(fn: () => unknown): void },
  opts: Parameters<typeof startControllers>[1] = {},
): { store: Store; c: Controllers } {
  const store = new Store();
  const c = startControllers(store, { readyDelayMs: 5, terminationDelayMs: 5, ...opts });
  t.teardown(() => c.stop());
  return { store, c };
}

t.test(
  'when a ReplicaSet pod is evicted then a replacement is created at once and the old one goes',
  async (t) => {
    const { store, c } = start(t, { terminationDelayMs: 200 });
    store.create('apps/replicasets', replicaSet('web', NS, 'nginx:1.25', { replicas: 3 }));
    await c.settle((s) => s.get('apps/replicasets', NS, 'web')?.status?.readyReplicas === 3);
    const before = podsOf(store, { app: 'web' });
    t.equal(before.length, 3);
    t.ok(
      before.every((p) => p.metadata.name!.startsWith('web-')),
      'pods are named from generateName <rs>-',
    );
    t.ok(
      before.every(
        (p) =>
          p.metadata.ownerReferences?.[0]?.controller === true &&
          p.metadata.ownerReferences[0].kind === 'ReplicaSet',
      ),
      'pods have a controller ownerReference',
    );
    const victim = before[0]!;
    let replacedWhileTerminating = false;
    const off = store.watch('/pods', NS, undefined, (ev) => {
      if (ev.type === 'ADDED') replacedWhileTerminating = !!store.get('/pods', NS, victim.metadata.name!);
    });
    t.teardown(off);
    store.delete('/pods', NS, victim.metadata.name!);
    await c.settle(
      (s) =>
        !s.get('/pods', NS, victim.metadata.name!) &&
        s.get('apps/replicasets', NS, 'web')?.status?.readyReplicas === 3,
    );
    const after = podsOf(store, { app: 'web' });
    t.equal(after.length, 3);
    t.notOk(
      after.some((p) => p.metadata.uid === victim.metadata.uid),
      'the evicted pod is gone',
    );
    t.ok(replacedWhileTerminating, 'the replacement was created while the evicted pod was still terminating');
    const rs = store.get('apps/replicasets', NS, 'web')!;
    t.match(rs.status, {
      replicas: 3,
      readyReplicas: 3,
      availableReplicas: 3,
      fullyLabeledReplicas: 3,
      observedGeneration: 1,
    });
    t.same(c.errors, []);
  },
);

t.test('when a ReplicaSet scales down then not-ready pods are deleted first', async (t) => {
  const { store, c } = start(t, {
    behaviour: (pod) => (pod.metadata.labels?.slow === 'yes' ? { neverReady: true } : undefined),
  });
  store.create('apps/replicasets', replicaSet('mix', NS, 'nginx:1.25', { replicas: 2 }));
  await c.settle((s) => s.get('apps/replicasets', NS, 'mix')?.status?.readyReplicas === 2);
  // Mark one pod "slow" so that the next one created never becomes ready; scale up then down.
  store.mutate('apps/replicasets', NS, 'mix', (o) => {
    o.spec.replicas = 3;
    o.spec.template.metadata.labels.slow = 'yes';
    return undefined;
  });
  await c.settle((s) => podsOf(s, { app: 'mix' }).length === 3);
  const notReady = podsOf(store, { app: 'mix' }).find((p) => !ready(p))!;
  t.ok(notReady, 'one pod never becomes ready');
  store.mutate('apps/replicasets', NS, 'mix', (o) => {
    o.spec.replicas = 2;
    return undefined;
  });
  await c.settle((s) => podsOf(s, { app: 'mix' }).length === 2);
  t.notOk(store.get('/pods', NS, notReady.metadata.name!), 'the not-ready pod was the one deleted');
});

t.test(
  'when a Deployment is created then it gets a hashed ReplicaSet, revision 1 and Available/Progressing',
  async (t) => {
    const { store, c } = start(t);
    store.create('apps/deployments', deployment('api', NS, 'nginx:1.25', { replicas: 2 }));
    await c.settle((s) => s.get('apps/deployments', NS, 'api')?.status?.availableReplicas === 2);
    const d = store.get('apps/deployments', NS, 'api')!;
    const rss = store.listRefs('apps/replicasets', NS);
    t.equal(rss.length, 1);
    const rs = rss[0]!;
    const hash = rs.metadata.labels?.['pod-template-hash'];
    t.ok(hash, 'the ReplicaSet has a pod-template-hash label');
    t.equal(rs.metadata.name, `api-${hash}`);
    t.equal(rs.metadata.annotations?.['deployment.kubernetes.io/revision'], '1');
    t.equal(d.metadata.annotations?.['deployment.kubernetes.io/revision'], '1');
    t.ok(podsOf(store, { app: 'api' }).every((p) => p.metadata.labels?.['pod-template-hash'] === hash));
    t.match(d.status, {
      observedGeneration: 1,
      replicas: 2,
      updatedReplicas: 2,
      readyReplicas: 2,
      availableReplicas: 2,
      unavailableReplicas: 0,
    });
    const conds = Object.fromEntries((d.status.conditions as KObject[]).map((x) => [x.type, x]));
    t.match(conds.Available, { status: 'True', reason: 'MinimumReplicasAvailable' });
    t.match(conds.Progressing, { status: 'True', reason: 'NewReplicaSetAvailable' });
  },
);

t.test(
  'when a Deployment template changes then a rolling update makes revision 2 and scales the old ReplicaSet to 0',
  async (t) => {
    const { store, c } = start(t);
    store.create('apps/deployments', deployment('roll', NS, 'nginx:1.25', { replicas: 4 }));
    await c.settle((s) => s.get('apps/deployments', NS, 'roll')?.status?.availableReplicas === 4);
    const oldRS = store.listRefs('apps/replicasets', NS)[0]!;
    let maxPods = 0;
    let minAvailable = 4;
    const off = store.watch('/pods', NS, undefined, () => {
      const live = podsOf(store, { app: 'roll' }).filter((p) => !p.metadata.deletionTimestamp);
      maxPods = Math.max(maxPods, live.length);
      minAvailable = Math.min(minAvailable, live.filter(ready).length);
    });
    t.teardown(off);
    store.mutate('apps/deployments', NS, 'roll', (o) => {
      o.spec.template.spec.containers[0].image = 'nginx:1.26';
      return undefined;
    });
    await c.settle((s) => {
      const d = s.get('apps/deployments', NS, 'roll')!;
      return (
        d.status?.observedGeneration === 2 &&
        d.status?.updatedReplicas === 4 &&
        d.status?.replicas === 4 &&
        d.status?.availableReplicas === 4
      );
    });
    const rss = store.listRefs('apps/replicasets', NS);
    t.equal(rss.length, 2, 'the old ReplicaSet is kept for rollout undo');
    const old = store.get('apps/replicasets', NS, oldRS.metadata.name!)!;
    const neu = rss.find((r) => r.metadata.name !== oldRS.metadata.name)!;
    t.equal(old.spec.replicas, 0);
    t.equal(neu.spec.replicas, 4);
    t.equal(neu.metadata.annotations?.['deployment.kubernetes.io/revision'], '2');
    t.equal(
      store.get('apps/deployments', NS, 'roll')!.metadata.annotations?.['deployment.kubernetes.io/revision'],
      '2',
    );
    t.ok(maxPods <= 5, `never more than replicas + maxSurge (1) pods (saw ${maxPods})`);
    t.ok(
      minAvailable >= 3,
      `never fewer than replicas - maxUnavailable (1) ready pods (saw ${minAvailable})`,
    );
    t.ok(podsOf(store, { app: 'roll' }).every((p) => p.spec.containers[0].image === 'nginx:1.26'));
    const prog = (store.get('apps/deployments', NS, 'roll')!.status.conditions as KObject[]).find(
      (x) => x.type === 'Progressing',
    );
    t.match(prog, { status: 'True', reason: 'NewReplicaSetAvailable' });

    // Undo as kubectl does it: copy the old ReplicaSet's template back (without its hash label).
    const tmpl = structuredClone(old.spec.template);
    delete tmpl.metadata.labels['pod-template-hash'];
    store.mutate('apps/deployments', NS, 'roll', (o) => {
      o.spec.template = tmpl;
      return undefined;
    });
    await c.settle((s) => {
      const d = s.get('apps/deployments', NS, 'roll')!;
      return (
        d.status?.observedGeneration === 3 &&
        d.status?.updatedReplicas === 4 &&
        d.status?.replicas === 4 &&
        d.status?.availableReplicas === 4
      );
    });
    const back = store.get('apps/replicasets', NS, oldRS.metadata.name!)!;
    t.equal(back.spec.replicas, 4, 'the old ReplicaSet is reused');
    t.equal(
      back.metadata.annotations?.['deployment.kubernetes.io/revision'],
      '3',
      'and gets the next revision',
    );
    t.equal(store.listRefs('apps/replicasets', NS).length, 2);
  },
);

t.test('when a Deployment uses Recreate then old pods are gone before new ones start', async (t) => {
  const { store, c } = start(t, { terminationDelayMs: 30 });
  store.create(
    'apps/deployments',
    deployment('rec', NS, 'nginx:1.25', { replicas: 2, spec: { strategy: { type: 'Recreate' } } }),
  );
  await c.settle((s) => s.get('apps/deployments', NS, 'rec')?.status?.availableReplicas === 2);
  let overlap = false;
  const off = store.watch('/pods', NS, undefined, () => {
    const imgs = new Set(podsOf(store, { app: 'rec' }).map((p) => p.spec.containers[0].image));
    if (imgs.size > 1) overlap = true;
  });
  t.teardown(off);
  store.mutate('apps/deployments', NS, 'rec', (o) => {
    o.spec.template.spec.containers[0].image = 'nginx:1.26';
    return undefined;
  });
  await c.settle(
    (s) =>
      s.get('apps/deployments', NS, 'rec')?.status?.updatedReplicas === 2 &&
      s.get('apps/deployments', NS, 'rec')?.status?.availableReplicas === 2,
  );
  t.notOk(overlap, 'no old and new pods at the same time');
});

t.test('when pods never become ready then the Deployment reports ProgressDeadlineExceeded', async (t) => {
  let now = Date.now();
  const { store, c } = start(t, { now: () => now, behaviour: () => ({ neverReady: true }) });
  store.create(
    'apps/deployments',
    deployment('stuck', NS, 'nginx:1.25', { replicas: 1, spec: { progressDeadlineSeconds: 30 } }),
  );
  await c.settle((s) => s.get('apps/deployments', NS, 'stuck')?.status?.replicas === 1);
  const prog = () =>
    (store.get('apps/deployments', NS, 'stuck')!.status.conditions as KObject[]).find(
      (x) => x.type === 'Progressing',
    );
  t.match(prog(), { status: 'True', reason: /^(NewReplicaSetCreated|ReplicaSetUpdated)$/ });
  now += 31_000;
  c.resync();
  await c.settle(() => prog()?.reason === 'ProgressDeadlineExceeded');
  t.match(prog(), {
    status: 'False',
    reason: 'ProgressDeadlineExceeded',
    message: /has timed out progressing/,
  });
  const avail = (store.get('apps/deployments', NS, 'stuck')!.status.conditions as KObject[]).find(
    (x) => x.type === 'Available',
  );
  t.match(avail, { status: 'False', reason: 'MinimumReplicasUnavailable' });
});

t.test(
  'when a Deployment is paused then a template change makes no new ReplicaSet until resumed',
  async (t) => {
    const { store, c } = start(t);
    store.create('apps/deployments', deployment('pz', NS, 'nginx:1.25', { replicas: 1 }));
    await c.settle((s) => s.get('apps/deployments', NS, 'pz')?.status?.availableReplicas === 1);
    store.mutate('apps/deployments', NS, 'pz', (o) => {
      o.spec.paused = true;
      o.spec.template.spec.containers[0].image = 'nginx:1.26';
      return undefined;
    });
    await c.settle();
    t.equal(store.listRefs('apps/replicasets', NS).length, 1);
    store.mutate('apps/deployments', NS, 'pz', (o) => {
      o.spec.paused = false;
      return undefined;
    });
    await c.settle(
      (s) =>
        s.get('apps/deployments', NS, 'pz')?.status?.updatedReplicas === 1 &&
        s.get('apps/deployments', NS, 'pz')?.status?.replicas === 1,
    );
    t.equal(store.listRefs('apps/replicasets', NS).length, 2);
  },
);

t.test(
  'when a StatefulSet pod is evicted then it is recreated under the same name after the old one is removed',
  async (t) => {
    const { store, c } = start(t, { terminationDelayMs: 50 });
    store.create('apps/statefulsets', statefulSet('db', NS, 'postgres:16', { replicas: 3 }));
    await c.settle((s) => s.get('apps/statefulsets', NS, 'db')?.status?.readyReplicas === 3);
    const names = podsOf(store, { app: 'db' })
      .map((p) => p.metadata.name)
      .sort();
    t.same(names, ['db-0', 'db-1', 'db-2']);
    const created = podsOf(store, { app: 'db' }).map((p) => p.metadata.creationTimestamp);
    t.ok(created.every(Boolean));
    const old = store.get('/pods', NS, 'db-1')!;
    t.ok(
      old.metadata.labels?.['controller-revision-hash']?.startsWith('db-'),
      'pods carry controller-revision-hash',
    );
    store.delete('/pods', NS, 'db-1');
    await c.settle((s) => {
      const p = s.get('/pods', NS, 'db-1');
      return !!p && p.metadata.uid !== old.metadata.uid && ready(p);
    });
    t.pass('db-1 is back with a new uid');
    const sts = store.get('apps/statefulsets', NS, 'db')!;
    t.match(sts.status, {
      replicas: 3,
      readyReplicas: 3,
      currentReplicas: 3,
      updatedReplicas: 3,
      observedGeneration: 1,
    });
    t.equal(sts.status.currentRevision, sts.status.updateRevision);
  },
);

t.test('when a StatefulSet template changes then pods are replaced in reverse ordinal order', async (t) => {
  const { store, c } = start(t);
  store.create('apps/statefulsets', statefulSet('q', NS, 'redis:7', { replicas: 3 }));
  await c.settle((s) => s.get('apps/statefulsets', NS, 'q')?.status?.readyReplicas === 3);
  const order: string[] = [];
  const off = store.watch('/pods', NS, undefined, (ev) => {
    if (ev.type === 'ADDED' && ev.object.metadata.labels?.app === 'q') order.push(ev.object.metadata.name!);
  });
  t.teardown(off);
  store.mutate('apps/statefulsets', NS, 'q', (o) => {
    o.spec.template.spec.containers[0].image = 'redis:7.2';
    return undefined;
  });
  await c.settle((s) => {
    const st = s.get('apps/statefulsets', NS, 'q')!.status;
    return st.updatedReplicas === 3 && st.readyReplicas === 3 && st.currentRevision === st.updateRevision;
  });
  t.same(order, ['q-2', 'q-1', 'q-0']);
  t.ok(store.listRefs('apps/controllerrevisions', NS).length >= 2, 'a ControllerRevision per template');
});

t.test(
  'when a DaemonSet exists then each node runs exactly one of its pods, recreated when evicted',
  async (t) => {
    const { store, c } = start(t, { nodes: ['n1', 'n2', 'n3'] });
    store.create('apps/daemonsets', daemonSet('agent', 'kube-system', 'fluentd:1'));
    await c.settle((s) => s.get('apps/daemonsets', 'kube-system', 'agent')?.status?.numberReady === 3);
    const pods = store.listRefs('/pods', 'kube-system');
    t.same(pods.map((p) => p.spec.nodeName).sort(), ['n1', 'n2', 'n3']);
    const ds = store.get('apps/daemonsets', 'kube-system', 'agent')!;
    t.match(ds.status, {
      desiredNumberScheduled: 3,
      currentNumberScheduled: 3,
      numberReady: 3,
      updatedNumberScheduled: 3,
      numberAvailable: 3,
    });
    const victim = pods.find((p) => p.spec.nodeName === 'n2')!;
    store.delete('/pods', 'kube-system', victim.metadata.name!);
    await c.settle((s) => {
      const live = s.listRefs('/pods', 'kube-system').filter((p) => p.spec.nodeName === 'n2');
      return live.length === 1 && live[0]!.metadata.uid !== victim.metadata.uid && ready(live[0]!);
    });
    t.pass('n2 has a new daemon pod');
    // A new node gets a pod too.
    store.create('/nodes', { metadata: { name: 'n4', labels: { 'kubernetes.io/hostname': 'n4' } } });
    await c.settle((s) => s.get('apps/daemonsets', 'kube-system', 'agent')?.status?.numberReady === 4);
    t.equal(store.listRefs('/pods', 'kube-system').filter((p) => p.spec.nodeName === 'n4').length, 1);
  },
);

t.test(
  'when a Deployment has minReadySeconds then pods count as available only after that long',
  async (t) => {
    let now = Date.now();
    const { store, c } = start(t, { now: () => now });
    store.create(
      'apps/deployments',
      deployment('slow', NS, 'nginx:1.25', { replicas: 2, spec: { minReadySeconds: 30 } }),
    );
    await c.settle((s) => s.get('apps/deployments', NS, 'slow')?.status?.readyReplicas === 2);
    t.match(store.get('apps/deployments', NS, 'slow')!.status, { readyReplicas: 2, availableReplicas: 0 });
    now += 31_000;
    c.resync();
    await c.settle((s) => s.get('apps/deployments', NS, 'slow')?.status?.availableReplicas === 2);
    t.pass('available once minReadySeconds passed');
  },
);
