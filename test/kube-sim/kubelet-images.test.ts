// The simulated kubelet against the real registry (docker-registry): pull policies with the per-node cache,
// imageID formats per runtime, pull secrets (Basic, Bearer), TLS, and pull failures.

import t from 'tap';
import { type ControllerOptions, startControllers } from '../harness/kube-sim/controllers/index.ts';
import { barePod, pullSecret, replicaSet } from '../harness/kube-sim/fixtures.ts';
import { type KObject, Store } from '../harness/kube-sim/store.ts';
import { pushImage, type Registry, startRegistry } from '../harness/registry/index.ts';
import { requireBin, type SkipOrFail } from '../harness/require-bin.ts';

const NS = 'default';

function start(t: { teardown(fn: () => unknown): void }, opts: ControllerOptions = {}) {
  const store = new Store();
  const c = startControllers(store, {
    nodes: ['node-a'],
    readyDelayMs: 2,
    terminationDelayMs: 2,
    pullBackoffMs: 40,
    ...opts,
  });
  t.teardown(() => c.stop());
  return { store, c };
}

function status(store: Store, name: string): KObject['status'] {
  return store.get('/pods', NS, name)?.status;
}

function running(store: Store, name: string): boolean {
  return status(store, name)?.containerStatuses?.[0]?.state?.running !== undefined;
}

async function registry(
  t: SkipOrFail & { teardown(fn: () => unknown): void },
  opts: Parameters<typeof startRegistry>[0] = {},
): Promise<Registry | undefined> {
  if (!requireBin(t, 'docker-registry')) return undefined;
  const reg = await startRegistry(opts);
  t.teardown(() => reg.stop());
  return reg;
}

t.test(
  'when the tag moved then IfNotPresent reuses the cached digest and Always pulls the new one',
  async (t) => {
    const reg = await registry(t);
    if (!reg) return;
    const v1 = await pushImage(reg, 'app', 'v1', { seed: 'one' });
    const { store, c } = start(t);
    const image = `${reg.host}/app:v1`;
    store.create('/pods', barePod('first', NS, image, { container: { imagePullPolicy: 'IfNotPresent' } }));
    await c.settle((s) => running(s, 'first'));
    t.equal(status(store, 'first').containerStatuses[0].imageID, `${reg.host}/app@${v1.digest}`);
    t.equal(status(store, 'first').containerStatuses[0].image, image);
    t.same(c.kubelet.cachedImage('node-a', image), { digest: v1.digest });

    const v2 = await pushImage(reg, 'app', 'v1', { seed: 'two' });
    t.not(v2.digest, v1.digest, 'the tag now points elsewhere');
    store.create('/pods', barePod('again', NS, image, { container: { imagePullPolicy: 'IfNotPresent' } }));
    await c.settle((s) => running(s, 'again'));
    t.equal(
      status(store, 'again').containerStatuses[0].imageID,
      `${reg.host}/app@${v1.digest}`,
      'IfNotPresent runs the old bytes',
    );

    store.create('/pods', barePod('always', NS, image, { container: { imagePullPolicy: 'Always' } }));
    await c.settle((s) => running(s, 'always'));
    t.equal(
      status(store, 'always').containerStatuses[0].imageID,
      `${reg.host}/app@${v2.digest}`,
      'Always resolves the tag again',
    );
    t.same(c.kubelet.cachedImage('node-a', image), { digest: v2.digest }, 'the node cache follows the pull');
  },
);

t.test(
  'when a tag has no pull policy then :latest defaults to Always and other tags to IfNotPresent',
  async (t) => {
    const reg = await registry(t);
    if (!reg) return;
    await pushImage(reg, 'svc', 'latest', { seed: 'l1' });
    await pushImage(reg, 'svc', '2', { seed: 's1' });
    const { store, c } = start(t);
    c.kubelet.cacheImage('node-a', `${reg.host}/svc:latest`, 'sha256:' + 'a'.repeat(64));
    c.kubelet.cacheImage('node-a', `${reg.host}/svc:2`, 'sha256:' + 'b'.repeat(64));
    store.create('/pods', barePod('lat', NS, `${reg.host}/svc`));
    store.create('/pods', barePod('two', NS, `${reg.host}/svc:2`));
    await c.settle((s) => running(s, 'lat') && running(s, 'two'));
    t.not(
      status(store, 'lat').containerStatuses[0].imageID,
      `${reg.host}/svc@sha256:${'a'.repeat(64)}`,
      'latest was pulled',
    );
    t.equal(
      status(store, 'two').containerStatuses[0].imageID,
      `${reg.host}/svc@sha256:${'b'.repeat(64)}`,
      '2 came from the cache',
    );
  },
);

