// Request bodies in the Kubernetes protobuf encoding (what kubectl's typed clients send), decoded by the simulator
// into the same JSON a real server would store: maps, inline embedded structs, IntOrString, Quantity, pointer zeros.

import t from 'tap';
import { api } from '../harness/kube-sim/http.ts';
import { type Cluster, startCluster } from '../harness/kube-sim/index.ts';
import { requireBin } from '../harness/require-bin.ts';

const PROTOBUF = 'application/vnd.kubernetes.protobuf';

function varint(n: number | bigint): Buffer {
  let v = BigInt.asUintN(64, BigInt(n));
  const out: number[] = [];
  do {
    let b = Number(v & 0x7fn);
    v >>= 7n;
    if (v) b |= 0x80;
    out.push(b);
  } while (v);
  return Buffer.from(out);
}

const tag = (no: number, wt: number) => varint((no << 3) | wt);
const int = (no: number, n: number) => Buffer.concat([tag(no, 0), varint(n)]);
const bytes = (no: number, b: Buffer) => Buffer.concat([tag(no, 2), varint(b.length), b]);
const str = (no: number, s: string) => bytes(no, Buffer.from(s, 'utf8'));
const msg = (no: number, ...parts: Buffer[]) => bytes(no, Buffer.concat(parts));
const entry = (no: number, k: string, v: Buffer | string) =>
  msg(no, str(1, k), typeof v === 'string' ? str(2, v) : bytes(2, v));

/** The `k8s\0` envelope (runtime.Unknown) around an encoded object. */
function envelope(apiVersion: string, kind: string, raw: Buffer): Buffer {
  return Buffer.concat([
    Buffer.from([0x6b, 0x38, 0x73, 0x00]),
    msg(1, str(1, apiVersion), str(2, kind)),
    bytes(2, raw),
    str(3, ''),
    str(4, ''),
  ]);
}

// Every test here talks to a simulated cluster, whose TLS material comes from the openssl CLI.
if (requireBin(t, 'openssl')) {
  let cluster: Cluster;
  t.before(async () => {
    cluster = await startCluster({ controllers: false });
  });
  t.teardown(() => cluster.stop());

  t.test(
    'when a pod arrives as protobuf then it is stored as the JSON a real server would keep',
    async (t) => {
      const intOrString = (v: number | string) =>
        typeof v === 'number' ? Buffer.concat([int(1, 0), int(2, v)]) : Buffer.concat([int(1, 1), str(3, v)]);
      const container = Buffer.concat([
        str(1, 'app'),
        str(2, 'registry.local/app:1'),
        msg(6, str(1, 'http'), int(3, 8080), str(4, 'TCP')), // ports
        msg(8, entry(1, 'cpu', str(1, '500m'))), // resources.limits (map<string, Quantity>)
        msg(9, str(1, 'cache'), int(2, 0), str(3, '/cache')), // volumeMounts: readOnly false is "unset"
        msg(11, msg(1, msg(2, str(1, '/ready'), msg(2, intOrString('http')))), int(4, 5)), // readinessProbe.httpGet
        msg(10, msg(1, msg(3, msg(1, intOrString(8080))))), // livenessProbe.tcpSocket
        int(16, 0), // stdin: false
      ]);
      const volumes = Buffer.concat([
        msg(1, str(1, 'cache'), msg(2, msg(2))), // emptyDir: {}
        msg(1, str(1, 'cfg'), msg(2, msg(19, msg(1, str(1, 'settings'))))), // configMap (LocalObjectReference inline)
      ]);
      const pod = Buffer.concat([
        msg(1, str(1, 'proto-pod'), str(3, 'default'), int(7, 0), entry(11, 'app', 'web'), msg(8)),
        msg(2, volumes, msg(2, container), int(4, 0), str(10, 'node-x'), int(11, 0)),
      ]);
      const r = await api(cluster, '/api/v1/namespaces/default/pods', {
        body: envelope('v1', 'Pod', pod),
        contentType: PROTOBUF,
      });
      t.equal(r.status, 201, r.text);
      const stored = cluster.store.get('/pods', 'default', 'proto-pod')!;
      t.same(stored.metadata.labels, { app: 'web' });
      t.notOk(
        'generation' in stored.metadata && stored.metadata.generation === 0,
        'a zero generation is not kept',
      );
      t.notOk(stored.metadata.creationTimestamp === undefined, 'the server sets creationTimestamp');
      t.same(stored.spec.volumes, [
        { name: 'cache', emptyDir: {} },
        { name: 'cfg', configMap: { name: 'settings' } },
      ]);
      t.equal(stored.spec.terminationGracePeriodSeconds, 0, 'a zero in a pointer field is kept');
      t.equal(stored.spec.nodeName, 'node-x');
      t.notOk('hostNetwork' in stored.spec, 'false in a non-pointer field is omitted, as JSON would');
      const c = stored.spec.containers[0];
      t.same(c.ports, [{ name: 'http', containerPort: 8080, protocol: 'TCP' }]);
      t.same(c.resources, { limits: { cpu: '500m' } });
      t.same(c.volumeMounts, [{ name: 'cache', mountPath: '/cache' }]);
      t.same(c.readinessProbe, { httpGet: { path: '/ready', port: 'http' }, periodSeconds: 5 });
      t.same(c.livenessProbe, { tcpSocket: { port: 8080 } });
      t.notOk('stdin' in c);
    },
  );

  t.test(
    'when an eviction arrives as protobuf then its zero grace period removes the pod at once',
    async (t) => {
      cluster.store.create('/pods', {
        metadata: { name: 'bound', namespace: 'default' },
        spec: { nodeName: 'node-x', containers: [{ name: 'c', image: 'x:1' }] },
        status: { phase: 'Running', conditions: [{ type: 'Ready', status: 'True' }] },
      });
      const eviction = Buffer.concat([msg(1, str(1, 'bound'), str(3, 'default')), msg(2, int(1, 0))]);
      const r = await api(cluster, '/api/v1/namespaces/default/pods/bound/eviction', {
        body: envelope('policy/v1', 'Eviction', eviction),
        contentType: PROTOBUF,
      });
      t.equal(r.status, 201, r.text);
      t.equal(
        cluster.store.get('/pods', 'default', 'bound'),
        undefined,
        'gracePeriodSeconds: 0 was honoured',
      );
    },
  );

  t.test('when a protobuf body is malformed or of an unknown kind then it is a 400 or 415', async (t) => {
    const bad = await api(cluster, '/api/v1/namespaces/default/configmaps', {
      body: 'nope',
      contentType: PROTOBUF,
    });
    t.equal(bad.status, 400);
    const unknown = await api(cluster, '/api/v1/namespaces/default/configmaps', {
      body: envelope('example.com/v1', 'Widget', Buffer.alloc(0)),
      contentType: PROTOBUF,
    });
    t.equal(unknown.status, 415);
  });
}
