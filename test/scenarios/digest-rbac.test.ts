// Digest mode end to end under least privilege: the updater runs as a ServiceAccount bound to exactly the
// digest-mode rules (REFERENCE.md §3 plus apps get for the owner chain), and the chart's rendered Role agrees.

import t from 'tap';
import { helmRunner } from '../chart/helm.ts';
import { deployment, pullSecret } from '../harness/kube-sim/fixtures.ts';
import type { KObject } from '../harness/kube-sim/store.ts';
import { pushImage } from '../harness/registry/index.ts';
import { requireBin } from '../harness/require-bin.ts';
import { runCli, type Scenario, startScenario } from './scenario.ts';

interface Rule {
  apiGroups: string[];
  resources: string[];
  verbs: string[];
  resourceNames?: string[];
}

/** REFERENCE.md §3's digest-mode rules, plus `get` on the apps workloads for the owner chain and opt-outs. */
const REFERENCE_RULES: Rule[] = [
  { apiGroups: [''], resources: ['pods'], verbs: ['get', 'list'] },
  { apiGroups: [''], resources: ['pods/eviction'], verbs: ['create'] },
  { apiGroups: [''], resources: ['events'], verbs: ['create'] },
  { apiGroups: [''], resources: ['secrets'], verbs: ['get'], resourceNames: ['regcred'] },
  { apiGroups: [''], resources: ['serviceaccounts'], verbs: ['get'] },
  { apiGroups: ['policy'], resources: ['poddisruptionbudgets'], verbs: ['list'] },
  {
    apiGroups: ['apps'],
    resources: ['replicasets', 'deployments', 'statefulsets', 'daemonsets'],
    verbs: ['get'],
  },
];

/** Binds `rules` to ServiceAccount `sa` in the scenario's namespace; returns a kubeconfig for its token. */
function bindServiceAccount(s: Scenario, sa: string, role: KObject): string {
  s.create('ServiceAccount', { metadata: { name: sa } });
  s.create('Role', role);
  s.create('RoleBinding', {
    metadata: { name: role.metadata.name },
    roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: role.metadata.name },
    subjects: [{ kind: 'ServiceAccount', name: sa, namespace: s.ns }],
  });
  return s.cluster.kubeconfig({ token: s.cluster.serviceAccountToken(s.ns, sa), namespace: s.ns });
}

async function staleWeb(s: Scenario, replicas: number): Promise<string> {
  s.create('Secret', pullSecret('regcred', s.ns, s.registry.host, 'nobody', 'unused'));
  await pushImage(s.registry, 'shop/web', '1.0', { seed: 'rbac-v1' });
  s.create(
    'Deployment',
    deployment('web', s.ns, `${s.registry.host}/shop/web:1.0`, {
      replicas,
      container: { imagePullPolicy: 'Always' },
      imagePullSecrets: ['regcred'],
    }),
  );
  await s.ready(replicas);
  return (await pushImage(s.registry, 'shop/web', '1.0', { seed: 'rbac-v2' })).digest;
}

t.test('when the updater has exactly the digest-mode rules then it restarts a stale pod', async (t) => {
  const s = await startScenario(t);
  if (!s) return;
  const v2 = await staleWeb(s, 1);
  const kubeconfig = bindServiceAccount(s, 'updater', {
    metadata: { name: 'updater' },
    rules: REFERENCE_RULES,
  } as KObject);
  const uids = s.uids();

  const res = await s.run(['--kubeconfig', kubeconfig, '--log-level', 'debug']);
  t.equal(res.code, 0, res.stderr);
  t.equal(res.json.summary.restarted, 1);
  t.same(res.json.warnings, [], 'no object was unreadable');
  t.equal(res.json.pods[0].workload.kind, 'Deployment', 'the owner chain was readable');
  t.notMatch(
    res.stderr,
    /serviceaccounts? .*(not found|forbidden)|secrets? .*forbidden/i,
    'pull secrets readable',
  );
  t.match(res.stderr, /cannot watch[^\n]*polling instead/, 'without watch (not in §3) the restarter polls');
  await s.ready(1);
  t.not(s.uids()[0], uids[0]);
  t.equal(s.digestOf(s.live()[0]!), v2);
  t.equal(
    s.cluster.store.list('/events', s.ns).filter((e) => e.reason === 'ImageUpdated').length,
    1,
    'the event was recorded',
  );

  await t.test(
    'when pods/eviction is taken away then the eviction fails (403) and the pod stays',
    async (t) => {
      await pushImage(s.registry, 'shop/web', '1.0', { seed: 'rbac-v3' });
      s.cluster.store.update('rbac.authorization.k8s.io/roles', {
        metadata: { name: 'updater', namespace: s.ns },
        rules: REFERENCE_RULES.filter((r) => !r.resources.includes('pods/eviction')),
      } as KObject);
      const before = s.uids();
      const res = await s.run(['--kubeconfig', kubeconfig]);
      t.equal(res.code, 1, res.stderr);
      t.equal(res.json.pods[0].verdict, 'stale');
      t.equal(res.json.pods[0].restart.outcome, 'eviction-failed');
      t.match(res.json.pods[0].restart.message, /403/);
      t.match(res.json.pods[0].restart.message, /pods\/eviction/, 'the message names the missing permission');
      t.equal(res.json.summary.failed, 1);
      t.same(s.uids(), before, 'the pod was not touched');
    },
  );

  await t.test('when events cannot be created then the restart still succeeds', async (t) => {
    s.cluster.store.update('rbac.authorization.k8s.io/roles', {
      metadata: { name: 'updater', namespace: s.ns },
      rules: REFERENCE_RULES.filter((r) => !r.resources.includes('events')),
    } as KObject);
    const before = s.uids();
    const events = s.cluster.store.list('/events', s.ns).length;
    const res = await s.run(['--kubeconfig', kubeconfig]);
    t.equal(res.code, 0, res.stderr);
    t.equal(res.json.summary.restarted, 1, 'an Event is a courtesy, not a condition');
    t.match(res.stderr, /event/i, 'the missing permission is logged');
    t.equal(s.cluster.store.list('/events', s.ns).length, events, 'no event was written');
    await s.ready(1);
    t.not(s.uids()[0], before[0]);
  });

  await t.test(
    'when a namespaced Role meets --all-namespaces then the run fails naming the cluster-scope list',
    async (t) => {
      const i = s.baseArgs.indexOf('-n');
      const args = [...s.baseArgs.slice(0, i), ...s.baseArgs.slice(i + 2)];
      const res = await runCli([...args, '--kubeconfig', kubeconfig, '-A']);
      t.equal(res.code, 1, 'an API refusal is a runtime failure');
      t.match(res.stderr, /cannot list resource \\?"pods\\?" .*at the cluster scope/);
      const doc = JSON.parse(res.stdout);
      t.match(doc, { kind: 'RunResult', exitCode: 1, error: /list pods in all namespaces failed: HTTP 403/ });
      t.same(doc.pods ?? [], [], 'the document says the run failed and holds no pod it did not see');
    },
  );

  await t.test('when the workloads cannot be read then the pods are kept as owner-unreadable', async (t) => {
    await pushImage(s.registry, 'shop/web', '1.0', { seed: 'rbac-v4' });
    s.cluster.store.update('rbac.authorization.k8s.io/roles', {
      metadata: { name: 'updater', namespace: s.ns },
      rules: REFERENCE_RULES.filter((r) => !r.apiGroups.includes('apps')),
    } as KObject);
    const before = s.uids();
    const res = await s.run(['--kubeconfig', kubeconfig]);
    t.equal(res.json.pods[0].verdict, 'skipped');
    t.equal(res.json.pods[0].reason, 'owner-unreadable', 'its opt-out is unknown, so it is kept');
    t.match(res.json.warnings.join('\n'), /cannot read ReplicaSet .*403/);
    t.equal(res.code, 1, 'a partial run: the API refused to show the workload');
    t.equal(res.json.exitCode, 1);
    t.same(s.uids(), before, 'the pod was not touched');
  });
});

