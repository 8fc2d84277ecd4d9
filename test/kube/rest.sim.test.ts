// The lean REST client (lib/kube/rest.ts through createClients) against the API simulator over real HTTPS: listing
// with pagination and selectors, Status errors readable by apiStatus, eviction, events, watches, TLS verification,
// and credentials from an exec plugin through the client-node fallback.

import { chmodSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import { type AddressInfo, type Socket, connect as tcpConnect } from 'node:net';
import { join } from 'node:path';
import { rootCertificates, type TLSSocket } from 'node:tls';
import type { CoreV1Event, V1Pod } from '@kubernetes/client-node';
import t, { type Test } from 'tap';
import { apiStatus, createClients, type PodWatchEvent, toKubeApiError } from '../../lib/kube/api.ts';
import { loadKubeConfig } from '../../lib/kube/config.ts';
import type { KubeConnection } from '../../lib/kube/kubeconfig.ts';
import { listPods } from '../../lib/kube/pods.ts';
import { type Cluster, startCluster } from '../harness/kube-sim/index.ts';
import type { KObject } from '../harness/kube-sim/store.ts';
import { simulatorTls } from '../harness/kube-sim/tls.ts';

const NS = 'shop';

function pod(name: string, labels: Record<string, string> = { app: 'web' }): KObject {
  return {
    metadata: { name, namespace: NS, labels, annotations: { big: 'x'.repeat(100) } },
    spec: {
      containers: [
        { name: 'app', image: 'registry.example/app:1', imagePullPolicy: 'Always', args: ['--big'] },
      ],
    },
    status: { phase: 'Running', conditions: [{ type: 'Ready', status: 'True' }], hostIP: '10.0.0.9' },
  };
}

async function cluster(t: Test): Promise<Cluster> {
  const c = await startCluster({ controllers: false });
  t.teardown(() => c.stop());
  c.store.create('/namespaces', { metadata: { name: NS } });
  return c;
}

function connect(c: Cluster, token = c.adminToken): KubeConnection {
  return loadKubeConfig({ kubeconfig: c.kubeconfig({ token, namespace: NS }), env: {} });
}

async function failure(p: Promise<unknown>): Promise<unknown> {
  try {
    await p;
  } catch (e) {
    return e;
  }
  throw new Error('expected the call to fail');
}

t.test('when listing page by page then every page is followed and selectors are sent encoded', async (t) => {
  const c = await cluster(t);
  for (let i = 1; i <= 5; i++)
    c.store.create('/pods', pod(`web-${i}`, { app: 'web', tier: i % 2 ? 'odd' : 'even' }));
  c.store.create('/pods', pod('db-1', { app: 'db' }));
  const { core } = createClients(connect(c));
  const first = await core.listNamespacedPod({ namespace: NS, labelSelector: 'app=web', limit: 2 });
  t.equal(first.items.length, 2);
  t.ok(first.metadata?._continue, 'the continue token is under client-node’s name');
  const all = await listPods(core, { namespaces: [NS], labelSelector: 'app=web', pageSize: 2 });
  t.same(all.map((p) => p.metadata?.name).sort(), ['web-1', 'web-2', 'web-3', 'web-4', 'web-5']);
  const setBased = await listPods(core, { namespaces: 'all', labelSelector: 'app in (web, db),tier!=odd' });
  t.same(setBased.map((p) => p.metadata?.name).sort(), ['db-1', 'web-2', 'web-4']);
  const ns = await core.listNamespace({});
  t.ok(ns.items.some((n) => n.metadata?.name === NS));
});

t.test(
  'when listing with projection then pages stream in and only the fields the updater reads are kept',
  async (t) => {
    const c = await cluster(t);
    for (const name of ['web-1', 'web-2', 'web-3']) c.store.create('/pods', pod(name));
    const { core } = createClients(connect(c));
    const pods = await listPods(core, { namespaces: [NS], project: true, pageSize: 2 });
    t.same(
      pods.map((x) => x.metadata?.name),
      ['web-1', 'web-2', 'web-3'],
      'streamed pages follow the continue token',
    );
    const [p] = pods;
    t.equal(p?.metadata?.name, 'web-1');
    t.equal(p?.metadata?.annotations?.big?.length, 100);
    t.equal(typeof p?.metadata?.creationTimestamp, 'string', 'dates stay strings');
    t.same(p?.spec?.containers, [
      { name: 'app', image: 'registry.example/app:1', imagePullPolicy: 'Always' },
    ]);
    t.same(p?.status?.conditions, [{ type: 'Ready', status: 'True' }]);
    t.equal(p?.status?.hostIP, undefined);
    t.equal((p?.metadata as Record<string, unknown> | undefined)?.managedFields, undefined);
  },
);

t.test('when an object is missing then the error carries code 404 and the Status body', async (t) => {
  const c = await cluster(t);
  const { core } = createClients(connect(c));
  const err = await failure(core.readNamespacedPod({ namespace: NS, name: 'nope' }));
  t.match(err, { code: 404, body: String });
  t.match(apiStatus(err), { code: 404, reason: 'NotFound', message: /pods "nope" not found/ });
  t.match(
    toKubeApiError(err, 'get pod shop/nope').message,
    /get pod shop\/nope failed: HTTP 404: pods "nope" not found/,
  );
});

t.test('when an object already exists then the 409 AlreadyExists surfaces', async (t) => {
  const c = await cluster(t);
  const { core } = createClients(connect(c));
  const body = {
    metadata: { name: 'fixed', namespace: NS },
    involvedObject: { kind: 'Pod', name: 'web-1', namespace: NS },
    reason: 'Test',
    message: 'hello',
  } as CoreV1Event;
  await core.createNamespacedEvent({ namespace: NS, body });
  const err = await failure(core.createNamespacedEvent({ namespace: NS, body }));
  t.match(apiStatus(err), { code: 409, reason: 'AlreadyExists' });
  t.equal(c.store.list('/events', NS).length, 1);
});

t.test(
  'when a PDB blocks an eviction then 429 with the budget as a cause; once allowed the pod is evicted',
  async (t) => {
    const c = await cluster(t);
    c.store.create('/pods', pod('web-1'));
    c.store.create('policy/poddisruptionbudgets', {
      metadata: { name: 'web-pdb', namespace: NS },
      spec: { minAvailable: 1, selector: { matchLabels: { app: 'web' } } },
      status: {
        observedGeneration: 1,
        disruptionsAllowed: 0,
        desiredHealthy: 1,
        currentHealthy: 1,
        expectedPods: 1,
      },
    });
    const { core } = createClients(connect(c));
    const body = { apiVersion: 'policy/v1', kind: 'Eviction', metadata: { name: 'web-1', namespace: NS } };
    const err = await failure(core.createNamespacedPodEviction({ namespace: NS, name: 'web-1', body }));
    const s = apiStatus(err);
    t.equal(s.code, 429);
    t.equal(s.reason, 'TooManyRequests');
    t.match(s.causes.join(' '), /web-pdb/);
    c.store.delete('policy/poddisruptionbudgets', NS, 'web-pdb');
    await core.createNamespacedPodEviction({ namespace: NS, name: 'web-1', body });
    const after = c.store.get('/pods', NS, 'web-1');
    t.ok(!after || after.metadata.deletionTimestamp, 'the pod is gone or terminating');
  },
);

t.test(
  'when the server answers 429 with Retry-After and retries are off then the header reaches apiStatus',
  async (t) => {
    const c = await cluster(t);
    c.faults.add({ path: `/api/v1/namespaces/${NS}/pods`, status: 429, retryAfterSeconds: 7, times: 1 });
    const { core } = createClients(connect(c), { retry: false });
    const err = await failure(core.listNamespacedPod({ namespace: NS }));
    t.match(apiStatus(err), { code: 429, retryAfterSeconds: 7 });
  },
);

t.test(
  'when the server answers 429 with Retry-After then the list waits that long and is tried again',
  async (t) => {
    const c = await cluster(t);
    c.store.create('/pods', pod('web-1'));
    c.faults.add({ path: `/api/v1/namespaces/${NS}/pods`, status: 429, retryAfterSeconds: 7, times: 1 });
    const waits: number[] = [];
    const { core } = createClients(connect(c), {
      sleep: async (ms) => {
        waits.push(ms);
      },
    });
    const list = await core.listNamespacedPod({ namespace: NS });
    t.same(waits, [7000], 'one wait, as long as Retry-After asked');
    t.same(
      list.items.map((p) => p.metadata?.name),
      ['web-1'],
    );
  },
);

t.test('when a request gets no answer in time then it fails as a network error without a code', async (t) => {
  const c = await cluster(t);
  c.faults.add({ path: `/api/v1/namespaces/${NS}/pods`, latencyMs: 2000, times: 1 });
  const { core } = createClients(connect(c), { timeoutMs: 100, retry: false });
  const err = await failure(core.listNamespacedPod({ namespace: NS }));
  t.match(apiStatus(err), { code: undefined, message: /no answer within 100 ms/ });
});

t.test('when every try gets no answer in time then the failure says how many tries were made', async (t) => {
  const c = await cluster(t);
  c.faults.add({ path: `/api/v1/namespaces/${NS}/pods`, latencyMs: 2000, times: 3 });
  const { core } = createClients(connect(c), {
    timeoutMs: 100,
    retry: { attempts: 3, baseMs: 1, capMs: 1, retryAfterCapMs: 1 },
  });
  const err = await failure(core.listNamespacedPod({ namespace: NS }));
  t.match(
    toKubeApiError(err, 'list pods').message,
    /list pods failed \(after 3 tries\): no answer from the API server: no answer within 100 ms/,
  );
});

t.test(
  'when the server is down then the failure is a plain Error and toKubeApiError says no answer',
  async (t) => {
    const c = await cluster(t);
    const conn = connect(c);
    await c.stop();
    const { core } = createClients(conn);
    const err = await failure(core.listNamespacedPod({ namespace: NS }));
    t.equal((err as { code?: unknown }).code, 'ECONNREFUSED', 'a string errno, never an HTTP status');
    t.match(toKubeApiError(err, 'list pods').message, /no answer from the API server: .*ECONNREFUSED/);
  },
);

t.test('when watching pods then changes arrive as events until aborted', async (t) => {
  const c = await cluster(t);
  c.store.create('/pods', pod('web-1'));
  const { core, watchPods } = createClients(connect(c));
  const list = await core.listNamespacedPod({ namespace: NS });
  const seen: Array<[PodWatchEvent, string | undefined]> = [];
  let ended: unknown = 'not yet';
  let notify = () => {};
  const handle = await watchPods(
    NS,
    { labelSelector: 'app=web', resourceVersion: list.metadata?.resourceVersion },
    (type, p: V1Pod) => {
      seen.push([type, p.metadata?.name]);
      notify();
    },
    (err) => {
      ended = err;
    },
  );
  const arrived = (n: number) =>
    new Promise<void>((resolve) => {
      notify = () => seen.filter(([type]) => type !== 'BOOKMARK').length >= n && resolve();
      notify();
    });
  c.store.create('/pods', pod('web-2'));
  c.store.create('/pods', pod('db-1', { app: 'db' }));
  c.store.delete('/pods', NS, 'web-1');
  await arrived(2);
  const changes = seen.filter(([type]) => type !== 'BOOKMARK');
  t.same(changes[0], ['ADDED', 'web-2']);
  t.match(changes[1], [/^(MODIFIED|DELETED)$/, 'web-1'], 'the deletion (graceful or not) of web-1');
  t.equal(
    seen.some(([, name]) => name === 'db-1'),
    false,
    'the selector is applied',
  );
  handle.abort();
  t.equal(ended, 'not yet', 'an aborted watch does not report an end');
});

t.test('when the watch is refused then onDone gets the Status error', async (t) => {
  const c = await cluster(t);
  c.addUser('nobody-token', 'nobody', []);
  const { watchPods } = createClients(connect(c, 'nobody-token'));
  const ended = await new Promise<unknown>((resolve) => {
    void watchPods(NS, {}, () => {}, resolve);
  });
  t.match(apiStatus(ended), { code: 403, reason: 'Forbidden' });
});

t.test('TLS verification', async (t) => {
  const c = await cluster(t);
  const good = connect(c);

  t.test('when the CA is not the one that signed the server then the request fails', async (t) => {
    const wrongCa = { ...good, tls: { ...good.tls, ca: Buffer.from(rootCertificates[0] ?? '') } };
    const err = await failure(createClients(wrongCa).core.listNamespace({}));
    t.equal(apiStatus(err).code, undefined);
    t.match((err as Error).message, /certificate/);
  });

  t.test('when no CA is given then the system roots do not trust the simulator either', async (t) => {
    const { ca: _ca, ...rest } = good.tls;
    const err = await failure(createClients({ ...good, tls: rest }).core.listNamespace({}));
    t.match((err as Error).message, /certificate/);
  });

  t.test('when insecure-skip-tls-verify is set then any certificate is accepted', async (t) => {
    const { ca: _ca, ...rest } = good.tls;
    const insecure = { ...good, tls: { ...rest, rejectUnauthorized: false } };
    t.ok((await createClients(insecure).core.listNamespace({})).items);
  });

  t.test('when tls-server-name names a host the certificate does not cover then it fails', async (t) => {
    const ok = { ...good, tls: { ...good.tls, servername: 'kubernetes.default.svc' } };
    t.ok((await createClients(ok).core.listNamespace({})).items, 'a name in the certificate works');
    const bad = { ...good, tls: { ...good.tls, servername: 'wrong.example' } };
    const err = await failure(createClients(bad).core.listNamespace({}));
    t.match((err as Error).message, /wrong\.example|altnames/);
  });
});

t.test(
  'when the kubeconfig user runs an exec plugin then its token authenticates the requests',
  async (t) => {
    const c = await cluster(t);
    c.store.create('/pods', pod('web-1'));
    const plugin = join(c.dir, 'plugin.mjs');
    writeFileSync(
      plugin,
      `#!${process.execPath}\nprocess.stdout.write(JSON.stringify({ apiVersion: 'client.authentication.k8s.io/v1', ` +
        `kind: 'ExecCredential', status: { token: ${JSON.stringify(c.adminToken)} } }));\n`,
    );
    chmodSync(plugin, 0o755);
    const file = join(c.dir, 'exec.kubeconfig');
    writeFileSync(
      file,
      JSON.stringify({
        clusters: [{ name: 'sim', cluster: { server: c.url, 'certificate-authority-data': b64(c.caPem) } }],
        users: [
          { name: 'u', user: { exec: { apiVersion: 'client.authentication.k8s.io/v1', command: plugin } } },
        ],
        contexts: [{ name: 'sim', context: { cluster: 'sim', user: 'u', namespace: NS } }],
        'current-context': 'sim',
      }),
    );
    const { core } = createClients(loadKubeConfig({ kubeconfig: file, env: {} }));
    const pods = await listPods(core, { namespaces: [NS] });
    t.same(
      pods.map((p) => p.metadata?.name),
      ['web-1'],
    );
  },
);

t.test(
  'when the kubeconfig gives a client certificate then it is presented in the TLS handshake',
  async (t) => {
    const { caPem, certPem, keyPem } = simulatorTls();
    // A server that asks for a client certificate and answers with the subject it got (the simulator itself only
    // knows bearer tokens). The simulator's server certificate stands in for a client certificate.
    const server = https.createServer(
      { cert: certPem, key: keyPem, requestCert: true, rejectUnauthorized: false },
      (req, res) => {
        const peer = (req.socket as TLSSocket).getPeerCertificate();
        res.setHeader('Content-Type', 'application/json');
        res.end(
          JSON.stringify({
            kind: 'NamespaceList',
            items: [{ metadata: { name: peer?.subject?.CN ?? 'none' } }],
          }),
        );
      },
    );
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    t.teardown(() => server.close());
    const port = (server.address() as AddressInfo).port;
    const dir = t.testdir({
      cfg: JSON.stringify({
        clusters: [
          {
            name: 'c',
            cluster: { server: `https://127.0.0.1:${port}`, 'certificate-authority-data': b64(caPem) },
          },
        ],
        users: [
          { name: 'u', user: { 'client-certificate-data': b64(certPem), 'client-key-data': b64(keyPem) } },
        ],
        contexts: [{ name: 'x', context: { cluster: 'c', user: 'u' } }],
        'current-context': 'x',
      }),
    });
    const { core } = createClients(loadKubeConfig({ kubeconfig: join(dir, 'cfg'), env: {} }));
    const list = await core.listNamespace({});
    t.equal(
      list.items[0]?.metadata?.name,
      'kube-apiserver',
      'the server saw the certificate from the kubeconfig',
    );
  },
);

t.test(
  'when the cluster has a proxy-url then requests tunnel through that proxy (client-node agent)',
  async (t) => {
    const c = await cluster(t);
    c.store.create('/pods', pod('web-1'));
    const tunnels: string[] = [];
    const proxy = http.createServer();
    proxy.on('connect', (req: http.IncomingMessage, client: Socket) => {
      tunnels.push(req.url ?? '');
      const [host, port] = (req.url ?? '').split(':');
      const upstream = tcpConnect(Number(port), host ?? '127.0.0.1', () => {
        client.write('HTTP/1.1 200 Connection Established\r\n\r\n');
        upstream.pipe(client).pipe(upstream);
      });
      upstream.on('error', () => client.destroy());
      client.on('error', () => upstream.destroy());
    });
    await new Promise<void>((r) => proxy.listen(0, '127.0.0.1', r));
    t.teardown(() => proxy.close());
    const proxyUrl = `http://127.0.0.1:${(proxy.address() as AddressInfo).port}`;
    const file = join(c.dir, 'proxy.kubeconfig');
    writeFileSync(
      file,
      JSON.stringify({
        clusters: [
          {
            name: 's',
            cluster: { server: c.url, 'certificate-authority-data': b64(c.caPem), 'proxy-url': proxyUrl },
          },
        ],
        users: [{ name: 'u', user: { token: c.adminToken } }],
        contexts: [{ name: 's', context: { cluster: 's', user: 'u', namespace: NS } }],
        'current-context': 's',
      }),
    );
    const { core } = createClients(loadKubeConfig({ kubeconfig: file, env: {} }));
    const pods = await listPods(core, { namespaces: [NS] });
    t.same(
      pods.map((p) => p.metadata?.name),
      ['web-1'],
    );
    t.same(tunnels, [new URL(c.url).host], 'one CONNECT to the API server');
  },
);

function b64(s: string): string {
  return Buffer.from(s).toString('base64');
}
