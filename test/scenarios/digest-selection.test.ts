// Digest mode end to end, which pods a run looks at: --all-namespaces, --namespace-regex, repeated -n, label
// selectors with set operators, and how --opt-in and the opt-out annotation combine with them.

import t from 'tap';
import { deployment } from '../harness/kube-sim/fixtures.ts';
import { pushImage } from '../harness/registry/index.ts';
import { isReadyPod, runCli, type Scenario, startScenario } from './scenario.ts';

const ENABLED = 'k8s-auto-updater.io/enabled';
const NAMESPACES = ['shop', 'team-a', 'team-b', 'other'];

/** The scenario's base arguments without its `-n <ns>`. */
function unscoped(s: Scenario): string[] {
  const i = s.baseArgs.indexOf('-n');
  return [...s.baseArgs.slice(0, i), ...s.baseArgs.slice(i + 2)];
}

/** `namespace/deployment` of every pod with the given verdict. */
function selected(
  json: { pods: Array<{ namespace: string; name: string; verdict: string }> },
  verdict = 'stale',
) {
  return json.pods
    .filter((p) => p.verdict === verdict)
    .map((p) => `${p.namespace}/${p.name.split('-').slice(0, -2).join('-')}`)
    .sort();
}

t.test('selection of namespaces and pods', async (t) => {
  const s = await startScenario(t);
  if (!s) return;
  await pushImage(s.registry, 'shop/sel', '1.0', { seed: 'sel-v1' });
  const image = `${s.registry.host}/shop/sel:1.0`;
  for (const ns of NAMESPACES) {
    if (ns !== s.ns) {
      s.cluster.store.create('/namespaces', { metadata: { name: ns } });
      s.cluster.store.create('/serviceaccounts', { metadata: { name: 'default', namespace: ns } });
    }
    const mk = (name: string, labels: Record<string, string>, extra = {}) =>
      s.cluster.store.create(
        'apps/deployments',
        deployment(name, ns, image, { labels, container: { imagePullPolicy: 'Always' }, ...extra }),
      );
    mk('web', { app: 'web', tier: 'front', env: 'prod' });
    mk('api', { app: 'api', tier: 'back', env: 'dev' });
    mk('db', { app: 'db', tier: 'db', canary: 'yes' });
  }
  // team-b's api opted in; other's web opted out.
  s.cluster.store.mutate('apps/deployments', 'team-b', 'api', (d) => {
    d.metadata.annotations = { [ENABLED]: 'true' };
    return undefined;
  });
  s.cluster.store.mutate('apps/deployments', 'other', 'web', (d) => {
    d.metadata.annotations = { [ENABLED]: 'false' };
    return undefined;
  });
  await s.cluster.controllers!.waitFor((st) => {
    const pods = st.listRefs('/pods').filter((p) => !p.metadata.deletionTimestamp);
    return pods.length === 12 && pods.every(isReadyPod);
  });
  await pushImage(s.registry, 'shop/sel', '1.0', { seed: 'sel-v2' });
  const dry = (args: string[]) => runCli([...unscoped(s), '--dry-run', ...args]);
  const all = (names: string[]) => NAMESPACES.flatMap((ns) => names.map((n) => `${ns}/${n}`)).sort();

  await t.test('when --all-namespaces is given then every namespace is checked', async (t) => {
    const res = await dry(['--all-namespaces']);
    t.equal(res.code, 0, res.stderr);
    t.equal(res.json.summary.pods, 12);
    t.same(
      selected(res.json),
      all(['web', 'api', 'db']).filter((x) => x !== 'other/web'),
    );
    t.same(selected(res.json, 'skipped'), ['other/web'], 'the opt-out holds in every namespace');
  });

  await t.test('when --namespace-regex is given then it must match the whole name', async (t) => {
    const res = await dry(['--namespace-regex', 'team-.']);
    t.equal(res.code, 0, res.stderr);
    t.same(selected(res.json), [
      'team-a/api',
      'team-a/db',
      'team-a/web',
      'team-b/api',
      'team-b/db',
      'team-b/web',
    ]);
    const partial = await dry(['--namespace-regex', 'team']);
    t.equal(partial.code, 0, partial.stderr);
    t.equal(partial.json.summary.pods, 0, '"team" does not match "team-a": the regex is anchored');
    const env = await runCli([...unscoped(s), '--dry-run'], { AUTO_UPDATER_NAMESPACE_REGEX: 'shop|other' });
    t.same(
      [...new Set(env.json.pods.map((p: { namespace: string }) => p.namespace))].sort(),
      ['other', 'shop'],
      'the environment twin works the same',
    );
  });

  await t.test(
    'when -n is repeated or comma-separated then exactly those namespaces are checked',
    async (t) => {
      const repeated = await dry(['-n', 'team-a', '-n', 'other']);
      t.equal(repeated.code, 0, repeated.stderr);
      t.same([...new Set(repeated.json.pods.map((p: { namespace: string }) => p.namespace))].sort(), [
        'other',
        'team-a',
      ]);
      const comma = await dry(['--namespace', 'team-a,other']);
      t.same(
        comma.json.pods.map((p: { uid: string }) => p.uid).sort(),
        repeated.json.pods.map((p: { uid: string }) => p.uid).sort(),
      );
    },
  );

  await t.test('when --selector uses set operators then only matching pods are listed', async (t) => {
    const res = await dry(['-A', '--selector', 'app in (web,api),env notin (dev)']);
    t.equal(res.code, 0, res.stderr);
    t.same(
      selected(res.json),
      all(['web']).filter((x) => x !== 'other/web'),
    );
    t.equal(res.json.summary.pods, 4, 'summary.pods counts only selected pods');
    const exists = await dry(['-A', '-l', '!canary,tier!=front']);
    t.same(selected(exists.json), all(['api']));
    const bad = await dry(['-A', '-l', 'app in (web']);
    t.equal(bad.code, 2, 'a malformed selector is a configuration error');
    t.match(bad.stderr, /--selector: .*not a valid label selector/);
  });

  await t.test(
    'when --opt-in combines with a selector then both must hold, and false still wins',
    async (t) => {
      const res = await dry(['-A', '--opt-in', '-l', 'app in (api,web)']);
      t.equal(res.code, 0, res.stderr);
      t.same(selected(res.json), ['team-b/api'], 'selected and opted in');
      t.equal(res.json.summary.pods, 8);
      const reasons = res.json.pods.map((p: { reason: string }) => p.reason);
      t.equal(reasons.filter((r: string) => r === 'not-opted-in').length, 6);
      t.equal(reasons.filter((r: string) => r === 'opted-out').length, 1, 'other/web stays opted out');
    },
  );

  await t.test('when a real run is scoped then pods outside the scope are untouched', async (t) => {
    const before = new Map(
      s.cluster.store.list('/pods').map((p) => [p.metadata.uid!, p.metadata.namespace!]),
    );
    const res = await runCli([...unscoped(s), '-n', 'team-a', '-l', 'tier=front']);
    t.equal(res.code, 0, res.stderr);
    t.equal(res.json.summary.restarted, 1);
    await s.cluster.controllers!.waitFor((st) => {
      const pods = st.listRefs('/pods');
      return pods.length === 12 && pods.every((p) => !p.metadata.deletionTimestamp && isReadyPod(p));
    });
    const gone = [...before.keys()].filter(
      (uid) => !s.cluster.store.list('/pods').some((p) => p.metadata.uid === uid),
    );
    t.equal(gone.length, 1, 'exactly one pod was replaced');
    t.equal(before.get(gone[0]!), 'team-a');
    t.equal(res.json.pods[0].name.split('-')[0], 'web');
  });
});
