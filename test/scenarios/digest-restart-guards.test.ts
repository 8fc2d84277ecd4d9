// Digest mode end to end, the loop guards and the other recreating controllers: a replacement that crash-loops or
// comes back on the old digest halts its workload; StatefulSet and DaemonSet pods are restarted in place.

import t from 'tap';
import type { PodBehaviour } from '../harness/kube-sim/controllers/index.ts';
import { daemonSet, deployment, statefulSet } from '../harness/kube-sim/fixtures.ts';
import type { KObject } from '../harness/kube-sim/store.ts';
import { pushImage } from '../harness/registry/index.ts';
import { jsonPods, startScenario } from './scenario.ts';

const always = { imagePullPolicy: 'Always' as const };

function outcomes(pods: Array<{ restart: { outcome: string } | null }>): string[] {
  // Sorted: the restarter's order within a workload (numeric name order) is not the report's order (by name).
  return pods.map((p) => p.restart?.outcome ?? '-').sort();
}

// biome-ignore lint/suspicious/noExplicitAny: the JSON document is checked field by field.
function withOutcome(pods: any[], outcome: string): any {
  return pods.find((p) => p.restart?.outcome === outcome);
}

t.test('when the new image crash-loops then the workload halts after one eviction, exit 1', async (t) => {
  // Pods started after `armed` crash-loop: the replacement of the first evicted pod, running the new image.
  const known = new Set<string>();
  const armed = { on: false };
  const behaviour = (pod: KObject): PodBehaviour | undefined => {
    const uid = pod.metadata.uid!;
    if (!armed.on) known.add(uid);
    return armed.on && !known.has(uid) ? { crashLoop: true } : undefined;
  };
  const s = await startScenario(t, { controllers: { behaviour, crashBackoffMs: 20 } });
  if (!s) return;
  await pushImage(s.registry, 'shop/crash', '1.0', { seed: 'crash-v1' });
  s.create(
    'Deployment',
    deployment('crash', s.ns, `${s.registry.host}/shop/crash:1.0`, { replicas: 3, container: always }),
  );
  await s.ready(3);
  const v2 = await pushImage(s.registry, 'shop/crash', '1.0', { seed: 'crash-v2' });
  const uids = s.uids();
  armed.on = true;

  const res = await s.run();
  t.equal(res.code, 1, res.stderr);
  t.same(outcomes(res.json.pods), ['replacement-crash-loop', 'workload-halted', 'workload-halted']);
  const first = withOutcome(res.json.pods, 'replacement-crash-loop');
  t.match(first.restart.message, /crash-loops/);
  t.ok(first.restart.replacement, 'the crash-looping replacement is named');
  t.match(withOutcome(res.json.pods, 'workload-halted').restart.message, /replacement-crash-loop/);
  t.same(res.json.summary, { pods: 3, current: 0, stale: 3, skipped: 0, restarted: 0, failed: 1 });
  t.equal(
    s.live().filter((p) => uids.includes(p.metadata.uid!)).length,
    2,
    'the other two pods were not touched',
  );
  const replacement = s.pod(first.restart.replacement);
  t.equal(s.digestOf(replacement!), v2.digest, 'the crash-looping replacement did pull the new digest');
  const halted = s.cluster.store.list('/events', s.ns).filter((e) => e.reason === 'ImageUpdateHalted');
  t.equal(halted.length, 1);
  t.equal(halted[0]?.involvedObject.kind, 'Deployment');
});

t.test(
  'when the replacement comes back on the old digest then the same-digest guard halts the workload, exit 1',
  async (t) => {
    // The kubelet resolves images synthetically here: the digest it reports is the one the test sets, as if the
    // node pulled through a mirror that still serves the old manifest. The updater asks the real registry.
    const s = await startScenario(t, { controllers: { imageSource: 'synthetic' } });
    if (!s) return;
    const v1 = await pushImage(s.registry, 'shop/mirror', '1.0', { seed: 'mirror-v1' });
    const image = `${s.registry.host}/shop/mirror:1.0`;
    s.cluster.controllers!.kubelet.setSyntheticImage(image, v1.digest);
    s.create('Deployment', deployment('mirror', s.ns, image, { replicas: 3, container: always }));
    await s.ready(3);
    t.ok(
      s.live().every((p) => s.digestOf(p) === v1.digest),
      'the pods report v1',
    );
    const v2 = await pushImage(s.registry, 'shop/mirror', '1.0', { seed: 'mirror-v2' });
    const uids = s.uids();

    const res = await s.run();
    t.equal(res.code, 1, res.stderr);
    t.same(outcomes(res.json.pods), ['replacement-same-digest', 'workload-halted', 'workload-halted']);
    const same = withOutcome(res.json.pods, 'replacement-same-digest');
    t.equal(same.containers[0].currentDigest, v2.digest, 'the registry said v2');
    t.match(same.restart.message, /still runs the old digest/);
    t.equal(res.json.summary.failed, 1);
    await s.ready(3);
    t.equal(s.live().filter((p) => uids.includes(p.metadata.uid!)).length, 2, 'only one pod was evicted');
    t.ok(
      s.live().every((p) => s.digestOf(p) === v1.digest),
      'the replacement runs v1 again',
    );
  },
);

