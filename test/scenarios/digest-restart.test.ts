// Digest mode end to end, restart safety: PodDisruptionBudgets (blocking, allowing one, two budgets),
// --max-restarts, and an interruption (SIGTERM) after the first eviction.

import { Writable } from 'node:stream';
import t from 'tap';
import { runUpdater } from '../../lib/cli/run.ts';
import { mergeOptions, toRunConfig } from '../../lib/config/config.ts';
import { createLogger } from '../../lib/shared/log.ts';
import { deployment, pdb } from '../harness/kube-sim/fixtures.ts';
import type { KObject, StoreEvent } from '../harness/kube-sim/store.ts';
import { pushImage } from '../harness/registry/index.ts';
import { isReadyPod, type Scenario, startScenario } from './scenario.ts';

const always = { imagePullPolicy: 'Always' as const };

/** A Deployment of `replicas` pods on v1, Ready; then the tag moves. Returns the new digest. */
async function staleDeployment(s: Scenario, name: string, replicas: number): Promise<string> {
  await pushImage(s.registry, `shop/${name}`, '1.0', { seed: `${name}-v1` });
  s.create(
    'Deployment',
    deployment(name, s.ns, `${s.registry.host}/shop/${name}:1.0`, { replicas, container: always }),
  );
  await s.ready(replicas);
  return (await pushImage(s.registry, `shop/${name}`, '1.0', { seed: `${name}-v2` })).digest;
}

/** Waits until the disruption controller has observed every budget in the namespace. */
async function budgetsObserved(s: Scenario, count: number): Promise<void> {
  await s.cluster.controllers!.waitFor(
    (st) =>
      st
        .listRefs('policy/poddisruptionbudgets', s.ns)
        .filter((b) => b.status?.observedGeneration === b.metadata.generation && b.status?.expectedPods === 3)
        .length === count,
  );
}

function outcomes(json: { pods: Array<{ restart: { outcome: string } | null }> }): string[] {
  // Sorted: the restarter's order within a workload (numeric name order) is not the report's order (by name).
  return json.pods.map((p) => p.restart?.outcome ?? '-').sort();
}

// biome-ignore lint/suspicious/noExplicitAny: the JSON document is checked field by field.
function withOutcome(json: any, outcome: string): any {
  // biome-ignore lint/suspicious/noExplicitAny: as above.
  return json.pods.find((p: any) => p.restart?.outcome === outcome);
}

t.test(
  'when a PodDisruptionBudget allows no disruption then the eviction is pdb-blocked, exit 1',
  async (t) => {
    const s = await startScenario(t);
    if (!s) return;
    await staleDeployment(s, 'web', 3);
    s.create('PodDisruptionBudget', pdb('web', s.ns, { app: 'web' }, { minAvailable: 3 }));
    await budgetsObserved(s, 1);
    const uids = s.uids();

    const res = await s.run(['--eviction-timeout', '2s']);
    t.equal(res.code, 1, res.stderr);
    t.equal(res.json.exitCode, 1);
    t.same(outcomes(res.json), ['pdb-blocked', 'workload-halted', 'workload-halted']);
    t.match(withOutcome(res.json, 'pdb-blocked')?.restart.message, /still refused/);
    t.same(res.json.summary, { pods: 3, current: 0, stale: 3, skipped: 0, restarted: 0, failed: 1 });
    t.same(s.uids(), uids, 'no pod was deleted');
    t.notOk(
      s.pods().some((p) => p.metadata.deletionTimestamp),
      'none is terminating either',
    );
    const halted = s.cluster.store.list('/events', s.ns).filter((e) => e.reason === 'ImageUpdateHalted');
    t.equal(halted.length, 1, 'a Warning event says the workload was halted');
    t.equal(halted[0]?.type, 'Warning');
  },
);

