// Integration: the Kubernetes access layer and the restarter through the real @kubernetes/client-node, over HTTPS,
// against the API simulator (test/harness/kube-sim).

import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import { evictPod } from '../../lib/apply/eviction.ts';
import { createClients } from '../../lib/kube/api.ts';
import { loadKubeConfig } from '../../lib/kube/config.ts';
import { recordEvent } from '../../lib/kube/events.ts';
import { listPods } from '../../lib/kube/pods.ts';
import { PullSecretSource } from '../../lib/kube/pull-secrets.ts';
import { type Cluster, startCluster } from '../harness/kube-sim/index.ts';
import type { KObject } from '../harness/kube-sim/store.ts';

const NS = 'shop';

function readyPod(name: string, labels: Record<string, string> = { app: 'web' }): KObject {
  return {
    metadata: { name, namespace: NS, labels },
    spec: { containers: [{ name: 'app', image: 'registry.example/app:latest' }] },
    status: { phase: 'Running', conditions: [{ type: 'Ready', status: 'True' }] },
  };
}

async function bareCluster(t: Test): Promise<Cluster> {
  const c = await startCluster({ controllers: false });
  t.teardown(() => c.stop());
  c.store.create('/namespaces', { metadata: { name: NS } });
  return c;
}

t.test('API access through the real client against the simulator', async (t) => {
  t.test(
    'when loading the simulator kubeconfig then pods are listed page by page with the context namespace',
    async (t) => {
      const c = await bareCluster(t);
      for (let i = 1; i <= 5; i++) c.store.create('/pods', readyPod(`web-${i}`));
      c.store.create('/pods', readyPod('other', { app: 'other' }));
      const loaded = loadKubeConfig({
        kubeconfig: c.kubeconfig({ token: c.adminToken, namespace: NS }),
        env: {},
      });
      t.equal(loaded.namespace, NS);
      const { core } = createClients(loaded.kc);
      const pods = await listPods(core, {
        namespaces: [loaded.namespace],
        labelSelector: 'app=web',
        pageSize: 2,
      });
      t.same(pods.map((p) => p.metadata?.name).sort(), ['web-1', 'web-2', 'web-3', 'web-4', 'web-5']);
    },
  );

  t.test(
    'when a PDB allows no disruption then the eviction ends pdb-blocked and the pod is untouched',
    async (t) => {
      const c = await bareCluster(t);
      const pod = c.store.create('/pods', readyPod('web-1'));
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
      const { core } = createClients(loadKubeConfig({ kubeconfig: c.kubeconfigPath, env: {} }).kc);
      const r = await evictPod(
        core,
        { namespace: NS, name: 'web-1', uid: pod.metadata.uid as string },
        { deadlineMs: 300, retryIntervalMs: 100 },
      );
      t.match(r, {
        ok: false,
        outcome: 'pdb-blocked',
        message: /web-pdb needs 1 healthy pods and has 1 currently/,
      });
      if (!r.ok) t.ok(r.attempts >= 2, 'retried while blocked');
      const still = c.store.get('/pods', NS, 'web-1');
      t.equal(still?.metadata.uid, pod.metadata.uid);
      t.notOk(still?.metadata.deletionTimestamp, 'not even marked for deletion');
    },
  );

  t.test('when two PDBs select the pod then the eviction fails with the server message', async (t) => {
    const c = await bareCluster(t);
    const pod = c.store.create('/pods', readyPod('web-1'));
    for (const name of ['pdb-a', 'pdb-b']) {
      c.store.create('policy/poddisruptionbudgets', {
        metadata: { name, namespace: NS },
        spec: { maxUnavailable: 1, selector: { matchLabels: { app: 'web' } } },
        status: { observedGeneration: 1, disruptionsAllowed: 1 },
      });
    }
    const { core } = createClients(loadKubeConfig({ kubeconfig: c.kubeconfigPath, env: {} }).kc);
    const r = await evictPod(
      core,
      { namespace: NS, name: 'web-1', uid: pod.metadata.uid as string },
      { deadlineMs: 1000 },
    );
    t.match(r, {
      ok: false,
      outcome: 'eviction-failed',
      status: 500,
      message: /more than one PodDisruptionBudget/,
    });
  });

  t.test('when the planned uid is not the pod that now has the name then nothing is evicted', async (t) => {
    const c = await bareCluster(t);
    c.store.create('/pods', readyPod('web-1'));
    const { core } = createClients(loadKubeConfig({ kubeconfig: c.kubeconfigPath, env: {} }).kc);
    const r = await evictPod(
      core,
      { namespace: NS, name: 'web-1', uid: 'uid-of-an-older-pod' },
      { deadlineMs: 1000 },
    );
    t.match(r, { ok: false, outcome: 'eviction-failed', status: 409 });
    t.ok(c.store.get('/pods', NS, 'web-1'));
  });

  t.test(
    'when running in-cluster then the service-account token, CA and namespace files are used',
    async (t) => {
      const c = await bareCluster(t);
      c.store.create('/pods', readyPod('web-1'));
      c.store.create('rbac.authorization.k8s.io/roles', {
        metadata: { name: 'updater', namespace: NS },
        rules: [
          { apiGroups: [''], resources: ['pods'], verbs: ['get', 'list', 'watch'] },
          { apiGroups: [''], resources: ['pods/eviction'], verbs: ['create'] },
          { apiGroups: [''], resources: ['events'], verbs: ['create'] },
        ],
      });
      c.store.create('rbac.authorization.k8s.io/rolebindings', {
        metadata: { name: 'updater', namespace: NS },
        roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'updater' },
        subjects: [{ kind: 'ServiceAccount', name: 'updater', namespace: NS }],
      });
      const sa = join(c.dir, 'sa');
      mkdirSync(sa);
      writeFileSync(join(sa, 'token'), c.serviceAccountToken(NS, 'updater'));
      writeFileSync(join(sa, 'ca.crt'), c.caPem);
      writeFileSync(join(sa, 'namespace'), NS);
      const url = new URL(c.url);
      const loaded = loadKubeConfig({
        serviceAccountDir: sa,
        env: { KUBERNETES_SERVICE_HOST: url.hostname, KUBERNETES_SERVICE_PORT: url.port },
        homeDir: join(c.dir, 'nohome'),
      });
      t.equal(loaded.source, 'in-cluster');
      t.equal(loaded.namespace, NS);
      const { core } = createClients(loaded.kc);
      const pods = await listPods(core, { namespaces: [loaded.namespace] });
      t.same(
        pods.map((p) => p.metadata?.name),
        ['web-1'],
      );
      const denied = await listPods(core, { namespaces: ['kube-system'] }).catch((e: unknown) => e);
      t.match(denied, { name: 'KubeApiError', status: 403 }, 'RBAC applies to the service account');
    },
  );

  t.test(
    'when a pod and its ServiceAccount name pull secrets then both are read through the real client, a missing one is a warning',
    async (t) => {
      const c = await bareCluster(t);
      const dockerconfig = Buffer.from(
        JSON.stringify({ auths: { 'registry.example': { auth: 'dTpw' } } }),
      ).toString('base64');
      for (const name of ['own', 'from-sa']) {
        c.store.create('/secrets', {
          metadata: { name, namespace: NS },
          type: 'kubernetes.io/dockerconfigjson',
          data: { '.dockerconfigjson': dockerconfig },
        });
      }
      c.store.create('/serviceaccounts', {
        metadata: { name: 'builder', namespace: NS },
        imagePullSecrets: [{ name: 'from-sa' }, { name: 'missing' }],
      });
      const { core } = createClients(loadKubeConfig({ kubeconfig: c.kubeconfigPath, env: {} }).kc);
      const source = new PullSecretSource(core);
      const pod = {
        metadata: { name: 'web-1', namespace: NS },
        spec: { containers: [], serviceAccountName: 'builder', imagePullSecrets: [{ name: 'own' }] },
      };
      const r = await source.forPod(pod);
      t.same(
        r.secrets.map((s) => s.metadata?.name),
        ['own', 'from-sa'],
      );
      t.equal(r.secrets[0]?.data?.['.dockerconfigjson'], dockerconfig);
      t.same(r.warnings, ['secret shop/missing not found: its registry credentials are not used']);
    },
  );

  t.test('when an event is recorded then the API server stores it on the workload', async (t) => {
    const c = await bareCluster(t);
    const { core } = createClients(loadKubeConfig({ kubeconfig: c.kubeconfigPath, env: {} }).kc);
    const ok = await recordEvent(core, {
      involved: { kind: 'Deployment', name: 'web', namespace: NS, uid: 'dep-1', apiVersion: 'apps/v1' },
      reason: 'ImageUpdated',
      message: 'Restarted pod web-1',
      type: 'Normal',
    });
    t.equal(ok, true);
    const events = c.store.list('/events', NS);
    t.equal(events.length, 1);
    t.match(events[0], {
      reason: 'ImageUpdated',
      involvedObject: { kind: 'Deployment', name: 'web' },
      reportingComponent: 'k8s-auto-updater',
    });
    t.match(events[0]?.metadata.name, /^web\./);
  });
});
