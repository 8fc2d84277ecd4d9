// Integration: the Kubernetes access layer (the lean REST client) and the restarter, over HTTPS,
// against the API simulator (test/harness/kube-sim).

import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { V1Pod } from '@kubernetes/client-node';
import t, { type Test } from 'tap';
import { evictPod } from '../../lib/apply/eviction.ts';
import { applyPlan, restarterDeps } from '../../lib/apply/restarter.ts';
import { runningDigest } from '../../lib/image/image-id.ts';
import { createClients } from '../../lib/kube/api.ts';
import { loadKubeConfig } from '../../lib/kube/config.ts';
import { recordEvent } from '../../lib/kube/events.ts';
import { listPods } from '../../lib/kube/pods.ts';
import { PullSecretSource } from '../../lib/kube/pull-secrets.ts';
import { resolveWorkloads } from '../../lib/kube/workloads.ts';
import type { PodPlan } from '../../lib/model/plan.ts';
import { silentLogger } from '../../lib/shared/log.ts';
import type { PodBehaviour } from '../harness/kube-sim/controllers/index.ts';
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
      const { core } = createClients(loaded);
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
      const { core } = createClients(loadKubeConfig({ kubeconfig: c.kubeconfigPath, env: {} }));
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
    const { core } = createClients(loadKubeConfig({ kubeconfig: c.kubeconfigPath, env: {} }));
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
    const { core } = createClients(loadKubeConfig({ kubeconfig: c.kubeconfigPath, env: {} }));
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
      const { core } = createClients(loaded);
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
      const { core } = createClients(loadKubeConfig({ kubeconfig: c.kubeconfigPath, env: {} }));
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
    const { core } = createClients(loadKubeConfig({ kubeconfig: c.kubeconfigPath, env: {} }));
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

const IMAGE = 'registry.example/team/app:latest';
const OLD = `sha256:${'a'.repeat(64)}`;
const NEW = `sha256:${'b'.repeat(64)}`;

interface Sim {
  c: Cluster;
  kubelet: NonNullable<Cluster['controllers']>['kubelet'];
  settle(predicate: (c: Cluster) => boolean, what: string): Promise<void>;
  /** Pods whose uid is in this set crash-loop (the controllers' behaviour hook). */
  crashing: Set<string>;
  crashNew: { on: boolean };
  known: Set<string>;
}

async function simCluster(t: Test): Promise<Sim> {
  const crashing = new Set<string>();
  const crashNew = { on: false };
  const known = new Set<string>();
  const c = await startCluster({
    bookmarkIntervalMs: 1000,
    controllers: {
      nodes: ['node-a', 'node-b', 'node-c'],
      behaviour: (pod: KObject): PodBehaviour | undefined => {
        const uid = pod.metadata.uid as string;
        if (crashNew.on && !known.has(uid)) crashing.add(uid);
        return crashing.has(uid) ? { crashLoop: true } : undefined;
      },
    },
  });
  t.teardown(() => c.stop());
  const controllers = c.controllers;
  if (!controllers) throw new Error('the simulator started without controllers');
  c.store.create('/namespaces', { metadata: { name: NS } });
  return {
    c,
    kubelet: controllers.kubelet,
    crashing,
    crashNew,
    known,
    settle: (predicate, what) =>
      controllers
        .settle(() => predicate(c), 15_000)
        .catch((e: unknown) => {
          throw new Error(`${what}: ${(e as Error).message}`);
        }),
  };
}

const isReady = (p: KObject) =>
  (p.status?.conditions ?? []).some(
    (x: { type: string; status: string }) => x.type === 'Ready' && x.status === 'True',
  );
const livePods = (c: Cluster, app: string) =>
  c.store.list('/pods', NS).filter((p) => p.metadata.labels?.app === app && !p.metadata.deletionTimestamp);
const readyCount = (c: Cluster, app: string) => livePods(c, app).filter(isReady).length;

function template(app: string) {
  return {
    metadata: { labels: { app } },
    spec: {
      containers: [{ name: 'app', image: IMAGE, imagePullPolicy: 'Always' }],
      terminationGracePeriodSeconds: 1,
    },
  };
}

function deployment(name: string, replicas: number): KObject {
  return {
    metadata: { name, namespace: NS },
    spec: { replicas, selector: { matchLabels: { app: name } }, template: template(name) },
  };
}

