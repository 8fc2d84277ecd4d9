// The simulated kubelet's pod lifecycle without a registry: scheduling, readiness, crash loops, termination,
// run-to-completion pods, and scripted behaviour through hooks and annotations.

import t from 'tap';
import { type ControllerOptions, startControllers } from '../harness/kube-sim/controllers/index.ts';
import { barePod, runningPod } from '../harness/kube-sim/fixtures.ts';
import { type KObject, Store } from '../harness/kube-sim/store.ts';

const NS = 'default';

function start(t: { teardown(fn: () => unknown): void }, opts: ControllerOptions = {}) {
  const store = new Store();
  const c = startControllers(store, { readyDelayMs: 2, terminationDelayMs: 2, ...opts });
  t.teardown(() => c.stop());
  return { store, c };
}

const cs = (store: Store, name: string): KObject | undefined =>
  store.get('/pods', NS, name)?.status?.containerStatuses?.[0];
const readyCond = (store: Store, name: string) =>
  (store.get('/pods', NS, name)?.status?.conditions as KObject[] | undefined)?.find(
    (c) => c.type === 'Ready',
  );

t.test('when the controllers start then the default nodes exist and are Ready', async (t) => {
  const { store, c } = start(t);
  await c.settle();
  const nodes = store.listRefs('/nodes');
  t.same(
    nodes.map((n) => n.metadata.name),
    ['node-a', 'node-b'],
  );
  for (const n of nodes) {
    t.match(
      (n.status.conditions as KObject[]).find((x) => x.type === 'Ready'),
      { status: 'True' },
    );
    t.equal(n.metadata.labels?.['kubernetes.io/hostname'], n.metadata.name);
  }
});

t.test(
  'when pods have no nodeName then they are spread round-robin, and a hostname selector pins one',
  async (t) => {
    const { store, c } = start(t);
    for (const n of ['p1', 'p2', 'p3', 'p4']) store.create('/pods', barePod(n, NS, 'nginx:1.25'));
    store.create(
      '/pods',
      barePod('pinned', NS, 'nginx:1.25', {
        podSpec: { nodeSelector: { 'kubernetes.io/hostname': 'node-b' } },
      }),
    );
    store.create('/pods', barePod('direct', NS, 'nginx:1.25', { nodeName: 'node-a' }));
    await c.settle((s) => s.listRefs('/pods', NS).every((p) => p.status?.phase === 'Running'));
    const on = (n: string) => store.get('/pods', NS, n)!.spec.nodeName;
    const counts = ['p1', 'p2', 'p3', 'p4'].map(on).reduce<Record<string, number>>((m, n) => {
      m[n] = (m[n] ?? 0) + 1;
      return m;
    }, {});
    t.same(counts, { 'node-a': 2, 'node-b': 2 });
    t.equal(on('pinned'), 'node-b');
    t.equal(on('direct'), 'node-a');
    t.match(store.get('/pods', NS, 'pinned')!.status, { hostIP: '10.0.0.11' });
  },
);

t.test('when no node fits then the pod stays Pending with PodScheduled False', async (t) => {
  const { store, c } = start(t);
  store.create('/pods', barePod('lost', NS, 'nginx:1.25', { podSpec: { nodeSelector: { disk: 'ssd' } } }));
  await c.settle((s) => !!s.get('/pods', NS, 'lost')?.status?.conditions);
  t.match(store.get('/pods', NS, 'lost')!.status, {
    phase: 'Pending',
    conditions: [{ type: 'PodScheduled', status: 'False', reason: 'Unschedulable' }],
  });
  // A node that fits appears: the pod is scheduled there.
  store.create('/nodes', {
    metadata: { name: 'fast', labels: { disk: 'ssd', 'kubernetes.io/hostname': 'fast' } },
  });
  await c.settle((s) => s.get('/pods', NS, 'lost')?.status?.phase === 'Running');
  t.equal(store.get('/pods', NS, 'lost')!.spec.nodeName, 'fast');
});

t.test('when a node is cordoned then new pods avoid it', async (t) => {
  const { store, c } = start(t);
  store.mutate('/nodes', undefined, 'node-a', (n) => {
    n.spec.unschedulable = true;
    return undefined;
  });
  for (const n of ['x1', 'x2', 'x3']) store.create('/pods', barePod(n, NS, 'nginx:1.25'));
  await c.settle((s) => s.listRefs('/pods', NS).every((p) => p.status?.phase === 'Running'));
  t.ok(store.listRefs('/pods', NS).every((p) => p.spec.nodeName === 'node-b'));
});

t.test(
  'when a pod is scripted to crash then it loops in CrashLoopBackOff with a growing restartCount',
  async (t) => {
    const { store, c } = start(t, { crashAfterMs: 2, crashBackoffMs: 5 });
    store.create(
      '/pods',
      barePod('crashy', NS, 'nginx:1.25', {
        podAnnotations: { 'sim.k8s-auto-updater.io/crash-loop': 'true' },
      }),
    );
    await c.waitFor(
      (s) => (s.get('/pods', NS, 'crashy')?.status?.containerStatuses?.[0]?.restartCount ?? 0) >= 3,
    );
    await c.waitFor(
      (s) => s.get('/pods', NS, 'crashy')?.status?.containerStatuses?.[0]?.state?.waiting !== undefined,
    );
    const st = cs(store, 'crashy')!;
    t.match(st, {
      ready: false,
      state: { waiting: { reason: 'CrashLoopBackOff' } },
      lastState: { terminated: { exitCode: 1, reason: 'Error' } },
    });
    t.ok(st.imageID, 'the container was pulled, so imageID is set');
    t.equal(store.get('/pods', NS, 'crashy')!.status.phase, 'Running');
    t.match(readyCond(store, 'crashy'), { status: 'False' });
  },
);