t.test('when a StatefulSet and a DaemonSet tag moves then their pods are restarted in place', async (t) => {
  const s = await startScenario(t);
  if (!s) return;
  await pushImage(s.registry, 'shop/db', '1.0', { seed: 'db-v1' });
  await pushImage(s.registry, 'shop/agent', '1.0', { seed: 'agent-v1' });
  s.create(
    'StatefulSet',
    statefulSet('db', s.ns, `${s.registry.host}/shop/db:1.0`, { replicas: 2, container: always }),
  );
  s.create('DaemonSet', daemonSet('agent', s.ns, `${s.registry.host}/shop/agent:1.0`, { container: always }));
  await s.ready(4);
  const before = new Map(s.live().map((p) => [p.metadata.name!, p]));
  const db2 = await pushImage(s.registry, 'shop/db', '1.0', { seed: 'db-v2' });
  const agent2 = await pushImage(s.registry, 'shop/agent', '1.0', { seed: 'agent-v2' });

  const res = await s.run();
  t.equal(res.code, 0, res.stderr);
  t.equal(res.json.summary.restarted, 4);
  t.same(outcomes(jsonPods(res.json, 'db')), ['restarted', 'restarted']);
  t.same(outcomes(jsonPods(res.json, 'agent')), ['restarted', 'restarted']);
  t.same(
    jsonPods(res.json, 'db').map((p) => [p.name, p.restart.replacement]),
    [
      ['db-0', 'db-0'],
      ['db-1', 'db-1'],
    ],
    'a StatefulSet pod comes back under its own name',
  );
  for (const p of jsonPods(res.json, 'agent')) {
    t.equal(
      s.pod(p.restart.replacement)?.spec.nodeName,
      p.nodeName,
      `${p.name}'s replacement runs on the same node`,
    );
  }
  await s.ready(4);
  for (const p of s.live()) {
    const old = [...before.values()].find(
      (b) => b.metadata.name === p.metadata.name || p.metadata.name!.startsWith('agent-'),
    );
    t.ok(old, `${p.metadata.name} has a predecessor`);
    t.notOk(
      [...before.values()].some((b) => b.metadata.uid === p.metadata.uid),
      `${p.metadata.name} is a new pod`,
    );
    t.equal(s.digestOf(p), p.metadata.name!.startsWith('db-') ? db2.digest : agent2.digest);
  }
  const events = s.cluster.store.list('/events', s.ns).filter((e) => e.reason === 'ImageUpdated');
  t.same(
    [...new Set(events.map((e) => `${e.involvedObject.kind}/${e.involvedObject.name}`))].sort(),
    ['DaemonSet/agent', 'StatefulSet/db'],
    'events go on the workloads',
  );
});

t.test(
  'when the replacement never becomes Ready then the pod times out and the workload halts, exit 1',
  async (t) => {
    const known = new Set<string>();
    const armed = { on: false };
    const behaviour = (pod: KObject): PodBehaviour | undefined => {
      const uid = pod.metadata.uid!;
      if (!armed.on) known.add(uid);
      return armed.on && !known.has(uid) ? { neverReady: true } : undefined;
    };
    const s = await startScenario(t, { controllers: { behaviour } });
    if (!s) return;
    await pushImage(s.registry, 'shop/slow', '1.0', { seed: 'slow-v1' });
    s.create(
      'Deployment',
      deployment('slow', s.ns, `${s.registry.host}/shop/slow:1.0`, { replicas: 2, container: always }),
    );
    await s.ready(2);
    await pushImage(s.registry, 'shop/slow', '1.0', { seed: 'slow-v2' });
    const uids = s.uids();
    armed.on = true;

    const res = await s.run(['--pod-timeout', '1s']);
    t.equal(res.code, 1, res.stderr);
    t.same(outcomes(res.json.pods), ['replacement-timeout', 'workload-halted']);
    const timedOut = withOutcome(res.json.pods, 'replacement-timeout');
    t.match(timedOut.restart.message, /no Ready replacement within 1s/);
    t.match(timedOut.restart.message, /not Ready/, 'the unready replacement is named');
    t.equal(res.json.summary.failed, 1);
    t.equal(
      s.live().filter((p) => uids.includes(p.metadata.uid!)).length,
      1,
      'the other pod was not touched',
    );
  },
);