/** Builds the plan the planner would: each listed pod stale, running OLD, the tag now on NEW. */
async function stalePlans(sim: Sim, app: string): Promise<PodPlan[]> {
  const { core, apps } = createClients(loadKubeConfig({ kubeconfig: sim.c.kubeconfigPath, env: {} }));
  const pods: V1Pod[] = await listPods(core, { namespaces: [NS], labelSelector: `app=${app}` });
  const { refs } = await resolveWorkloads(pods, apps);
  // Name order is the restarter's own order, so results[0] is the first pod it evicts.
  pods.sort((a, b) =>
    (a.metadata?.name ?? '').localeCompare(b.metadata?.name ?? '', 'en', { numeric: true }),
  );
  return Promise.all(
    pods.map(async (p) => {
      const status = p.status?.containerStatuses?.find((s) => s.name === 'app');
      const workload = refs.get(p.metadata?.uid ?? '');
      return {
        namespace: NS,
        name: p.metadata?.name as string,
        uid: p.metadata?.uid as string,
        nodeName: p.spec?.nodeName,
        verdict: 'stale',
        reason: 'digest-changed',
        message: 'the tag moved',
        ...(workload ? { workload } : {}),
        containers: [
          {
            name: 'app',
            init: false,
            image: IMAGE,
            verdict: 'stale',
            reason: 'digest-changed',
            message: 'the tag moved',
            runningDigest: runningDigest(status?.imageID ?? ''),
            currentDigest: NEW,
            acceptedDigests: [NEW],
          },
        ],
      } satisfies PodPlan;
    }),
  );
}

function deps(sim: Sim) {
  const clients = createClients(loadKubeConfig({ kubeconfig: sim.c.kubeconfigPath, env: {} }));
  return restarterDeps(clients, silentLogger());
}

const fast = { podTimeoutMs: 15_000, evictionTimeoutMs: 2_000, evictionRetryMs: 200, pollIntervalMs: 200 };

/** Starts a Deployment on OLD and waits until all its pods are Ready. */
async function runningDeployment(sim: Sim, name: string, replicas: number): Promise<void> {
  sim.kubelet.setSyntheticImage(IMAGE, OLD);
  sim.c.store.create('apps/deployments', deployment(name, replicas));
  await sim.settle((c) => readyCount(c, name) === replicas, `${name} did not become Ready`);
  for (const p of livePods(sim.c, name)) sim.known.add(p.metadata.uid as string);
}

