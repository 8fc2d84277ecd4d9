// Real kubectl against the simulator (with its controllers): if kubectl cannot tell it from a real API server for
// the commands below, the simulator is faithful enough for the project's end-to-end tests.

import { execFile, spawn } from 'node:child_process';
import { join } from 'node:path';
import t from 'tap';
import { type Cluster, startCluster } from '../harness/kube-sim/index.ts';
import type { KObject } from '../harness/kube-sim/store.ts';
import { requireBin } from '../harness/require-bin.ts';

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

// The simulated cluster's TLS material comes from the openssl CLI.
const kubectlPath = requireBin(t, 'openssl') && requireBin(t, 'kubectl');

if (kubectlPath) {
  const kubectl = kubectlPath;
  let cluster: Cluster;
  let cacheDir: string;

  t.before(async () => {
    cluster = await startCluster({ controllers: {} });
    // Inside the cluster's own temp dir, so it goes with the cluster even if the test dies.
    cacheDir = join(cluster.dir, 'kubectl-cache');
  });
  t.teardown(() => cluster.stop());

  /** Runs kubectl with a 30 s timeout; resolves with its exit code and output (never rejects on a non-zero exit). */
  const run = (args: string[], kubeconfig = cluster.kubeconfigPath): Promise<Run> =>
    new Promise((resolve, reject) => {
      execFile(
        kubectl,
        ['--kubeconfig', kubeconfig, '--cache-dir', cacheDir, ...args],
        { timeout: 30_000, env: { ...process.env, KUBECONFIG: '' } },
        (err, stdout, stderr) => {
          if (err && typeof err.code !== 'number') {
            reject(err);
            return;
          }
          resolve({ code: typeof err?.code === 'number' ? err.code : 0, stdout, stderr });
        },
      );
    });

  const settle = (predicate?: (s: Cluster['store']) => boolean) =>
    cluster.controllers!.settle(predicate, 15_000);

  function deployment(
    ns: string,
    name: string,
    replicas: number,
    image: string,
    labels: Record<string, string> = {},
  ): KObject {
    return {
      metadata: { name, namespace: ns },
      spec: {
        replicas,
        selector: { matchLabels: { app: name } },
        template: {
          metadata: { labels: { app: name, ...labels } },
          spec: { containers: [{ name: 'c', image }] },
        },
      },
    };
  }

  const podsOf = (ns: string, app: string) =>
    cluster.store
      .listRefs('/pods', ns)
      .filter((p) => p.metadata.labels?.app === app && !p.metadata.deletionTimestamp);

  const readyPods = (ns: string, app: string) =>
    podsOf(ns, app).filter((p) =>
      (p.status?.conditions ?? []).some(
        (c: { type: string; status: string }) => c.type === 'Ready' && c.status === 'True',
      ),
    );

  t.test('get pods -o json lists the stored pods', async (t) => {
    cluster.store.create('/namespaces', { metadata: { name: 'get' } });
    cluster.store.create('apps/deployments', deployment('get', 'web', 2, 'nginx:1'));
    await settle(() => readyPods('get', 'web').length === 2);
    const r = await run(['get', 'pods', '-n', 'get', '-o', 'json']);
    t.equal(r.code, 0, r.stderr);
    const list = JSON.parse(r.stdout);
    t.equal(list.kind, 'List');
    t.same(
      list.items.map((p: KObject) => p.metadata.name).sort(),
      podsOf('get', 'web')
        .map((p) => p.metadata.name)
        .sort(),
    );
    t.equal(list.items[0].kind, 'Pod');
  });

  t.test('get pods prints the server-side table', async (t) => {
    const r = await run(['get', 'pods', '-n', 'get']);
    t.equal(r.code, 0, r.stderr);
    const lines = r.stdout.trim().split('\n');
    t.match(lines[0], /^NAME\s+READY\s+STATUS\s+RESTARTS\s+AGE$/);
    t.equal(lines.length, 3);
    for (const line of lines.slice(1))
      t.match(line, /^web-[a-z0-9]+-[a-z0-9]{5}\s+1\/1\s+Running\s+0\s+\d+s$/);
  });

  t.test('delete pod removes it, and the ReplicaSet replaces it', async (t) => {
    const victim = podsOf('get', 'web')[0]!.metadata.name!;
    const r = await run(['delete', 'pod', '-n', 'get', victim]);
    t.equal(r.code, 0, r.stderr);
    t.equal(r.stdout.trim(), `pod "${victim}" deleted`);
    t.equal(cluster.store.get('/pods', 'get', victim), undefined, 'kubectl waited until the pod was gone');
    await settle(() => readyPods('get', 'web').length === 2);
    t.notOk(
      podsOf('get', 'web').some((p) => p.metadata.name === victim),
      'a new pod took its place',
    );
  });

  t.test('set image, rollout status and rollout undo drive the Deployment', async (t) => {
    cluster.store.create('/namespaces', { metadata: { name: 'roll' } });
    cluster.store.create('apps/deployments', deployment('roll', 'app', 3, 'nginx:1'));
    await settle(() => readyPods('roll', 'app').length === 3);

    const set = await run(['set', 'image', '-n', 'roll', 'deployment/app', 'c=nginx:2']);
    t.equal(set.code, 0, set.stderr);
    t.equal(set.stdout.trim(), 'deployment.apps/app image updated');
    t.equal(
      cluster.store.get('apps/deployments', 'roll', 'app')!.spec.template.spec.containers[0].image,
      'nginx:2',
    );

    const status = await run(['rollout', 'status', '-n', 'roll', 'deployment/app', '--timeout=30s']);
    t.equal(status.code, 0, status.stderr);
    t.match(status.stdout, /deployment "app" successfully rolled out/);
    await settle(() => podsOf('roll', 'app').length === 3);
    t.same(
      podsOf('roll', 'app').map((p) => p.spec.containers[0].image),
      ['nginx:2', 'nginx:2', 'nginx:2'],
      'every pod runs the new image once the rollout is done',
    );

    const undo = await run(['rollout', 'undo', '-n', 'roll', 'deployment/app']);
    t.equal(undo.code, 0, undo.stderr);
    t.equal(undo.stdout.trim(), 'deployment.apps/app rolled back');
    t.equal(
      cluster.store.get('apps/deployments', 'roll', 'app')!.spec.template.spec.containers[0].image,
      'nginx:1',
    );
    const again = await run(['rollout', 'status', '-n', 'roll', 'deployment/app', '--timeout=30s']);
    t.equal(again.code, 0, again.stderr);
    await settle(() => podsOf('roll', 'app').length === 3 && readyPods('roll', 'app').length === 3);
    t.same(
      podsOf('roll', 'app').map((p) => p.spec.containers[0].image),
      ['nginx:1', 'nginx:1', 'nginx:1'],
    );
  });

  t.test('create job --from=cronjob copies the job template exactly and owns the job', async (t) => {
    cluster.store.create('/namespaces', { metadata: { name: 'cron' } });
    // kubectl sends this Job as protobuf: a rich template checks the simulator decodes it to the same JSON.
    const template = {
      metadata: { labels: { app: 'nightly', tier: 'batch' }, annotations: { note: 'x' } },
      spec: {
        restartPolicy: 'Never',
        terminationGracePeriodSeconds: 0,
        activeDeadlineSeconds: 600,
        nodeSelector: { disk: 'ssd' },
        securityContext: { runAsUser: 0, runAsNonRoot: false, fsGroup: 2000 },
        tolerations: [
          {
            key: 'dedicated',
            operator: 'Equal',
            value: 'batch',
            effect: 'NoSchedule',
            tolerationSeconds: 30,
          },
        ],
        imagePullSecrets: [{ name: 'pull' }],
        volumes: [
          { name: 'scratch', emptyDir: {} },
          { name: 'cfg', configMap: { name: 'cfg', defaultMode: 420, optional: false } },
        ],
        containers: [
          {
            name: 'run',
            image: 'busybox:1.36',
            command: ['/bin/sh', '-c'],
            args: ['--once'],
            env: [
              { name: 'MODE', value: 'all' },
              { name: 'POD', valueFrom: { fieldRef: { apiVersion: 'v1', fieldPath: 'metadata.name' } } },
            ],
            ports: [{ name: 'http', containerPort: 8080, protocol: 'TCP' }],
            resources: { limits: { cpu: '500m', memory: '64Mi' }, requests: { cpu: '100m' } },
            volumeMounts: [
              { name: 'scratch', mountPath: '/tmp' },
              { name: 'cfg', mountPath: '/etc/cfg', readOnly: true },
            ],
            readinessProbe: { httpGet: { path: '/ready', port: 'http', scheme: 'HTTP' }, periodSeconds: 5 },
            livenessProbe: { tcpSocket: { port: 8080 }, initialDelaySeconds: 3 },
            securityContext: { allowPrivilegeEscalation: false, readOnlyRootFilesystem: true },
          },
        ],
      },
    };
    const cj = cluster.store.create('batch/cronjobs', {
      metadata: { name: 'nightly', namespace: 'cron' },
      spec: {
        schedule: '0 3 * * *',
        suspend: true,
        jobTemplate: {
          metadata: { labels: { from: 'cron' } },
          spec: { backoffLimit: 0, ttlSecondsAfterFinished: 0, template },
        },
      },
    });
    const r = await run(['create', 'job', '-n', 'cron', '--from=cronjob/nightly', 'manual-1']);
    t.equal(r.code, 0, r.stderr);
    t.equal(r.stdout.trim(), 'job.batch/manual-1 created');
    const job = cluster.store.get('batch/jobs', 'cron', 'manual-1')!;
    t.equal(job.metadata.annotations?.['cronjob.kubernetes.io/instantiate'], 'manual');
    t.same(job.metadata.labels, { from: 'cron' });
    t.match(job.metadata.ownerReferences, [
      { kind: 'CronJob', name: 'nightly', uid: cj.metadata.uid, controller: true },
    ]);
    // The API server adds the four controller labels of the new Job (and its selector), as the real one does.
    const expected = structuredClone(cj.spec.jobTemplate.spec.template);
    expected.metadata = {
      ...expected.metadata,
      labels: {
        ...(expected.metadata?.labels ?? {}),
        'controller-uid': job.metadata.uid,
        'batch.kubernetes.io/controller-uid': job.metadata.uid,
        'job-name': 'manual-1',
        'batch.kubernetes.io/job-name': 'manual-1',
      },
    };
    t.same(job.spec.selector, { matchLabels: { 'batch.kubernetes.io/controller-uid': job.metadata.uid } });
    t.same(job.spec.template, expected, 'the template survives the protobuf round trip unchanged');
    t.equal(job.spec.backoffLimit, 0, 'a zero in a pointer field is kept');
    t.equal(job.spec.ttlSecondsAfterFinished, 0);
  });

  t.test('kubectl create commands (protobuf bodies) store the objects a real server would', async (t) => {
    cluster.store.create('/namespaces', { metadata: { name: 'made' } });
    const steps = [
      ['create', 'deployment', 'd', '--image=nginx:1', '--replicas=2', '--port=80'],
      [
        'create',
        'secret',
        'docker-registry',
        'pull',
        '--docker-server=r.local:5000',
        '--docker-username=u',
        '--docker-password=p',
      ],
      ['create', 'role', 'r', '--verb=get,list', '--resource=pods,pods/eviction', '--resource-name=x'],
      ['create', 'rolebinding', 'rb', '--role=r', '--serviceaccount=made:bot'],
      ['create', 'pdb', 'p', '--selector=app=d', '--min-available=1'],
      ['run', 'solo', '--image=nginx:1', '--labels=a=b', '--env=X=1', '--port=8080'],
    ];
    for (const args of steps) {
      const r = await run(['-n', 'made', ...args]);
      t.equal(r.code, 0, `${args.join(' ')}: ${r.stderr}`);
    }
    const get = (key: string, name: string) => cluster.store.get(key, 'made', name)!;
    t.match(get('apps/deployments', 'd').spec, {
      replicas: 2,
      strategy: { type: 'RollingUpdate', rollingUpdate: { maxSurge: '25%', maxUnavailable: '25%' } },
      template: {
        spec: { containers: [{ name: 'nginx', image: 'nginx:1', ports: [{ containerPort: 80 }] }] },
      },
    });
    const secret = get('/secrets', 'pull');
    t.equal(secret.type, 'kubernetes.io/dockerconfigjson');
    t.same(JSON.parse(Buffer.from(secret.data['.dockerconfigjson'], 'base64').toString('utf8')), {
      auths: {
        'r.local:5000': { username: 'u', password: 'p', auth: Buffer.from('u:p').toString('base64') },
      },
    });
    t.same(get('rbac.authorization.k8s.io/roles', 'r').rules, [
      { apiGroups: [''], resources: ['pods', 'pods/eviction'], resourceNames: ['x'], verbs: ['get', 'list'] },
    ]);
    t.same(get('rbac.authorization.k8s.io/rolebindings', 'rb').subjects, [
      { kind: 'ServiceAccount', name: 'bot', namespace: 'made' },
    ]);
    t.same(get('policy/poddisruptionbudgets', 'p').spec, {
      minAvailable: 1,
      selector: { matchLabels: { app: 'd' } },
    });
    t.match(get('/pods', 'solo'), {
      metadata: { labels: { a: 'b' } },
      spec: {
        containers: [{ name: 'solo', env: [{ name: 'X', value: '1' }], ports: [{ containerPort: 8080 }] }],
      },
    });
  });

  t.test(
    'delete --cascade=foreground removes the Deployment only after its ReplicaSet and pods',
    async (t) => {
      cluster.store.create('/namespaces', { metadata: { name: 'fg' } });
      cluster.store.create('apps/deployments', deployment('fg', 'gone', 2, 'nginx:1'));
      await settle(() => readyPods('fg', 'gone').length === 2);
      const order: string[] = [];
      const onEvent = (ev: { type: string; key: string; object: KObject }) => {
        if (ev.type === 'DELETED' && ev.object.metadata.namespace === 'fg') order.push(ev.object.kind!);
      };
      cluster.store.on('event', onEvent);
      t.teardown(() => cluster.store.off('event', onEvent));
      const r = await run([
        'delete',
        '-n',
        'fg',
        'deployment',
        'gone',
        '--cascade=foreground',
        '--timeout=30s',
      ]);
      t.equal(r.code, 0, r.stderr);
      t.equal(r.stdout.trim(), 'deployment.apps "gone" deleted');
      t.equal(
        cluster.store.get('apps/deployments', 'fg', 'gone'),
        undefined,
        'kubectl waited until it was gone',
      );
      t.same(cluster.store.list('apps/replicasets', 'fg'), []);
      t.same(cluster.store.list('/pods', 'fg'), []);
      t.equal(order[order.length - 1], 'Deployment', 'the owner is the last to go');
    },
  );

  t.test('get -w prints the watch events of a pod as table rows', async (t) => {
    cluster.store.create('/namespaces', { metadata: { name: 'watch' } });
    const listenersBefore = cluster.store.listenerCount('event');
    const child = spawn(
      kubectl,
      [
        '--kubeconfig',
        cluster.kubeconfigPath,
        '--cache-dir',
        cacheDir,
        'get',
        'pods',
        '-n',
        'watch',
        '-w',
        '--output-watch-events',
      ],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    t.teardown(() => {
      child.kill();
    });
    let out = '';
    const waiters: Array<[RegExp, () => void]> = [];
    const seen = (re: RegExp) =>
      new Promise<void>((resolve, reject) => {
        const timer = setTimeout(
          () => reject(new Error(`kubectl get -w never printed ${re}: ${out}`)),
          20_000,
        );
        waiters.push([
          re,
          () => {
            clearTimeout(timer);
            resolve();
          },
        ]);
      });
    const onData = () => {
      for (const w of [...waiters]) {
        if (w[0].test(out)) {
          waiters.splice(waiters.indexOf(w), 1);
          w[1]();
        }
      }
    };
    child.stdout.setEncoding('utf8');
    child.stdout.on('data', (c: string) => {
      out += c;
      onData();
    });
    // kubectl prints nothing for an empty list: its watch is open once the store has one more listener.
    const deadline = Date.now() + 20_000;
    while (cluster.store.listenerCount('event') <= listenersBefore) {
      if (Date.now() > deadline) throw new Error('kubectl get -w never opened its watch');
      await new Promise((r) => setTimeout(r, 20));
    }
    cluster.store.create('apps/deployments', deployment('watch', 'w', 1, 'nginx:1'));
    await seen(/^ADDED\s+w-\S+\s+0\/1\s+Pending/m);
    await seen(/^MODIFIED\s+w-\S+\s+1\/1\s+Running/m);
    const name = podsOf('watch', 'w')[0]!.metadata.name!;
    cluster.store.delete('/pods', 'watch', name);
    await seen(new RegExp(`^DELETED\\s+${name}\\s`, 'm'));
    t.match(out, /^EVENT\s+NAME\s+READY\s+STATUS\s+RESTARTS\s+AGE$/m, 'one header line');
    t.equal(out.match(/^EVENT/gm)?.length, 1);
  });

  t.test('auth can-i with a ServiceAccount kubeconfig follows its RBAC bindings', async (t) => {
    cluster.store.create('/namespaces', { metadata: { name: 'rbac' } });
    const kc = cluster.kubeconfig({
      token: cluster.serviceAccountToken('rbac', 'updater'),
      namespace: 'rbac',
      user: 'updater',
    });
    // kubectl reads `pods/eviction` as TYPE/NAME (a pod named "eviction"); a subresource needs --subresource.
    const canEvict = () => run(['auth', 'can-i', 'create', 'pods', '--subresource=eviction'], kc);
    const before = await canEvict();
    t.equal(before.stdout.trim(), 'no');
    t.equal(before.code, 1);

    cluster.store.create('rbac.authorization.k8s.io/roles', {
      metadata: { name: 'updater', namespace: 'rbac' },
      rules: [
        { apiGroups: [''], resources: ['pods'], verbs: ['get', 'list'] },
        { apiGroups: [''], resources: ['pods/eviction'], verbs: ['create'] },
      ],
    });
    cluster.store.create('rbac.authorization.k8s.io/rolebindings', {
      metadata: { name: 'updater', namespace: 'rbac' },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'updater' },
      subjects: [{ kind: 'ServiceAccount', name: 'updater', namespace: 'rbac' }],
    });
    const after = await canEvict();
    t.equal(after.stdout.trim(), 'yes');
    t.equal(after.code, 0);
    t.equal((await run(['auth', 'can-i', 'list', 'pods'], kc)).stdout.trim(), 'yes');
    t.equal((await run(['auth', 'can-i', 'delete', 'pods'], kc)).stdout.trim(), 'no');
    t.equal(
      (await run(['auth', 'can-i', 'create', 'pods/eviction'], kc)).stdout.trim(),
      'no',
      'TYPE/NAME asks about creating a pod named "eviction", which the Role does not allow',
    );
    t.equal(
      (
        await run(['auth', 'can-i', 'create', 'pods', '--subresource=eviction', '-n', 'default'], kc)
      ).stdout.trim(),
      'no',
      'the RoleBinding does not reach other namespaces',
    );

    const forbidden = await run(['get', 'pods', '-n', 'default'], kc);
    t.equal(forbidden.code, 1);
    t.match(
      forbidden.stderr,
      'Error from server (Forbidden): pods is forbidden: User "system:serviceaccount:rbac:updater" cannot list resource "pods" in API group "" in the namespace "default"',
    );
    t.equal((await run(['get', 'pods'], kc)).code, 0, 'the granted namespace lists fine');
    const asSA = await run([
      'auth',
      'can-i',
      'create',
      'pods',
      '--subresource=eviction',
      '-n',
      'rbac',
      '--as=system:serviceaccount:rbac:updater',
    ]);
    t.equal(asSA.stdout.trim(), 'yes', 'the admin impersonating the ServiceAccount sees its rights');
    const asOther = await run([
      'auth',
      'can-i',
      'list',
      'pods',
      '-n',
      'rbac',
      '--as=system:serviceaccount:rbac:nobody',
    ]);
    t.equal(asOther.stdout.trim(), 'no');
  });

  t.test(
    'drain evicts the selected pods through the Eviction API and honours a PodDisruptionBudget',
    async (t) => {
      cluster.store.create('/namespaces', { metadata: { name: 'drain' } });
      cluster.store.create(
        'apps/deployments',
        deployment('drain', 'drained', 2, 'nginx:1', { drain: 'yes' }),
      );
      cluster.store.create('apps/daemonsets', {
        metadata: { name: 'agent', namespace: 'drain' },
        spec: {
          selector: { matchLabels: { app: 'agent' } },
          template: {
            metadata: { labels: { app: 'agent', drain: 'yes' } },
            spec: { containers: [{ name: 'agent', image: 'busybox:1' }] },
          },
        },
      });
      cluster.store.create('apps/deployments', deployment('drain', 'guarded', 1, 'nginx:1'));
      cluster.store.create('policy/poddisruptionbudgets', {
        metadata: { name: 'guarded', namespace: 'drain' },
        spec: { minAvailable: 1, selector: { matchLabels: { app: 'guarded' } } },
      });
      await settle(
        (s) =>
          readyPods('drain', 'drained').length === 2 &&
          readyPods('drain', 'agent').length === s.listRefs('/nodes').length &&
          readyPods('drain', 'guarded').length === 1 &&
          s.get('policy/poddisruptionbudgets', 'drain', 'guarded')?.status?.currentHealthy === 1,
      );
      const node = podsOf('drain', 'drained')[0]!.spec.nodeName as string;
      t.ok(node, 'the pods are bound to a node');
      t.teardown(() => run(['uncordon', node]));

      const r = await run([
        'drain',
        node,
        '--pod-selector=drain=yes',
        '--ignore-daemonsets',
        '--delete-emptydir-data',
        '--timeout=30s',
      ]);
      t.equal(r.code, 0, r.stderr);
      t.match(r.stdout, `node/${node} drained`);
      t.match(r.stdout, /evicted/);
      t.equal(cluster.store.get('/nodes', undefined, node)!.spec.unschedulable, true, 'the node is cordoned');
      t.match(r.stderr, /ignoring DaemonSet-managed Pods: drain\/agent-/);
      t.ok(
        podsOf('drain', 'agent').some((p) => p.spec.nodeName === node),
        'the DaemonSet pod stays on the drained node',
      );
      t.notOk(
        podsOf('drain', 'drained').some((p) => p.spec.nodeName === node),
        'no selected pod is left on the node',
      );
      await settle(() => readyPods('drain', 'drained').length === 2);
      t.notOk(
        podsOf('drain', 'drained').some((p) => p.spec.nodeName === node),
        'the replacements avoid the cordoned node',
      );

      const guardedNode = podsOf('drain', 'guarded')[0]!.spec.nodeName as string;
      t.teardown(() => run(['uncordon', guardedNode]));
      const blocked = await run([
        'drain',
        guardedNode,
        '--pod-selector=app=guarded',
        '--ignore-daemonsets',
        '--timeout=2s',
      ]);
      t.not(blocked.code, 0, 'drain gives up when the budget never allows the eviction');
      t.match(blocked.stderr, "Cannot evict pod as it would violate the pod's disruption budget.");
      t.equal(readyPods('drain', 'guarded').length, 1, 'the guarded pod is still running');
    },
  );
}