t.test('when the runtime differs then imageID has that runtime format', async (t) => {
  const reg = await registry(t);
  if (!reg) return;
  const multi = await pushImage(reg, 'multi', '1', { format: 'oci-index', seed: 'm' });
  const single = await pushImage(reg, 'single', '1', { format: 'docker', seed: 's' });
  const amd64 = multi.children!.find((x) => x.platform.architecture === 'amd64')!;
  const { store, c } = start(t);
  const cases: Array<{ runtime: string; image: string; want: string }> = [
    { runtime: 'containerd', image: `${reg.host}/multi:1`, want: `${reg.host}/multi@${multi.digest}` },
    { runtime: 'crio', image: `${reg.host}/multi:1`, want: `${reg.host}/multi@${multi.digest}` },
    {
      runtime: 'docker',
      image: `${reg.host}/multi:1`,
      want: `docker-pullable://${reg.host}/multi@${multi.digest}`,
    },
    { runtime: 'docker-no-digest', image: `${reg.host}/multi:1`, want: `docker://${amd64.configDigest}` },
    { runtime: 'bare', image: `${reg.host}/multi:1`, want: amd64.configDigest },
    { runtime: 'containerd', image: `${reg.host}/single:1`, want: `${reg.host}/single@${single.digest}` },
    { runtime: 'bare', image: `${reg.host}/single:1`, want: single.configDigest! },
  ];
  cases.forEach((k, i) => {
    store.create(
      '/pods',
      barePod(`rt-${i}`, NS, k.image, { podAnnotations: { 'sim.k8s-auto-updater.io/runtime': k.runtime } }),
    );
  });
  await c.settle((s) => cases.every((_, i) => running(s, `rt-${i}`)));
  cases.forEach((k, i) => {
    t.equal(status(store, `rt-${i}`).containerStatuses[0].imageID, k.want, `${k.runtime} ${k.image}`);
  });
  t.match(status(store, 'rt-0').containerStatuses[0].containerID, /^containerd:\/\/[0-9a-f]{64}$/);
  t.match(status(store, 'rt-2').containerStatuses[0].containerID, /^docker:\/\//);
});

t.test(
  'when a Docker Hub image runs under containerd then image and imageID are fully qualified',
  async (t) => {
    const { store, c } = start(t, {
      nodes: [
        { name: 'n', runtime: 'docker' },
        { name: 'm', runtime: 'containerd' },
      ],
    });
    c.kubelet.setSyntheticImage('nginx:1.25', `sha256:${'c'.repeat(64)}`);
    store.create('/pods', barePod('hub-c', NS, 'nginx:1.25', { nodeName: 'm' }));
    store.create('/pods', barePod('hub-d', NS, 'nginx:1.25', { nodeName: 'n' }));
    await c.settle((s) => running(s, 'hub-c') && running(s, 'hub-d'));
    t.match(status(store, 'hub-c').containerStatuses[0], {
      image: 'docker.io/library/nginx:1.25',
      imageID: `docker.io/library/nginx@sha256:${'c'.repeat(64)}`,
    });
    t.match(status(store, 'hub-d').containerStatuses[0], {
      image: 'nginx:1.25',
      imageID: `docker-pullable://nginx@sha256:${'c'.repeat(64)}`,
    });
    t.equal(
      store.get('/nodes', undefined, 'n')!.status.nodeInfo.containerRuntimeVersion.split(':')[0],
      'docker',
    );
  },
);

for (const auth of ['basic', 'bearer'] as const) {
  // The bearer harness grants anonymous pulls (like Docker Hub), so there a wrong password is what must fail.
  const failing = auth === 'basic' ? 'no pull secret' : 'a wrong password';
  t.test(
    `when the registry wants ${auth} auth then the pod's pull secret is used, and with ${failing} the pull fails`,
    async (t) => {
      const reg = await registry(t, { auth });
      if (!reg) return;
      const img = await pushImage(reg, 'private/app', '1.0', { seed: auth });
      const { store, c } = start(t);
      const { username, password } = reg.credentials!;
      store.create('/secrets', pullSecret('regcred', NS, reg.host, username, password));
      store.create(
        '/pods',
        barePod('with', NS, `${reg.host}/private/app:1.0`, {
          imagePullSecrets: ['regcred'],
          container: { imagePullPolicy: 'Always' },
        }),
      );
      store.create('/secrets', pullSecret('wrong', NS, reg.host, username, `${password}-not`));
      store.create(
        '/pods',
        barePod('without', NS, `${reg.host}/private/app:1.0`, {
          // Always: with IfNotPresent the node's cached copy (pulled for 'with') would run without any auth check.
          container: { imagePullPolicy: 'Always' },
          ...(auth === 'bearer' ? { imagePullSecrets: ['wrong'] } : {}),
        }),
      );
      await c.settle(
        (s) => running(s, 'with') && !!status(s, 'without')?.containerStatuses?.[0]?.state?.waiting,
      );
      t.equal(status(store, 'with').containerStatuses[0].imageID, `${reg.host}/private/app@${img.digest}`);
      const w = status(store, 'without');
      t.equal(w.phase, 'Pending');
      t.match(w.containerStatuses[0], {
        imageID: '',
        ready: false,
        state: { waiting: { reason: /^(ErrImagePull|ImagePullBackOff)$/ } },
      });
      if (auth === 'bearer') {
        t.ok(
          reg
            .tokenServer!.requests()
            .some((r) => r.user === username && r.scope === 'repository:private/app:pull'),
          "a pull token was fetched with the secret's user",
        );
      }
      // The pull is retried with back-off: ImagePullBackOff shows up.
      await c.waitFor(
        (s) => status(s, 'without')?.containerStatuses?.[0]?.state?.waiting?.reason === 'ImagePullBackOff',
      );
      t.pass('ImagePullBackOff after a failed pull');
    },
  );
}

t.test(
  'when the ServiceAccount names a pull secret then controller-made pods get it and pull with it',
  async (t) => {
    const reg = await registry(t, { auth: 'basic' });
    if (!reg) return;
    const img = await pushImage(reg, 'team/app', '2', { seed: 'sa' });
    const { store, c } = start(t);
    const { username, password } = reg.credentials!;
    store.create('/secrets', pullSecret('sa-cred', NS, reg.host, username, password));
    store.create('/serviceaccounts', {
      metadata: { name: 'builder', namespace: NS },
      imagePullSecrets: [{ name: 'sa-cred' }],
    });
    store.create(
      'apps/replicasets',
      replicaSet('sa', NS, `${reg.host}/team/app:2`, { podSpec: { serviceAccountName: 'builder' } }),
    );
    await c.settle((s) =>
      s.listRefs('/pods', NS).some((p) => p.status?.containerStatuses?.[0]?.state?.running),
    );
    const pod = store.listRefs('/pods', NS)[0]!;
    t.same(pod.spec.imagePullSecrets, [{ name: 'sa-cred' }], "admission copied the account's pull secret");
    t.equal(pod.status.containerStatuses[0].imageID, `${reg.host}/team/app@${img.digest}`);
  },
);

t.test('when the registry serves TLS then the configured CA is trusted', async (t) => {
  const reg = await registry(t, { tls: true });
  if (!reg) return;
  const img = await pushImage(reg, 'secure', '1', { seed: 'tls' });
  const { store, c } = start(t, { registries: { [reg.host]: { ca: reg.caPem! } } });
  store.create('/pods', barePod('tls', NS, `${reg.host}/secure:1`));
  await c.settle((s) => running(s, 'tls'));
  t.equal(status(store, 'tls').containerStatuses[0].imageID, `${reg.host}/secure@${img.digest}`);
});

t.test(
  'when a TLS registry is not given its CA then the certificate is not trusted and the pull fails',
  async (t) => {
    const reg = await registry(t, { tls: true });
    if (!reg) return;
    await pushImage(reg, 'secure', '1', { seed: 'tls' });
    const { store, c } = start(t, { registries: { [reg.host]: { tls: true } } });
    store.create('/pods', barePod('untrusted', NS, `${reg.host}/secure:1`));
    await c.settle((s) => !!status(s, 'untrusted')?.containerStatuses?.[0]?.state?.waiting?.message);
    t.match(status(store, 'untrusted').containerStatuses[0], {
      imageID: '',
      state: { waiting: { reason: /^(ErrImagePull|ImagePullBackOff)$/ } },
    });
    t.match(c.kubelet.pulls[0]?.error, /certificate|self.signed|issuer/i);
  },
);

t.test('when a tag does not exist then the pod stays Pending with ErrImagePull and no imageID', async (t) => {
  const reg = await registry(t);
  if (!reg) return;
  const { store, c } = start(t);
  store.create('/pods', barePod('missing', NS, `${reg.host}/nope:1`));
  await c.settle((s) => !!status(s, 'missing')?.containerStatuses?.[0]?.state?.waiting?.message);
  const st = status(store, 'missing');
  t.equal(st.phase, 'Pending');
  t.match(st.containerStatuses[0].state.waiting, { reason: /^(ErrImagePull|ImagePullBackOff)$/ });
  t.match(
    st.conditions.find((x: KObject) => x.type === 'Ready'),
    { status: 'False' },
  );
  // Once the image is pushed, the retry succeeds.
  const img = await pushImage(reg, 'nope', '1', { seed: 'late' });
  await c.waitFor((s) => running(s, 'missing'), 15_000);
  t.equal(status(store, 'missing').containerStatuses[0].imageID, `${reg.host}/nope@${img.digest}`);
});

t.test('when the policy is Never then only a cached image runs', async (t) => {
  const { store, c } = start(t);
  store.create(
    '/pods',
    barePod('never', NS, '127.0.0.1:1/none:1', { container: { imagePullPolicy: 'Never' } }),
  );
  await c.settle((s) => !!status(s, 'never')?.containerStatuses?.[0]?.state?.waiting?.reason);
  t.equal(status(store, 'never').containerStatuses[0].state.waiting.reason, 'ErrImageNeverPull');
  c.kubelet.cacheImage('node-a', '127.0.0.1:1/none:1', `sha256:${'d'.repeat(64)}`);
  store.create(
    '/pods',
    barePod('cached', NS, '127.0.0.1:1/none:1', { container: { imagePullPolicy: 'Never' } }),
  );
  await c.settle((s) => running(s, 'cached'));
  t.equal(status(store, 'cached').containerStatuses[0].imageID, `127.0.0.1:1/none@sha256:${'d'.repeat(64)}`);
});

t.test('when a pod has init containers then they complete first with their imageID', async (t) => {
  const { store, c } = start(t);
  store.create(
    '/pods',
    barePod('init', NS, 'nginx:1.25', { initContainers: [{ name: 'setup', image: 'busybox:1.36' }] }),
  );
  await c.settle((s) => status(s, 'init')?.phase === 'Running');
  const st = status(store, 'init');
  t.match(st.initContainerStatuses[0], {
    name: 'setup',
    imageID: /^docker\.io\/library\/busybox@sha256:/,
    state: { terminated: { exitCode: 0, reason: 'Completed' } },
  });
  t.match(
    st.conditions.find((x: KObject) => x.type === 'Initialized'),
    { status: 'True' },
  );
  t.ok(st.podIP && st.hostIP && st.startTime, 'podIP, hostIP and startTime are set');
  t.equal(st.qosClass, 'BestEffort');
  t.same(
    st.conditions.map((x: KObject) => `${x.type}=${x.status}`),
    ['Initialized=True', 'Ready=True', 'ContainersReady=True', 'PodScheduled=True'],
  );
});

t.test('when an Always container crash-loops then every restart resolves the tag again', async (t) => {
  const reg = await registry(t);
  if (!reg) return;
  const v1 = await pushImage(reg, 'loop', 'v1', { seed: 'first' });
  const { store, c } = start(t, { crashAfterMs: 5, crashBackoffMs: 20 });
  const image = `${reg.host}/loop:v1`;
  store.create(
    '/pods',
    barePod('loop', NS, image, {
      container: { imagePullPolicy: 'Always' },
      podAnnotations: { 'sim.k8s-auto-updater.io/crash-loop': 'true' },
    }),
  );
  await c.waitFor(
    (s) => status(s, 'loop')?.containerStatuses?.[0]?.imageID === `${reg.host}/loop@${v1.digest}`,
  );
  const v2 = await pushImage(reg, 'loop', 'v1', { seed: 'second' });
  await c.waitFor(
    (s) => status(s, 'loop')?.containerStatuses?.[0]?.imageID === `${reg.host}/loop@${v2.digest}`,
  );
  t.ok(status(store, 'loop').containerStatuses[0].restartCount >= 1, 'it got there by restarting');
});