t.test('restarts through the real client against the simulated controllers', async (t) => {
  t.test(
    'when a 3-replica Deployment is stale then its pods are replaced one at a time on the new digest',
    async (t) => {
      const sim = await simCluster(t);
      await runningDeployment(sim, 'web', 3);
      const plans = await stalePlans(sim, 'web');
      t.equal(plans.length, 3);
      t.ok(
        plans.every((p) => p.containers[0]?.runningDigest === OLD),
        'the kubelet reported the old digest',
      );
      t.ok(plans.every((p) => p.workload?.top?.kind === 'Deployment' && p.workload.top.name === 'web'));

      let minReady = 3;
      const watchReady = () => {
        minReady = Math.min(minReady, readyCount(sim.c, 'web'));
      };
      sim.c.store.on('event', watchReady);
      t.teardown(() => sim.c.store.off('event', watchReady));

      sim.kubelet.setSyntheticImage(IMAGE, NEW);
      const results = await applyPlan(plans, deps(sim), fast);
      t.same(
        results.map((r) => r.outcome),
        ['restarted', 'restarted', 'restarted'],
        results.map((r) => r.message).join('\n'),
      );
      t.equal(minReady, 2, 'never more than one pod of the Deployment down');
      const names = new Set(results.map((r) => r.replacement));
      t.equal(names.size, 3, 'three distinct replacements');

      const now = livePods(sim.c, 'web');
      t.equal(now.length, 3);
      for (const p of now) {
        t.notOk(sim.known.has(p.metadata.uid as string), `${p.metadata.name} is a new pod`);
        t.match(p.status?.containerStatuses?.[0]?.imageID, NEW);
      }
      const events = sim.c.store.list('/events', NS).filter((e) => e.reason === 'ImageUpdated');
      t.equal(events.length, 3);
      t.match(events[0], {
        involvedObject: { kind: 'Deployment', name: 'web' },
        message: /sha256:aaaaaaaaaaaa → sha256:bbbbbbbbbbbb/,
      });
    },
  );

  t.test(
    'when a PDB allows no disruption then the pod is pdb-blocked and the Deployment is untouched',
    async (t) => {
      const sim = await simCluster(t);
      await runningDeployment(sim, 'web', 3);
      sim.c.store.create('policy/poddisruptionbudgets', {
        metadata: { name: 'web', namespace: NS },
        spec: { minAvailable: 3, selector: { matchLabels: { app: 'web' } } },
      });
      await sim.settle(
        (c) => c.store.get('policy/poddisruptionbudgets', NS, 'web')?.status?.observedGeneration === 1,
        'PDB status never computed',
      );
      t.equal(sim.c.store.get('policy/poddisruptionbudgets', NS, 'web')?.status?.disruptionsAllowed, 0);
      const plans = await stalePlans(sim, 'web');
      sim.kubelet.setSyntheticImage(IMAGE, NEW);
      const results = await applyPlan(plans, deps(sim), fast);
      t.same(
        results.map((r) => r.outcome),
        ['pdb-blocked', 'workload-halted', 'workload-halted'],
      );
      t.match(results[0]?.message, /disruption budget web needs 3 healthy pods and has 3 currently/);
      t.same(
        new Set(livePods(sim.c, 'web').map((p) => p.metadata.uid)),
        sim.known,
        'the same three pods still run',
      );
      const halted = sim.c.store.list('/events', NS).filter((e) => e.reason === 'ImageUpdateHalted');
      t.match(halted, [{ type: 'Warning', involvedObject: { kind: 'Deployment', name: 'web' } }]);
    },
  );

  t.test(
    'when the node keeps serving the old digest then the loop guard halts after one eviction',
    async (t) => {
      const sim = await simCluster(t);
      await runningDeployment(sim, 'web', 3);
      const plans = await stalePlans(sim, 'web');
      // The plan expects NEW, but the "registry" still serves OLD: the replacement comes back on the old digest.
      const results = await applyPlan(plans, deps(sim), fast);
      t.same(
        results.map((r) => r.outcome),
        ['replacement-same-digest', 'workload-halted', 'workload-halted'],
      );
      t.equal(
        livePods(sim.c, 'web').filter((p) => !sim.known.has(p.metadata.uid as string)).length,
        1,
        'one pod replaced, two untouched',
      );
    },
  );

  t.test('when the replacement crash-loops then the workload halts after one eviction', async (t) => {
    const sim = await simCluster(t);
    await runningDeployment(sim, 'web', 2);
    const plans = await stalePlans(sim, 'web');
    sim.kubelet.setSyntheticImage(IMAGE, NEW);
    sim.crashNew.on = true;
    const results = await applyPlan(plans, deps(sim), fast);
    t.same(
      results.map((r) => r.outcome),
      ['replacement-crash-loop', 'workload-halted'],
    );
    t.match(results[0]?.message, /crash-loops/);
  });

  t.test(
    'when a StatefulSet is stale then each pod comes back under its own name with a new uid',
    async (t) => {
      const sim = await simCluster(t);
      sim.kubelet.setSyntheticImage(IMAGE, OLD);
      sim.c.store.create('apps/statefulsets', {
        metadata: { name: 'db', namespace: NS },
        spec: {
          replicas: 2,
          serviceName: 'db',
          selector: { matchLabels: { app: 'db' } },
          template: template('db'),
        },
      });
      await sim.settle((c) => readyCount(c, 'db') === 2, 'db did not become Ready');
      const plans = await stalePlans(sim, 'db');
      sim.kubelet.setSyntheticImage(IMAGE, NEW);
      const results = await applyPlan(plans, deps(sim), fast);
      t.same(
        results.map((r) => [r.name, r.outcome, r.replacement]),
        [
          ['db-0', 'restarted', 'db-0'],
          ['db-1', 'restarted', 'db-1'],
        ],
      );
    },
  );

  t.test('when a DaemonSet is stale then each replacement is the new pod on the same node', async (t) => {
    const sim = await simCluster(t);
    sim.kubelet.setSyntheticImage(IMAGE, OLD);
    sim.c.store.create('apps/daemonsets', {
      metadata: { name: 'agent', namespace: NS },
      spec: { selector: { matchLabels: { app: 'agent' } }, template: template('agent') },
    });
    await sim.settle((c) => readyCount(c, 'agent') === 3, 'agent did not become Ready on the three nodes');
    const plans = await stalePlans(sim, 'agent');
    sim.kubelet.setSyntheticImage(IMAGE, NEW);
    const d = deps(sim);
    const realWatch = d.watchPods;
    let watchEvents = 0;
    if (realWatch) {
      d.watchPods = (ns, query, onEvent, onDone) =>
        realWatch(
          ns,
          query,
          (type, p) => {
            watchEvents++;
            onEvent(type, p);
          },
          onDone,
        );
    }
    const results = await applyPlan(plans, d, fast);
    t.ok(watchEvents > 0, 'the replacement was followed through a real watch');
    t.same(
      results.map((r) => r.outcome),
      ['restarted', 'restarted', 'restarted'],
    );
    for (const [i, r] of results.entries()) {
      const replacement = sim.c.store.get('/pods', NS, r.replacement as string);
      t.equal(
        replacement?.spec?.nodeName,
        plans[i]?.nodeName,
        `${r.replacement} runs on ${plans[i]?.nodeName}`,
      );
    }
  });
});