t.test("the chart's Role grants the digest-mode rules, and works as rendered", async (t) => {
  const helmPath = requireBin(t, 'helm');
  if (!helmPath) return;
  const s = await startScenario(t);
  if (!s) return;
  const helm = helmRunner(helmPath);
  t.teardown(() => helm.cleanup());
  const objects = helm.template(
    { schedule: '*/15 * * * *', rbac: { secretNames: ['regcred'] } },
    { namespace: s.ns, release: 'upd' },
  );
  const role = objects.find((o) => o.kind === 'Role');
  const binding = objects.find((o) => o.kind === 'RoleBinding');
  t.ok(role && binding, 'a Role and a RoleBinding are rendered for scope namespace');
  if (!role || !binding) return;
  const rules: Rule[] = role.rules;

  const grants = (group: string, resource: string, verb: string, name?: string) =>
    rules.some(
      (r) =>
        r.apiGroups.includes(group) &&
        r.resources.includes(resource) &&
        r.verbs.includes(verb) &&
        (!r.resourceNames?.length || (name !== undefined && r.resourceNames.includes(name))),
    );
  for (const r of REFERENCE_RULES) {
    for (const res of r.resources) {
      for (const verb of r.verbs) {
        t.ok(grants(r.apiGroups[0]!, res, verb, r.resourceNames?.[0]), `chart grants ${verb} ${res}`);
      }
    }
  }
  // What the chart grants beyond REFERENCE.md §3, each for a reason: watching for the replacement (the restarter
  // falls back to polling without it) and the ReplicationController owner chain.
  const extras: string[] = [];
  for (const r of rules) {
    for (const res of r.resources) {
      for (const verb of r.verbs) {
        const inRef = REFERENCE_RULES.some(
          (x) => x.apiGroups.includes(r.apiGroups[0]!) && x.resources.includes(res) && x.verbs.includes(verb),
        );
        if (!inRef) extras.push(`${verb} ${r.apiGroups[0] || 'core'}/${res}`);
      }
    }
  }
  t.same(
    extras.sort(),
    ['get core/replicationcontrollers', 'watch core/pods'],
    'the known extras, nothing else',
  );
  t.notOk(
    rules.some((r) => r.verbs.includes('delete') || r.verbs.includes('*')),
    'the chart never grants delete',
  );

  const v2 = await staleWeb(s, 1);
  const sa = binding.subjects[0].name as string;
  role.metadata.namespace = s.ns;
  binding.metadata.namespace = s.ns;
  s.create('ServiceAccount', { metadata: { name: sa } });
  s.create('Role', role as KObject);
  s.create('RoleBinding', binding as KObject);
  const kubeconfig = s.cluster.kubeconfig({
    token: s.cluster.serviceAccountToken(s.ns, sa),
    namespace: s.ns,
  });
  const res = await s.run(['--kubeconfig', kubeconfig]);
  t.equal(res.code, 0, res.stderr);
  t.equal(res.json.summary.restarted, 1);
  t.same(res.json.warnings, []);
  await s.ready(1);
  t.equal(s.digestOf(s.live()[0]!), v2);
});