t.test(
  'when a PodDisruptionBudget allows one disruption then every pod is restarted one at a time',
  async (t) => {
    const s = await startScenario(t);
    if (!s) return;
    const v2 = await staleDeployment(s, 'web', 3);
    s.create('PodDisruptionBudget', pdb('web', s.ns, { app: 'web' }, { maxUnavailable: 1 }));
    await budgetsObserved(s, 1);
    const uids = s.uids();

    // At every eviction, every other pod of the Deployment must be Ready: never two down at once.
    const readyOthersAtEviction: number[] = [];
    const evicted = new Set<string>();
    const onEvent = (ev: StoreEvent) => {
      const uid = ev.object.metadata.uid!;
      if (ev.key !== '/pods' || !ev.object.metadata.deletionTimestamp || !uids.includes(uid)) return;
      if (evicted.has(uid)) return;
      evicted.add(uid);
      const others = s.pods().filter((p: KObject) => p.metadata.uid !== uid && !p.metadata.deletionTimestamp);
      readyOthersAtEviction.push(others.filter(isReadyPod).length);
    };
    s.cluster.store.on('event', onEvent);
    t.teardown(() => s.cluster.store.off('event', onEvent));

    const res = await s.run(['--eviction-timeout', '15s']);
    t.equal(res.code, 0, res.stderr);
    t.same(outcomes(res.json), ['restarted', 'restarted', 'restarted']);
    t.same(readyOthersAtEviction, [2, 2, 2], 'each eviction waited for the previous replacement to be Ready');
    await s.ready(3);
    t.notOk(
      s.uids().some((u) => uids.includes(u)),
      'all three replaced',
    );
    t.ok(s.live().every((p) => s.digestOf(p) === v2));
  },
);

t.test('when two PodDisruptionBudgets select a pod then its eviction fails (500), exit 1', async (t) => {
  const s = await startScenario(t);
  if (!s) return;
  await staleDeployment(s, 'web', 3);
  s.create('PodDisruptionBudget', pdb('web-a', s.ns, { app: 'web' }, { maxUnavailable: 1 }));
  s.create('PodDisruptionBudget', pdb('web-b', s.ns, { app: 'web' }, { maxUnavailable: 1 }));
  await budgetsObserved(s, 2);
  const uids = s.uids();

  const res = await s.run(['--eviction-timeout', '2s']);
  t.equal(res.code, 1, res.stderr);
  t.same(outcomes(res.json), ['eviction-failed', 'workload-halted', 'workload-halted']);
  t.match(withOutcome(res.json, 'eviction-failed')?.restart.message, /HTTP 500/);
  t.match(withOutcome(res.json, 'workload-halted')?.restart.message, /eviction-failed/);
  t.equal(res.json.summary.failed, 1);
  t.same(s.uids(), uids, 'no pod was deleted');
});

t.test(
  'when --max-restarts 1 is given then one pod is restarted and the rest are left, exit 0',
  async (t) => {
    const s = await startScenario(t);
    if (!s) return;
    const v2 = await staleDeployment(s, 'web', 3);
    const uids = s.uids();

    const res = await s.run(['--max-restarts', '1']);
    t.equal(res.code, 0, res.stderr);
    t.same(outcomes(res.json), ['max-restarts', 'max-restarts', 'restarted']);
    t.equal(res.json.summary.restarted, 1);
    t.equal(res.json.summary.failed, 0);
    await s.ready(3);
    const kept = s.live().filter((p) => uids.includes(p.metadata.uid!));
    t.equal(kept.length, 2, 'two original pods remain');
    t.equal(s.live().filter((p) => s.digestOf(p) === v2).length, 1, 'one pod runs the new digest');
  },
);

t.test('when --max-restarts caps a run over several workloads then it is never overshot', async (t) => {
  const s = await startScenario(t);
  if (!s) return;
  for (const name of ['one', 'two', 'three']) {
    await pushImage(s.registry, `shop/${name}`, '1.0', { seed: `${name}-v1` });
    s.create(
      'Deployment',
      deployment(name, s.ns, `${s.registry.host}/shop/${name}:1.0`, { container: always }),
    );
  }
  await s.ready(3);
  for (const name of ['one', 'two', 'three']) {
    await pushImage(s.registry, `shop/${name}`, '1.0', { seed: `${name}-v2` });
  }
  const res = await s.run(['--max-restarts', '2', '--parallel-workloads', '3']);
  t.equal(res.code, 0, res.stderr);
  t.same(outcomes(res.json), ['max-restarts', 'restarted', 'restarted'], 'parallel workloads share the cap');
});

