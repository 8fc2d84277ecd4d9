// The real @kubernetes/client-node against the simulator: kubeconfig and in-cluster loading, paginated listing of
// thousands of pods, eviction, ApiException errors with Status bodies, and watches.

import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  ApiException,
  CoreV1Api,
  KubeConfig,
  makeInformer,
  type V1Pod,
  Watch,
} from '@kubernetes/client-node';
import t from 'tap';
import { type Cluster, startCluster } from '../harness/kube-sim/index.ts';
import type { KObject } from '../harness/kube-sim/store.ts';
import { requireBin } from '../harness/require-bin.ts';

// Every test here talks to a simulated cluster, whose TLS material comes from the openssl CLI.
if (requireBin(t, 'openssl')) {
  let cluster: Cluster;
  let core: CoreV1Api;
  let kc: KubeConfig;
  t.before(async () => {
    cluster = await startCluster({ controllers: false });
    kc = new KubeConfig();
    kc.loadFromFile(cluster.kubeconfigPath);
    core = kc.makeApiClient(CoreV1Api);
  });
  t.teardown(() => cluster.stop());

  function readyPod(ns: string, name: string, labels: Record<string, string> = {}): KObject {
    return {
      metadata: { name, namespace: ns, labels },
      spec: { containers: [{ name: 'app', image: 'registry.local/app:1' }] },
      status: {
        phase: 'Running',
        conditions: [{ type: 'Ready', status: 'True' }],
        containerStatuses: [
          {
            name: 'app',
            image: 'registry.local/app:1',
            imageID: 'registry.local/app@sha256:' + '1'.repeat(64),
            ready: true,
            restartCount: 0,
            state: { running: {} },
          },
        ],
      },
    };
  }

  t.test('when 5,000 pods are listed in pages of 500 then every pod arrives once', async (t) => {
    cluster.store.create('/namespaces', { metadata: { name: 'bulk' } });
    for (let i = 0; i < 5000; i++)
      cluster.store.create('/pods', readyPod('bulk', `pod-${String(i).padStart(4, '0')}`));
    const start = performance.now();
    const names = new Set<string>();
    let pages = 0;
    let cont: string | undefined;
    do {
      const page = await core.listNamespacedPod({ namespace: 'bulk', limit: 500, _continue: cont });
      pages++;
      t.ok(page.items.length <= 500);
      for (const p of page.items) names.add(p.metadata!.name!);
      cont = page.metadata?._continue || undefined;
    } while (cont && pages < 20);
    t.comment(`listed 5000 pods in ${pages} pages in ${Math.round(performance.now() - start)} ms`);
    t.equal(pages, 10);
    t.equal(names.size, 5000);
    const first = await core.listNamespacedPod({ namespace: 'bulk', limit: 1 });
    t.equal(
      first.items[0]!.status!.containerStatuses![0]!.imageID,
      'registry.local/app@sha256:' + '1'.repeat(64),
    );
  });

  t.test(
    'when a pod is evicted through createNamespacedPodEviction then it is gone, and a budget answers 429',
    async (t) => {
      cluster.store.create('/namespaces', { metadata: { name: 'ev' } });
      cluster.store.create('/pods', readyPod('ev', 'free'));
      cluster.store.create('/pods', readyPod('ev', 'guarded', { app: 'guarded' }));
      const pdb = cluster.store.create('policy/poddisruptionbudgets', {
        metadata: { name: 'guard', namespace: 'ev' },
        spec: { minAvailable: 1, selector: { matchLabels: { app: 'guarded' } } },
      });
      cluster.store.mutate(
        'policy/poddisruptionbudgets',
        'ev',
        'guard',
        (o) => {
          o.status = {
            observedGeneration: pdb.metadata.generation,
            disruptionsAllowed: 0,
            currentHealthy: 1,
            desiredHealthy: 1,
            expectedPods: 1,
          };
          return undefined;
        },
        { subresource: 'status' },
      );
      const ok = await core.createNamespacedPodEviction({
        name: 'free',
        namespace: 'ev',
        body: { apiVersion: 'policy/v1', kind: 'Eviction', metadata: { name: 'free', namespace: 'ev' } },
      });
      // The server answers with a Status; client-node types it as V1Eviction, so only kind survives deserialisation.
      t.equal(ok.kind, 'Status');
      t.equal(cluster.store.get('/pods', 'ev', 'free'), undefined);

      const err = await core
        .createNamespacedPodEviction({
          name: 'guarded',
          namespace: 'ev',
          body: { apiVersion: 'policy/v1', kind: 'Eviction', metadata: { name: 'guarded', namespace: 'ev' } },
        })
        .then(
          () => undefined,
          (e: unknown) => e,
        );
      t.ok(err instanceof ApiException, 'a refused eviction is an ApiException');
      const ex = err as ApiException<string>;
      t.equal(ex.code, 429);
      const body = JSON.parse(ex.body);
      t.equal(body.reason, 'TooManyRequests');
      t.equal(body.details.causes[0].reason, 'DisruptionBudget');
      t.ok(cluster.store.get('/pods', 'ev', 'guarded'), 'the guarded pod stays');
    },
  );

  t.test(
    'when a pod does not exist then readNamespacedPod throws an ApiException 404 with a Status body',
    async (t) => {
      const err = await core.readNamespacedPod({ name: 'missing', namespace: 'default' }).then(
        () => undefined,
        (e: unknown) => e,
      );
      t.ok(err instanceof ApiException);
      const ex = err as ApiException<string>;
      t.equal(ex.code, 404);
      t.match(JSON.parse(ex.body), {
        kind: 'Status',
        reason: 'NotFound',
        message: 'pods "missing" not found',
      });
    },
  );

  t.test('when an injected fault answers 503 then the client surfaces it as an ApiException', async (t) => {
    cluster.faults.add({ method: 'GET', path: '/api/v1/namespaces/default/pods', status: 503, times: 1 });
    const err = await core.listNamespacedPod({ namespace: 'default' }).then(
      () => undefined,
      (e: unknown) => e,
    );
    t.equal((err as ApiException<string>).code, 503);
    t.same((await core.listNamespacedPod({ namespace: 'default' })).items, []);
  });

  t.test('when a Watch is open then it receives the events of later changes', async (t) => {
    cluster.store.create('/namespaces', { metadata: { name: 'watched' } });
    const list = await core.listNamespacedPod({ namespace: 'watched' });
    const seen: string[] = [];
    let resolveSeen: () => void = () => {};
    const three = new Promise<void>((r) => {
      resolveSeen = r;
    });
    const watch = new Watch(kc);
    const req = await watch.watch(
      '/api/v1/namespaces/watched/pods',
      { resourceVersion: list.metadata!.resourceVersion, allowWatchBookmarks: true },
      (type: string, obj: KObject) => {
        seen.push(`${type} ${obj.metadata.name}`);
        if (seen.length === 3) resolveSeen();
      },
      () => {},
    );
    t.teardown(() => req.abort());
    await core.createNamespacedPod({
      namespace: 'watched',
      body: { metadata: { name: 'w' }, spec: { containers: [{ name: 'c', image: 'x:1' }] } },
    });
    await core.patchNamespacedPod({
      name: 'w',
      namespace: 'watched',
      body: [{ op: 'add', path: '/metadata/labels', value: { seen: 'yes' } }],
    });
    await core.deleteNamespacedPod({ name: 'w', namespace: 'watched' });
    await three;
    t.same(seen, ['ADDED w', 'MODIFIED w', 'DELETED w']);
  });

  t.test('when an informer runs then its cache follows adds, label changes and deletes', async (t) => {
    cluster.store.create('/namespaces', { metadata: { name: 'informed' } });
    cluster.store.create('/pods', readyPod('informed', 'before', { app: 'x' }));
    const informer = makeInformer<V1Pod>(
      kc,
      '/api/v1/namespaces/informed/pods',
      () => core.listNamespacedPod({ namespace: 'informed', labelSelector: 'app=x' }),
      'app=x',
    );
    const seen: string[] = [];
    const waiters: Array<[number, () => void]> = [];
    const record = (what: string) => (p: V1Pod) => {
      seen.push(`${what} ${p.metadata!.name}`);
      for (const w of [...waiters]) if (seen.length >= w[0]) w[1]();
    };
    const until = (n: number) =>
      new Promise<void>((resolve, reject) => {
        if (seen.length >= n) return resolve();
        const timer = setTimeout(
          () => reject(new Error(`informer saw only ${JSON.stringify(seen)}`)),
          10_000,
        );
        waiters.push([
          n,
          () => {
            clearTimeout(timer);
            resolve();
          },
        ]);
      });
    informer.on('add', record('add'));
    informer.on('update', record('update'));
    informer.on('delete', record('delete'));
    await informer.start();
    t.teardown(() => informer.stop());
    await until(1);
    cluster.store.create('/pods', readyPod('informed', 'later', { app: 'x' }));
    cluster.store.create('/pods', readyPod('informed', 'unrelated', { app: 'y' }));
    await until(2);
    cluster.store.mutate('/pods', 'informed', 'before', (p) => {
      p.metadata.labels = { app: 'moved' };
      return undefined;
    });
    await until(3);
    t.same(seen, ['add before', 'add later', 'delete before'], 'a pod leaving the selector is a delete');
    t.same(
      informer
        .list()
        .map((p) => p.metadata!.name)
        .sort(),
      ['later'],
    );
  });

  t.test(
    'when loaded in-cluster from service-account files then the client authenticates as that ServiceAccount',
    async (t) => {
      const dir = mkdtempSync(join(tmpdir(), 'kube-sim-incluster-'));
      t.teardown(() => rmSync(dir, { recursive: true, force: true }));
      const sa = join(dir, 'var/run/secrets/kubernetes.io/serviceaccount');
      mkdirSync(sa, { recursive: true });
      writeFileSync(join(sa, 'token'), cluster.serviceAccountToken('default', 'updater'));
      writeFileSync(join(sa, 'ca.crt'), cluster.caPem);
      writeFileSync(join(sa, 'namespace'), 'default');
      cluster.store.create('rbac.authorization.k8s.io/roles', {
        metadata: { name: 'pods', namespace: 'default' },
        rules: [{ apiGroups: [''], resources: ['pods'], verbs: ['list'] }],
      });
      cluster.store.create('rbac.authorization.k8s.io/rolebindings', {
        metadata: { name: 'updater-pods', namespace: 'default' },
        roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'pods' },
        subjects: [{ kind: 'ServiceAccount', name: 'updater', namespace: 'default' }],
      });
      const saved = { host: process.env.KUBERNETES_SERVICE_HOST, port: process.env.KUBERNETES_SERVICE_PORT };
      t.teardown(() => {
        for (const [k, v] of [
          ['KUBERNETES_SERVICE_HOST', saved.host],
          ['KUBERNETES_SERVICE_PORT', saved.port],
        ] as const) {
          if (v === undefined) delete process.env[k];
          else process.env[k] = v;
        }
      });
      const url = new URL(cluster.url);
      process.env.KUBERNETES_SERVICE_HOST = url.hostname;
      process.env.KUBERNETES_SERVICE_PORT = url.port;
      const inCluster = new KubeConfig();
      inCluster.loadFromCluster(dir);
      t.equal(inCluster.getContextObject(inCluster.getCurrentContext())?.namespace, 'default');
      const api = inCluster.makeApiClient(CoreV1Api);
      const pods = await api.listNamespacedPod({ namespace: 'default' });
      t.same(pods.items, []);
      const denied = await api.listNamespacedPod({ namespace: 'kube-system' }).then(
        () => undefined,
        (e: unknown) => e,
      );
      t.equal((denied as ApiException<string>).code, 403);
      t.match(
        JSON.parse((denied as ApiException<string>).body).message,
        /User "system:serviceaccount:default:updater" cannot list/,
      );
    },
  );
}
