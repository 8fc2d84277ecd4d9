// The API simulator at the wire level: verbs, Status bodies, selectors, pagination, patches, watches, eviction,
// garbage collection, faults, discovery and server-side tables, as the real API server answers them.

import t from 'tap';
import { api, openWatch } from '../harness/kube-sim/http.ts';
import { type Cluster, startCluster } from '../harness/kube-sim/index.ts';
import type { KObject } from '../harness/kube-sim/store.ts';
import { requireBin } from '../harness/require-bin.ts';

const NS = '/api/v1/namespaces/default';

// Every test here talks to a simulated cluster, whose TLS material comes from the openssl CLI.
if (requireBin(t, 'openssl')) {
  let cluster: Cluster;
  t.before(async () => {
    cluster = await startCluster({ controllers: false });
  });
  t.teardown(() => cluster.stop());

  function pod(
    name: string,
    extra: { labels?: Record<string, string>; node?: string; phase?: string; ns?: string } = {},
  ): KObject {
    return {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name, namespace: extra.ns ?? 'default', ...(extra.labels ? { labels: extra.labels } : {}) },
      spec: {
        ...(extra.node ? { nodeName: extra.node } : {}),
        containers: [{ name: 'app', image: 'nginx:1.25' }],
      },
    };
  }

  /** Stores a pod directly with a status, as the kubelet would report it. */
  function runningPod(name: string, labels: Record<string, string>, ready = true, ns = 'default'): KObject {
    const p = pod(name, { labels, ns });
    p.status = {
      phase: 'Running',
      conditions: [{ type: 'Ready', status: ready ? 'True' : 'False' }],
      containerStatuses: [{ name: 'app', ready, restartCount: 0, state: { running: {} } }],
    };
    return cluster.store.create('/pods', p);
  }

  async function namespace(name: string): Promise<void> {
    const r = await api(cluster, '/api/v1/namespaces', { body: { metadata: { name } } });
    if (r.status !== 201) throw new Error(`namespace ${name}: ${r.text}`);
  }

  t.test(
    'when a pod is created, read, updated and deleted then the API answers like the real server',
    async (t) => {
      const created = await api(cluster, `${NS}/pods`, { body: pod('crud') });
      t.equal(created.status, 201);
      t.match(created.json, {
        kind: 'Pod',
        apiVersion: 'v1',
        metadata: { name: 'crud', namespace: 'default' },
      });
      t.ok(created.json.metadata.uid);
      t.equal(created.json.status.phase, 'Pending', 'a new pod starts Pending');
      t.equal(
        created.json.spec.containers[0].imagePullPolicy,
        'IfNotPresent',
        'imagePullPolicy is defaulted from the tag',
      );

      const got = await api(cluster, `${NS}/pods/crud`);
      t.equal(got.status, 200);
      t.equal(got.json.metadata.resourceVersion, created.json.metadata.resourceVersion);

      const stale = structuredClone(got.json);
      const fresh = structuredClone(got.json);
      fresh.metadata.labels = { v: '2' };
      const updated = await api(cluster, `${NS}/pods/crud`, { method: 'PUT', body: fresh });
      t.equal(updated.status, 200);
      t.not(updated.json.metadata.resourceVersion, got.json.metadata.resourceVersion);

      stale.metadata.labels = { v: 'stale' };
      const conflict = await api(cluster, `${NS}/pods/crud`, { method: 'PUT', body: stale });
      t.equal(conflict.status, 409);
      t.match(conflict.json, {
        kind: 'Status',
        status: 'Failure',
        reason: 'Conflict',
        code: 409,
        message: /Operation cannot be fulfilled on pods "crud": the object has been modified/,
      });

      const again = await api(cluster, `${NS}/pods`, { body: pod('crud') });
      t.equal(again.status, 409);
      t.match(again.json, {
        reason: 'AlreadyExists',
        message: 'pods "crud" already exists',
        details: { name: 'crud', kind: 'pods' },
      });

      const del = await api(cluster, `${NS}/pods/crud`, { method: 'DELETE' });
      t.equal(del.status, 200);
      t.equal(del.json.kind, 'Pod', 'deleting a pod returns the pod');
      const gone = await api(cluster, `${NS}/pods/crud`);
      t.equal(gone.status, 404);
      t.same(gone.json, {
        kind: 'Status',
        apiVersion: 'v1',
        metadata: {},
        status: 'Failure',
        message: 'pods "crud" not found',
        reason: 'NotFound',
        details: { name: 'crud', group: '', kind: 'pods' },
        code: 404,
      });
    },
  );

  t.test('when a configmap is deleted then the answer is a Success Status with its uid', async (t) => {
    const c = await api(cluster, `${NS}/configmaps`, {
      body: { metadata: { name: 'cm1' }, data: { a: '1' } },
    });
    const del = await api(cluster, `${NS}/configmaps/cm1`, { method: 'DELETE' });
    t.equal(del.status, 200);
    t.match(del.json, {
      kind: 'Status',
      status: 'Success',
      details: { name: 'cm1', kind: 'configmaps', uid: c.json.metadata.uid },
    });
  });

  t.test('when objects use generateName then each gets a distinct name with the prefix', async (t) => {
    const a = await api(cluster, `${NS}/configmaps`, { body: { metadata: { generateName: 'gen-' } } });
    const b = await api(cluster, `${NS}/configmaps`, { body: { metadata: { generateName: 'gen-' } } });
    t.equal(a.status, 201);
    t.match(a.json.metadata.name, /^gen-[a-z0-9]{5}$/);
    t.not(a.json.metadata.name, b.json.metadata.name);
  });

  t.test('when a create is a dry run then nothing is stored', async (t) => {
    const r = await api(cluster, `${NS}/configmaps?dryRun=All`, { body: { metadata: { name: 'dry' } } });
    t.equal(r.status, 201);
    t.equal(r.json.metadata.name, 'dry');
    t.equal((await api(cluster, `${NS}/configmaps/dry`)).status, 404);
  });

  t.test('when the body or the namespace is invalid then 422/404/400 Status errors come back', async (t) => {
    const noName = await api(cluster, `${NS}/configmaps`, { body: { metadata: {} } });
    t.equal(noName.status, 422);
    t.equal(noName.json.reason, 'Invalid');
    const badName = await api(cluster, `${NS}/configmaps`, { body: { metadata: { name: 'Bad_Name' } } });
    t.equal(badName.status, 422);
    const noNs = await api(cluster, '/api/v1/namespaces/nope/configmaps', {
      body: { metadata: { name: 'x' } },
    });
    t.equal(noNs.status, 404);
    t.equal(noNs.json.message, 'namespaces "nope" not found');
    const mismatch = await api(cluster, `${NS}/configmaps`, {
      body: { metadata: { name: 'x', namespace: 'kube-system' } },
    });
    t.equal(mismatch.status, 400);
    const notJson = await api(cluster, `${NS}/configmaps`, { body: '{nope' });
    t.equal(notJson.status, 400);
  });

  t.test('when a request has no or an unknown token then it is 401 Unauthorized', async (t) => {
    for (const token of [null, 'not-a-token']) {
      const r = await api(cluster, `${NS}/pods`, { token });
      t.equal(r.status, 401);
      t.match(r.json, { kind: 'Status', reason: 'Unauthorized', code: 401 });
    }
  });

  t.test('when a path or method is not served then 404 and 405 Status errors come back', async (t) => {
    const unknown = await api(cluster, `${NS}/widgets`);
    t.equal(unknown.status, 404);
    t.equal(unknown.json.reason, 'NotFound');
    const post = await api(cluster, `${NS}/pods/x`, { body: {} });
    t.equal(post.status, 405);
    t.equal(post.json.reason, 'MethodNotAllowed');
  });

  t.test('label selectors', async (t) => {
    await namespace('sel');
    const labels: Record<string, Record<string, string>> = {
      a: { app: 'web', tier: 'front' },
      b: { app: 'web', tier: 'back' },
      c: { app: 'db' },
      d: {},
    };
    for (const [name, l] of Object.entries(labels)) runningPod(name, l, true, 'sel');
    const cases: Array<[string, string[]]> = [
      ['app=web', ['a', 'b']],
      ['app==web', ['a', 'b']],
      ['app!=web', ['c', 'd']],
      ['tier in (front,back)', ['a', 'b']],
      ['tier notin (front)', ['b', 'c', 'd']],
      ['tier', ['a', 'b']],
      ['!tier', ['c', 'd']],
      ['app=web,tier=front', ['a']],
      ['app in (web, db),!tier', ['c']],
      ['', ['a', 'b', 'c', 'd']],
    ];
    for (const [sel, want] of cases) {
      const r = await api(cluster, `/api/v1/namespaces/sel/pods?labelSelector=${encodeURIComponent(sel)}`);
      t.equal(r.status, 200, sel);
      t.same(
        r.json.items.map((p: KObject) => p.metadata.name),
        want,
        `labelSelector "${sel}"`,
      );
    }
    const bad = await api(
      cluster,
      `/api/v1/namespaces/sel/pods?labelSelector=${encodeURIComponent('app in web')}`,
    );
    t.equal(bad.status, 400, 'a malformed selector is a 400');
  });

  t.test('field selectors', async (t) => {
    await namespace('fields');
    const p1 = pod('on-node', { node: 'n1', ns: 'fields' });
    p1.status = { phase: 'Running' };
    cluster.store.create('/pods', p1);
    cluster.store.create('/pods', pod('elsewhere', { node: 'n2', ns: 'fields' }));
    cluster.store.create('/events', {
      metadata: { name: 'ev1', namespace: 'fields' },
      involvedObject: { kind: 'Pod', name: 'on-node', namespace: 'fields', uid: 'u-1' },
      reason: 'Restarted',
    });
    cluster.store.create('/events', {
      metadata: { name: 'ev2', namespace: 'fields' },
      involvedObject: { kind: 'Deployment', name: 'web', namespace: 'fields', uid: 'u-2' },
    });
    const cases: Array<[string, string, string[]]> = [
      ['/api/v1/namespaces/fields/pods', 'metadata.name=on-node', ['on-node']],
      ['/api/v1/namespaces/fields/pods', 'spec.nodeName=n2', ['elsewhere']],
      ['/api/v1/namespaces/fields/pods', 'spec.nodeName!=n2', ['on-node']],
      ['/api/v1/namespaces/fields/pods', 'status.phase=Running', ['on-node']],
      ['/api/v1/namespaces/fields/pods', 'status.phase!=Running', ['elsewhere']],
      ['/api/v1/pods', 'metadata.namespace=fields,spec.nodeName=n1', ['on-node']],
      ['/api/v1/namespaces/fields/events', 'involvedObject.kind=Pod', ['ev1']],
      ['/api/v1/namespaces/fields/events', 'involvedObject.name=web', ['ev2']],
      ['/api/v1/namespaces/fields/events', 'involvedObject.uid=u-1', ['ev1']],
      [
        '/api/v1/namespaces/fields/events',
        'involvedObject.namespace=fields,involvedObject.kind!=Pod',
        ['ev2'],
      ],
    ];
    for (const [path, sel, want] of cases) {
      const r = await api(cluster, `${path}?fieldSelector=${encodeURIComponent(sel)}`);
      t.equal(r.status, 200, sel);
      t.same(
        r.json.items.map((o: KObject) => o.metadata.name),
        want,
        `fieldSelector "${sel}" on ${path}`,
      );
    }
    const unsupported = await api(cluster, `/api/v1/namespaces/fields/pods?fieldSelector=spec.hostname%3Dx`);
    t.equal(unsupported.status, 400);
    t.match(unsupported.json.message, /field label not supported: spec.hostname/);
  });

  t.test('when a list is paginated then continue tokens walk every item exactly once', async (t) => {
    await namespace('pages');
    for (let i = 0; i < 25; i++)
      cluster.store.create('/configmaps', {
        metadata: { name: `cm-${String(i).padStart(2, '0')}`, namespace: 'pages' },
      });
    const seen: string[] = [];
    const remaining: number[] = [];
    let cont = '';
    let pages = 0;
    do {
      const r = await api(
        cluster,
        `/api/v1/namespaces/pages/configmaps?limit=10${cont ? `&continue=${encodeURIComponent(cont)}` : ''}`,
      );
      t.equal(r.status, 200);
      t.equal(r.json.kind, 'ConfigMapList');
      seen.push(...r.json.items.map((o: KObject) => o.metadata.name));
      cont = r.json.metadata.continue ?? '';
      if (r.json.metadata.remainingItemCount !== undefined)
        remaining.push(r.json.metadata.remainingItemCount);
      pages++;
    } while (cont && pages < 10);
    t.equal(pages, 3);
    t.equal(seen.length, 25);
    t.equal(new Set(seen).size, 25);
    t.same(seen, [...seen].sort(), 'items come in name order');
    t.same(remaining, [15, 5]);

    const filtered = await api(
      cluster,
      `/api/v1/namespaces/pages/configmaps?limit=2&fieldSelector=${encodeURIComponent('metadata.name!=cm-00')}`,
    );
    t.same(
      filtered.json.items.map((o: KObject) => o.metadata.name),
      ['cm-01', 'cm-02'],
      'limit counts matching items only',
    );
    const bad = await api(cluster, '/api/v1/namespaces/pages/configmaps?limit=2&continue=garbage');
    t.equal(bad.status, 400);
  });

  t.test('patches', async (t) => {
    await namespace('patch');
    const base = pod('p', { ns: 'patch', labels: { a: '1', b: '2' } });
    base.spec.containers = [
      {
        name: 'app',
        image: 'nginx:1',
        env: [
          { name: 'X', value: '1' },
          { name: 'Y', value: '2' },
        ],
        ports: [{ containerPort: 80 }],
      },
      { name: 'side', image: 'busybox:1' },
    ];
    base.spec.volumes = [{ name: 'v1', emptyDir: {} }];
    cluster.store.create('/pods', base);
    const path = '/api/v1/namespaces/patch/pods/p';
    const patch = (contentType: string, body: unknown) =>
      api(cluster, path, { method: 'PATCH', contentType, body });

    t.test('JSON patch replaces by path and a failed test op is 422', async (t) => {
      const r = await patch('application/json-patch+json', [
        { op: 'replace', path: '/spec/containers/1/image', value: 'busybox:2' },
      ]);
      t.equal(r.status, 200);
      t.equal(r.json.spec.containers[1].image, 'busybox:2');
      const failed = await patch('application/json-patch+json', [
        { op: 'test', path: '/metadata/labels/a', value: 'nope' },
      ]);
      t.equal(failed.status, 422);
    });

    t.test('merge patch merges maps, null deletes a key and lists are replaced', async (t) => {
      const r = await patch('application/merge-patch+json', { metadata: { labels: { b: null, c: '3' } } });
      t.same(r.json.metadata.labels, { a: '1', c: '3' });
    });

    t.test('strategic merge patch merges containers, env and volumes by name', async (t) => {
      const r = await patch('application/strategic-merge-patch+json', {
        spec: {
          containers: [
            {
              name: 'app',
              image: 'nginx:2',
              env: [
                { name: 'Y', value: 'changed' },
                { name: 'Z', value: '3' },
              ],
            },
          ],
          volumes: [{ name: 'v2', emptyDir: {} }],
        },
      });
      t.equal(r.status, 200);
      const [app, side] = r.json.spec.containers;
      t.equal(app.image, 'nginx:2');
      t.equal(side.image, 'busybox:2', 'the other container is untouched');
      t.same(
        app.env.map((e: { name: string; value: string }) => `${e.name}=${e.value}`),
        ['X=1', 'Y=changed', 'Z=3'],
      );
      t.same(app.ports, [{ containerPort: 80, protocol: 'TCP' }]);
      t.same(
        r.json.spec.volumes.map((v: { name: string }) => v.name),
        ['v1', 'v2'],
      );
    });

    t.test('$setElementOrder orders the merged list as kubectl asks', async (t) => {
      const r = await patch('application/strategic-merge-patch+json', {
        spec: {
          '$setElementOrder/containers': [{ name: 'side' }, { name: 'app' }],
          containers: [{ name: 'side', image: 'busybox:3' }],
        },
      });
      t.same(
        r.json.spec.containers.map((c: { name: string; image: string }) => `${c.name}:${c.image}`),
        ['side:busybox:3', 'app:nginx:2'],
      );
    });

    t.test('$patch: delete removes a list element and $retainKeys drops the other keys', async (t) => {
      const r = await patch('application/strategic-merge-patch+json', {
        spec: { containers: [{ name: 'side', $patch: 'delete' }] },
        metadata: { labels: { $retainKeys: ['a'], a: '9' } },
      });
      t.same(
        r.json.spec.containers.map((c: { name: string }) => c.name),
        ['app'],
      );
      t.same(r.json.metadata.labels, { a: '9' });
    });

    t.test('apply patches and unknown types are 415', async (t) => {
      const apply = await patch('application/apply-patch+yaml', 'metadata: {}');
      t.equal(apply.status, 415);
      t.equal(apply.json.reason, 'UnsupportedMediaType');
      const other = await patch('text/plain', '{}');
      t.equal(other.status, 415);
    });

    t.test('a patch carrying a stale resourceVersion is a 409 Conflict', async (t) => {
      const r = await patch('application/merge-patch+json', {
        metadata: { resourceVersion: '1', labels: { z: '1' } },
      });
      t.equal(r.status, 409);
    });

    t.test('patching a missing object is a 404', async (t) => {
      const r = await api(cluster, '/api/v1/namespaces/patch/pods/missing', {
        method: 'PATCH',
        contentType: 'application/merge-patch+json',
        body: {},
      });
      t.equal(r.status, 404);
    });
  });

  t.test(
    'when the status subresource is written then only status changes, and the main resource ignores status',
    async (t) => {
      cluster.store.create('/pods', pod('st'));
      const cur = (await api(cluster, `${NS}/pods/st`)).json;
      cur.status = { phase: 'Running' };
      cur.metadata.labels = { ignored: 'yes' };
      const r = await api(cluster, `${NS}/pods/st/status`, { method: 'PUT', body: cur });
      t.equal(r.status, 200);
      t.equal(r.json.status.phase, 'Running');
      t.notOk(r.json.metadata.labels, 'a status write does not change metadata');
      const main = structuredClone(r.json);
      main.status = { phase: 'Failed' };
      const m = await api(cluster, `${NS}/pods/st`, { method: 'PUT', body: main });
      t.equal(m.json.status.phase, 'Running', 'a main-resource write keeps the status');
    },
  );

  t.test('watch', async (t) => {
    await namespace('watch');
    const list = await api(cluster, '/api/v1/namespaces/watch/pods');
    const rv = list.json.metadata.resourceVersion;

    t.test('events after a resourceVersion arrive in order, with selector transitions', async (t) => {
      const w = openWatch(
        cluster,
        `/api/v1/namespaces/watch/pods?watch=true&resourceVersion=${rv}&labelSelector=app%3Dweb`,
      );
      t.teardown(() => w.close());
      t.equal(await w.status, 200);
      cluster.store.create('/pods', pod('w1', { ns: 'watch', labels: { app: 'web' } }));
      cluster.store.create('/pods', pod('other', { ns: 'watch', labels: { app: 'db' } }));
      cluster.store.mutate('/pods', 'watch', 'w1', (p) => {
        p.metadata.annotations = { touched: 'yes' };
        return undefined;
      });
      cluster.store.mutate('/pods', 'watch', 'w1', (p) => {
        p.metadata.labels = { app: 'gone' };
        return undefined;
      });
      cluster.store.mutate('/pods', 'watch', 'other', (p) => {
        p.metadata.labels = { app: 'web' };
        return undefined;
      });
      cluster.store.delete('/pods', 'watch', 'other');
      await w.next(5);
      t.same(
        w.events.map((e) => `${e.type} ${e.object.metadata.name}`),
        ['ADDED w1', 'MODIFIED w1', 'DELETED w1', 'ADDED other', 'DELETED other'],
      );
      t.equal(w.events[0]!.object.kind, 'Pod', 'watch objects carry their kind');
    });

    t.test('a watch without a resourceVersion starts with the current objects', async (t) => {
      const w = openWatch(
        cluster,
        '/api/v1/namespaces/watch/pods?watch=true&fieldSelector=metadata.name%3Dw1',
      );
      t.teardown(() => w.close());
      await w.next(1);
      t.same(
        w.events.map((e) => `${e.type} ${e.object.metadata.name}`),
        ['ADDED w1'],
      );
    });

    t.test('timeoutSeconds ends the stream', async (t) => {
      const w = openWatch(
        cluster,
        `/api/v1/namespaces/watch/pods?watch=true&resourceVersion=${cluster.store.resourceVersion}&timeoutSeconds=1`,
      );
      await w.ended;
      t.same(w.events, []);
    });

    t.test('watch bookmarks carry the current resourceVersion', async (t) => {
      const c2 = await startCluster({ controllers: false, bookmarkIntervalMs: 50 });
      t.teardown(() => c2.stop());
      const w = openWatch(
        c2,
        `/api/v1/namespaces/default/pods?watch=true&resourceVersion=${c2.store.resourceVersion}&allowWatchBookmarks=true`,
      );
      t.teardown(() => w.close());
      await w.next(1);
      t.match(w.events[0], {
        type: 'BOOKMARK',
        object: { kind: 'Pod', metadata: { resourceVersion: c2.store.resourceVersion } },
      });
    });
  });

  t.test('eviction', async (t) => {
    await namespace('evict');
    const E = '/api/v1/namespaces/evict/pods';
    const evict = (name: string) =>
      api(cluster, `${E}/${name}/eviction`, {
        body: { apiVersion: 'policy/v1', kind: 'Eviction', metadata: { name, namespace: 'evict' } },
      });
    const pdb = (name: string, labels: Record<string, string>, status: Record<string, unknown>) => {
      const p = cluster.store.create('policy/poddisruptionbudgets', {
        metadata: { name, namespace: 'evict' },
        spec: { minAvailable: 1, selector: { matchLabels: labels } },
      });
      cluster.store.mutate(
        'policy/poddisruptionbudgets',
        'evict',
        name,
        (o) => {
          o.status = { observedGeneration: p.metadata.generation, ...status };
          return undefined;
        },
        { subresource: 'status' },
      );
    };

    t.test(
      'when the budget allows one disruption then the first eviction succeeds and the second gets 429',
      async (t) => {
        runningPod('a1', { app: 'a' }, true, 'evict');
        runningPod('a2', { app: 'a' }, true, 'evict');
        pdb(
          'pdb-a',
          { app: 'a' },
          { disruptionsAllowed: 1, currentHealthy: 2, desiredHealthy: 1, expectedPods: 2 },
        );
        const ok = await evict('a1');
        t.equal(ok.status, 201);
        t.match(ok.json, { kind: 'Status', status: 'Success' });
        t.equal((await api(cluster, `${E}/a1`)).status, 404, 'the evicted pod is gone');
        const status = cluster.store.get('policy/poddisruptionbudgets', 'evict', 'pdb-a')!.status;
        t.equal(status.disruptionsAllowed, 0);
        t.ok(status.disruptedPods.a1, 'the eviction is recorded in disruptedPods');

        const blocked = await evict('a2');
        t.equal(blocked.status, 429);
        t.same(blocked.json, {
          kind: 'Status',
          apiVersion: 'v1',
          metadata: {},
          status: 'Failure',
          message: "Cannot evict pod as it would violate the pod's disruption budget.",
          reason: 'TooManyRequests',
          details: {
            causes: [
              {
                reason: 'DisruptionBudget',
                message: 'The disruption budget pdb-a needs 1 healthy pods and has 2 currently',
              },
            ],
          },
          code: 429,
        });
        t.equal((await api(cluster, `${E}/a2`)).status, 200, 'the blocked pod stays');
      },
    );

    t.test('when the budget has not observed its generation then eviction gets 429', async (t) => {
      runningPod('g1', { app: 'g' }, true, 'evict');
      cluster.store.create('policy/poddisruptionbudgets', {
        metadata: { name: 'pdb-g', namespace: 'evict' },
        spec: { minAvailable: 0, selector: { matchLabels: { app: 'g' } } },
      });
      const r = await evict('g1');
      t.equal(r.status, 429);
      t.equal(r.headers['retry-after'], '10');
      t.match(r.json, {
        reason: 'TooManyRequests',
        details: {
          retryAfterSeconds: 10,
          causes: [
            {
              reason: 'DisruptionBudget',
              message: 'The disruption budget pdb-g is still being processed by the server.',
            },
          ],
        },
      });
    });

    t.test('when two budgets select the pod then eviction is a 500', async (t) => {
      runningPod('b1', { app: 'b', tier: 'x' }, true, 'evict');
      pdb('pdb-b1', { app: 'b' }, { disruptionsAllowed: 5 });
      pdb('pdb-b2', { tier: 'x' }, { disruptionsAllowed: 5 });
      const r = await evict('b1');
      t.equal(r.status, 500);
      t.equal(
        r.json.message,
        'This pod has more than one PodDisruptionBudget, which the eviction subresource does not support.',
      );
    });

    t.test('when the pod is pending then it is evicted regardless of its budget', async (t) => {
      cluster.store.create('/pods', pod('c1', { ns: 'evict', labels: { app: 'c' } }));
      pdb('pdb-c', { app: 'c' }, { disruptionsAllowed: 0 });
      t.equal((await evict('c1')).status, 201);
    });

    t.test('when a pod bound to a node is evicted then it terminates gracefully', async (t) => {
      const p = pod('d1', { ns: 'evict', node: 'n1' });
      p.status = { phase: 'Running', conditions: [{ type: 'Ready', status: 'True' }] };
      cluster.store.create('/pods', p);
      t.equal((await evict('d1')).status, 201);
      const after = await api(cluster, `${E}/d1`);
      t.equal(after.status, 200);
      t.ok(after.json.metadata.deletionTimestamp, 'the pod waits for the kubelet with a deletionTimestamp');
      t.match(
        after.json.status.conditions,
        [{ type: 'Ready' }, { type: 'DisruptionTarget', status: 'True', reason: 'EvictionByEvictionAPI' }],
        'the eviction is marked on the pod before it terminates',
      );
    });

    t.test('when the pod does not exist then eviction is a 404', async (t) => {
      t.equal((await evict('nobody')).status, 404);
    });
  });

  t.test('when an owner is deleted then its dependents are garbage-collected, unless orphaned', async (t) => {
    await namespace('gc');
    const mk = (kind: string, key: string, name: string, owner?: KObject) =>
      cluster.store.create(key, {
        metadata: {
          name,
          namespace: 'gc',
          ...(owner
            ? {
                ownerReferences: [
                  {
                    apiVersion: owner.apiVersion!,
                    kind: owner.kind!,
                    name: owner.metadata.name!,
                    uid: owner.metadata.uid!,
                    controller: true,
                  },
                ],
              }
            : {}),
        },
        spec:
          kind === 'Pod'
            ? { containers: [{ name: 'c', image: 'x:1' }] }
            : { selector: { matchLabels: { a: 'b' } }, template: {} },
      });
    const dep = mk('Deployment', 'apps/deployments', 'web');
    const rs = mk('ReplicaSet', 'apps/replicasets', 'web-1', dep);
    mk('Pod', '/pods', 'web-1-x', rs);
    const del = await api(cluster, '/apis/apps/v1/namespaces/gc/deployments/web', {
      method: 'DELETE',
      body: { kind: 'DeleteOptions', apiVersion: 'v1', propagationPolicy: 'Background' },
    });
    t.equal(del.status, 200);
    t.equal((await api(cluster, '/apis/apps/v1/namespaces/gc/replicasets/web-1')).status, 404);
    t.equal((await api(cluster, '/api/v1/namespaces/gc/pods/web-1-x')).status, 404);

    const dep2 = mk('Deployment', 'apps/deployments', 'keep');
    mk('ReplicaSet', 'apps/replicasets', 'keep-1', dep2);
    await api(cluster, '/apis/apps/v1/namespaces/gc/deployments/keep?propagationPolicy=Orphan', {
      method: 'DELETE',
    });
    const orphan = await api(cluster, '/apis/apps/v1/namespaces/gc/replicasets/keep-1');
    t.equal(orphan.status, 200);
    t.notOk(orphan.json.metadata.ownerReferences, 'the orphan has no owner');
  });

  t.test(
    'when an owner is deleted in the foreground then it waits for its dependents, then goes',
    async (t) => {
      await namespace('fg');
      const owner = cluster.store.create('apps/replicasets', {
        metadata: { name: 'rs', namespace: 'fg' },
        spec: { selector: { matchLabels: { a: 'b' } }, template: {} },
      });
      const ref = {
        apiVersion: 'apps/v1',
        kind: 'ReplicaSet',
        name: 'rs',
        uid: owner.metadata.uid!,
        controller: true,
      };
      cluster.store.create('/pods', {
        metadata: { name: 'bound', namespace: 'fg', ownerReferences: [ref] },
        spec: { nodeName: 'n1', containers: [{ name: 'c', image: 'x:1' }] },
      });
      cluster.store.create('/pods', {
        metadata: { name: 'unbound', namespace: 'fg', ownerReferences: [ref] },
        spec: { containers: [{ name: 'c', image: 'x:1' }] },
      });
      const del = await api(cluster, '/apis/apps/v1/namespaces/fg/replicasets/rs', {
        method: 'DELETE',
        body: { propagationPolicy: 'Foreground' },
      });
      t.equal(del.status, 200);
      t.match(del.json, {
        kind: 'ReplicaSet',
        metadata: { finalizers: ['foregroundDeletion'], deletionTimestamp: String },
      });
      t.equal(cluster.store.get('/pods', 'fg', 'unbound'), undefined, 'an unbound dependent goes at once');
      const bound = cluster.store.get('/pods', 'fg', 'bound')!;
      t.ok(bound.metadata.deletionTimestamp, 'a running dependent terminates gracefully');
      t.ok(cluster.store.get('apps/replicasets', 'fg', 'rs'), 'the owner waits for it');

      const late = cluster.store.create('/pods', {
        metadata: { name: 'late', namespace: 'fg', ownerReferences: [ref] },
        spec: { containers: [{ name: 'c', image: 'x:1' }] },
      });
      t.equal(late.metadata.name, 'late');
      t.equal(
        cluster.store.get('/pods', 'fg', 'late'),
        undefined,
        'a dependent created meanwhile is collected',
      );

      cluster.store.remove('/pods', bound);
      t.equal(
        cluster.store.get('apps/replicasets', 'fg', 'rs'),
        undefined,
        'the owner goes with its last dependent',
      );
    },
  );

  t.test('when a delete carries a stale uid precondition then it is a 409', async (t) => {
    cluster.store.create('/configmaps', { metadata: { name: 'pre', namespace: 'default' } });
    const r = await api(cluster, `${NS}/configmaps/pre`, {
      method: 'DELETE',
      body: { preconditions: { uid: 'nope' } },
    });
    t.equal(r.status, 409);
    t.equal(r.json.reason, 'Conflict');
  });

  t.test('faults', async (t) => {
    t.teardown(() => cluster.faults.clear());

    t.test(
      'a status fault answers with that Status and Retry-After, for the given number of times',
      async (t) => {
        const id = cluster.faults.add({
          method: 'GET',
          path: `${NS}/pods`,
          status: 429,
          retryAfterSeconds: 3,
          times: 1,
        });
        const r = await api(cluster, `${NS}/pods`);
        t.equal(r.status, 429);
        t.equal(r.headers['retry-after'], '3');
        t.match(r.json, {
          kind: 'Status',
          reason: 'TooManyRequests',
          code: 429,
          details: { retryAfterSeconds: 3 },
        });
        t.equal((await api(cluster, `${NS}/pods`)).status, 200, 'the fault is used up');
        t.equal(cluster.faults.hits(id), 1);
      },
    );

    t.test('a regexp fault with a method only hits matching requests', async (t) => {
      cluster.faults.add({ method: 'POST', path: /\/eviction$/, status: 500 });
      t.equal((await api(cluster, `${NS}/pods`)).status, 200);
      const r = await api(cluster, `${NS}/pods/x/eviction`, { body: {} });
      t.equal(r.status, 500);
      t.equal(r.json.reason, 'InternalError');
      cluster.faults.clear();
    });

    t.test('a reset fault destroys the connection', async (t) => {
      cluster.faults.add({ path: `${NS}/configmaps`, reset: true, times: 1 });
      await t.rejects(api(cluster, `${NS}/configmaps`));
      t.equal((await api(cluster, `${NS}/configmaps`)).status, 200);
    });

    t.test('a latency fault delays the answer but still serves it', async (t) => {
      cluster.faults.add({ path: '/version', latencyMs: 300, times: 1 });
      const order: string[] = [];
      const slow = api(cluster, '/version').then((r) => {
        order.push('slow');
        return r;
      });
      await api(cluster, '/api').then(() => order.push('fast'));
      t.equal((await slow).status, 200);
      t.same(order, ['fast', 'slow'], 'a request started later overtakes the delayed one');
    });
  });

  t.test('discovery', async (t) => {
    const v1 = await api(cluster, '/api/v1');
    const eviction = v1.json.resources.find((r: { name: string }) => r.name === 'pods/eviction');
    t.match(eviction, { group: 'policy', version: 'v1', kind: 'Eviction', verbs: ['create'] });
    t.match(
      v1.json.resources.find((r: { name: string }) => r.name === 'pods'),
      { kind: 'Pod', namespaced: true, shortNames: ['po'], singularName: 'pod' },
    );
    const apps = await api(cluster, '/apis/apps/v1');
    t.ok(apps.json.resources.some((r: { name: string }) => r.name === 'deployments/scale'));
    const groups = await api(cluster, '/apis');
    t.ok(groups.json.groups.some((g: { name: string }) => g.name === 'policy'));
    const agg = await api(cluster, '/apis', {
      accept: 'application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,application/json',
    });
    t.match(agg.headers['content-type'], /as=APIGroupDiscoveryList/);
    t.equal(agg.json.kind, 'APIGroupDiscoveryList');
    t.equal((await api(cluster, '/version')).json.major, '1');
  });

  t.test('when a client asks for a Table then pods come with the kubectl columns', async (t) => {
    await namespace('table');
    runningPod('t1', {}, true, 'table');
    const r = await api(cluster, '/api/v1/namespaces/table/pods', {
      accept: 'application/json;as=Table;v=v1;g=meta.k8s.io,application/json',
    });
    t.equal(r.json.kind, 'Table');
    t.same(
      r.json.columnDefinitions
        .filter((c: { priority: number }) => c.priority === 0)
        .map((c: { name: string }) => c.name),
      ['Name', 'Ready', 'Status', 'Restarts', 'Age'],
    );
    t.same(r.json.rows[0].cells.slice(0, 4), ['t1', '1/1', 'Running', '0']);
    t.equal(r.json.rows[0].object.kind, 'PartialObjectMetadata');
  });

  t.test('when the scale subresource is patched then the workload replicas change', async (t) => {
    cluster.store.create('apps/deployments', {
      metadata: { name: 'scaled', namespace: 'default' },
      spec: {
        replicas: 1,
        selector: { matchLabels: { a: 'b' } },
        template: { metadata: { labels: { a: 'b' } }, spec: { containers: [] } },
      },
    });
    const r = await api(cluster, '/apis/apps/v1/namespaces/default/deployments/scaled/scale', {
      method: 'PATCH',
      contentType: 'application/merge-patch+json',
      body: { spec: { replicas: 3 } },
    });
    t.equal(r.status, 200);
    t.match(r.json, { kind: 'Scale', spec: { replicas: 3 }, status: { selector: 'a=b' } });
    t.equal(cluster.store.get('apps/deployments', 'default', 'scaled')!.spec.replicas, 3);
  });

  t.test(
    'when a watch starts from a resourceVersion older than the kept history then it gets a 410 Expired event',
    async (t) => {
      const small = await startCluster({ controllers: false, historyLimit: 4 });
      t.teardown(() => small.stop());
      const from = small.store.resourceVersion;
      for (let i = 0; i < 10; i++)
        small.store.create('/configmaps', { metadata: { name: `c${i}`, namespace: 'default' } });
      const w = openWatch(small, `/api/v1/namespaces/default/configmaps?watch=true&resourceVersion=${from}`);
      await w.ended;
      t.equal(await w.status, 200, 'the real server answers 200 and reports the error in the stream');
      t.match(w.events, [
        {
          type: 'ERROR',
          object: { kind: 'Status', code: 410, reason: 'Expired', message: /^too old resource version/ },
        },
      ]);
      const recent = openWatch(
        small,
        `/api/v1/namespaces/default/configmaps?watch=true&resourceVersion=${Number(small.store.resourceVersion) - 1}`,
      );
      t.teardown(() => recent.close());
      await recent.next(1);
      t.match(
        recent.events,
        [{ type: 'ADDED', object: { metadata: { name: 'c9' } } }],
        'a recent resourceVersion replays',
      );
    },
  );

  t.test(
    'when a continue token outlives the kept history then the list is 410 Expired with a fresh token',
    async (t) => {
      const small = await startCluster({ controllers: false, historyLimit: 4 });
      t.teardown(() => small.stop());
      for (let i = 0; i < 4; i++)
        small.store.create('/configmaps', { metadata: { name: `a${i}`, namespace: 'default' } });
      const first = await api(small, '/api/v1/namespaces/default/configmaps?limit=2');
      const token = first.json.metadata.continue;
      t.ok(token);
      for (let i = 0; i < 10; i++)
        small.store.create('/configmaps', { metadata: { name: `b${i}`, namespace: 'default' } });
      const expired = await api(
        small,
        `/api/v1/namespaces/default/configmaps?limit=2&continue=${encodeURIComponent(token)}`,
      );
      t.equal(expired.status, 410);
      t.match(expired.json, {
        kind: 'Status',
        reason: 'Expired',
        code: 410,
        message: /^The provided continue parameter is too old/,
      });
      const next = expired.json.metadata.continue;
      t.ok(next, 'the Status carries an inconsistent continue token');
      const rest = await api(
        small,
        `/api/v1/namespaces/default/configmaps?limit=100&continue=${encodeURIComponent(next)}`,
      );
      t.equal(rest.status, 200);
      t.same(
        rest.json.items.map((o: KObject) => o.metadata.name),
        ['a2', 'a3', 'b0', 'b1', 'b2', 'b3', 'b4', 'b5', 'b6', 'b7', 'b8', 'b9'],
        'it continues after the last key served',
      );
    },
  );

  t.test(
    'when a TokenRequest is posted for a ServiceAccount then the token authenticates as it',
    async (t) => {
      cluster.store.create('/serviceaccounts', { metadata: { name: 'bot', namespace: 'default' } });
      const r = await api(cluster, `${NS}/serviceaccounts/bot/token`, {
        body: {
          apiVersion: 'authentication.k8s.io/v1',
          kind: 'TokenRequest',
          spec: { expirationSeconds: 600 },
        },
      });
      t.equal(r.status, 201);
      t.equal(r.json.kind, 'TokenRequest');
      const who = await api(cluster, '/apis/authentication.k8s.io/v1/selfsubjectreviews', {
        token: r.json.status.token,
        body: { apiVersion: 'authentication.k8s.io/v1', kind: 'SelfSubjectReview' },
      });
      t.equal(who.status, 201);
      t.equal(who.json.status.userInfo.username, 'system:serviceaccount:default:bot');
      t.equal((await api(cluster, `${NS}/serviceaccounts/ghost/token`, { body: {} })).status, 404);
    },
  );
}