t.test(
  'when the run is interrupted after the first eviction then the rest are interrupted, exit 1',
  async (t) => {
    const s = await startScenario(t);
    if (!s) return;
    const v2 = await staleDeployment(s, 'web', 3);
    const uids = s.uids();
    const ac = new AbortController();
    const onEvent = (ev: StoreEvent) => {
      if (
        ev.key === '/pods' &&
        ev.object.metadata.deletionTimestamp &&
        uids.includes(ev.object.metadata.uid!)
      ) {
        ac.abort(new Error('received SIGTERM'));
      }
    };
    s.cluster.store.on('event', onEvent);
    t.teardown(() => s.cluster.store.off('event', onEvent));

    const config = toRunConfig(
      mergeOptions(
        'run',
        {
          kubeconfig: s.cluster.kubeconfigPath,
          namespace: [s.ns],
          insecureRegistry: [s.registry.host],
          output: 'json',
          podTimeout: '20s',
        },
        {},
      ),
    );
    const chunks: Buffer[] = [];
    const stdout = new Writable({
      write(c, _e, cb) {
        chunks.push(Buffer.from(c));
        cb();
      },
    });
    const logs: Buffer[] = [];
    const logger = await createLogger({
      level: 'info',
      format: 'json',
      stream: new Writable({
        write(c, _e, cb) {
          logs.push(Buffer.from(c));
          cb();
        },
      }),
    });
    const code = await runUpdater(config, { logger, env: {}, stdout, signal: ac.signal });
    t.ok(ac.signal.aborted, 'the signal fired at the first eviction');
    t.equal(code, 1);
    const json = JSON.parse(Buffer.concat(chunks).toString('utf8'));
    t.same(
      outcomes(json),
      ['interrupted', 'interrupted', 'restarted'],
      'the evicted pod still gets its replacement check',
    );
    t.equal(json.exitCode, 1);
    await s.ready(3);
    t.equal(s.live().filter((p) => uids.includes(p.metadata.uid!)).length, 2, 'two pods untouched');
    t.equal(s.live().filter((p) => s.digestOf(p) === v2).length, 1);
  },
);

t.test(
  'when SIGTERM reaches the CLI after the first eviction then the rest are interrupted and the handler is removed',
  async (t) => {
    const s = await startScenario(t);
    if (!s) return;
    await staleDeployment(s, 'web', 3);
    const uids = s.uids();
    const baseline = process.listeners('SIGTERM').length;
    let delivered = false;
    const onEvent = (ev: StoreEvent) => {
      if (delivered || ev.key !== '/pods' || !ev.object.metadata.deletionTimestamp) return;
      // Emitting (not raising) SIGTERM reaches the listeners only; do it only while the CLI's own is installed, so
      // the test runner's signal handling is never the one left to act.
      if (process.listeners('SIGTERM').length > baseline) {
        delivered = true;
        process.emit('SIGTERM', 'SIGTERM');
      }
    };
    s.cluster.store.on('event', onEvent);
    t.teardown(() => s.cluster.store.off('event', onEvent));

    const res = await s.run();
    t.ok(delivered, 'the CLI had a SIGTERM handler during the run');
    t.equal(res.code, 1, res.stderr);
    t.same(outcomes(res.json), ['interrupted', 'interrupted', 'restarted']);
    t.match(res.stderr, /received SIGTERM|SIGTERM/, 'the interruption is logged');
    t.equal(process.listeners('SIGTERM').length, baseline, 'the handler is removed after the run');
    await s.ready(3);
    t.equal(s.live().filter((p) => uids.includes(p.metadata.uid!)).length, 2);
  },
);