t.test('when the behaviour hook says crashLoop for one container then only that one restarts', async (t) => {
  const { store, c } = start(t, {
    crashAfterMs: 2,
    crashBackoffMs: 5,
    behaviour: (p) => (p.metadata.name === 'two' ? { crashLoop: ['side'] } : undefined),
  });
  store.create(
    '/pods',
    barePod('two', NS, 'nginx:1.25', { containers: [{ name: 'side', image: 'busybox:1.36' }] }),
  );
  await c.waitFor((s) => (s.get('/pods', NS, 'two')?.status?.containerStatuses?.[1]?.restartCount ?? 0) >= 2);
  const [app, side] = store.get('/pods', NS, 'two')!.status.containerStatuses as KObject[];
  t.match(app, { name: 'app', restartCount: 0, ready: true });
  t.match(side, { name: 'side' });
  t.ok(side!.restartCount >= 2);
});

t.test('when a pod is never ready then it runs with ready false', async (t) => {
  const { store, c } = start(t);
  store.create(
    '/pods',
    barePod('lazy', NS, 'nginx:1.25', { podAnnotations: { 'sim.k8s-auto-updater.io/never-ready': 'true' } }),
  );
  await c.settle((s) => s.get('/pods', NS, 'lazy')?.status?.phase === 'Running');
  t.match(cs(store, 'lazy'), { ready: false, started: true, state: { running: {} } });
  t.match(readyCond(store, 'lazy'), { status: 'False', reason: 'ContainersNotReady' });
});

t.test('when a pod is deleted then it terminates for a short grace and is removed', async (t) => {
  const { store, c } = start(t, { terminationDelayMs: 20 });
  store.create('/pods', barePod('bye', NS, 'nginx:1.25'));
  await c.settle((s) => readyCond(s, 'bye')?.status === 'True');
  const { object } = store.delete('/pods', NS, 'bye');
  t.ok(object.metadata.deletionTimestamp, 'a bound pod first gets a deletionTimestamp');
  await c.settle();
  t.notOk(store.get('/pods', NS, 'bye'), 'then the kubelet removes it');
});

t.test(
  'when the pod grace period is shorter than the simulated delay then the grace period wins',
  async (t) => {
    const { store, c } = start(t, { terminationDelayMs: 60_000 });
    store.create(
      '/pods',
      barePod('now', NS, 'nginx:1.25', { podSpec: { terminationGracePeriodSeconds: 1 } }),
    );
    await c.settle((s) => s.get('/pods', NS, 'now')?.status?.phase === 'Running');
    store.delete('/pods', NS, 'now');
    t.ok(store.get('/pods', NS, 'now'), 'terminating first');
    await c.settle(undefined, 5_000);
    t.notOk(store.get('/pods', NS, 'now'), 'removed after the 1 s grace, not the 60 s simulated delay');
  },
);

t.test('when a bare pod runs to completion then its phase follows the exit code annotation', async (t) => {
  const { store, c } = start(t, { runDurationMs: 2 });
  store.create('/pods', barePod('ok', NS, 'busybox:1.36', { podSpec: { restartPolicy: 'Never' } }));
  store.create(
    '/pods',
    barePod('ko', NS, 'busybox:1.36', {
      podSpec: { restartPolicy: 'Never' },
      podAnnotations: { 'sim.k8s-auto-updater.io/exit-code': '7' },
    }),
  );
  await c.settle((s) =>
    ['ok', 'ko'].every((n) => ['Succeeded', 'Failed'].includes(s.get('/pods', NS, n)?.status?.phase)),
  );
  t.equal(store.get('/pods', NS, 'ok')!.status.phase, 'Succeeded');
  t.equal(store.get('/pods', NS, 'ko')!.status.phase, 'Failed');
  t.match(cs(store, 'ko'), { state: { terminated: { exitCode: 7, reason: 'Error' } } });
});

t.test(
  'when runningPod inserts a pod then the kubelet leaves its status alone but still terminates it',
  async (t) => {
    const { store, c } = start(t);
    const id = `docker-pullable://nginx@sha256:${'e'.repeat(64)}`;
    runningPod(store, 'fast', NS, 'nginx:1.25', id);
    await c.settle();
    t.match(cs(store, 'fast'), { imageID: id, ready: true });
    store.delete('/pods', NS, 'fast');
    await c.settle();
    t.notOk(store.get('/pods', NS, 'fast'));
  },
);

t.test('when a running bare pod gets a new image then the container restarts on it', async (t) => {
  const { store, c } = start(t);
  c.kubelet.setSyntheticImage('app:2', `sha256:${'2'.repeat(64)}`);
  store.create('/pods', barePod('swap', NS, 'app:1'));
  await c.settle((s) => readyCond(s, 'swap')?.status === 'True');
  store.mutate('/pods', NS, 'swap', (p) => {
    p.spec.containers[0].image = 'app:2';
    return undefined;
  });
  await c.settle((s) => cs(s, 'swap')?.image === 'docker.io/library/app:2' && cs(s, 'swap')?.ready === true);
  t.match(cs(store, 'swap'), {
    imageID: `docker.io/library/app@sha256:${'2'.repeat(64)}`,
    restartCount: 1,
    lastState: { terminated: {} },
    state: { running: {} },
  });
});
