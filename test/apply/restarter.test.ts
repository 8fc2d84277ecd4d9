import t from 'tap';
import { applyPlan } from '../../lib/apply/restarter.ts';
import { pod } from '../kube/fakes.ts';
import { FakeCluster, stalePlan } from './fake-cluster.ts';

const opts = { podTimeoutMs: 60_000, pollIntervalMs: 1000, evictionRetryMs: 1000 };

t.test(
  'when a workload has several stale pods then they are evicted one at a time in name order',
  async (t) => {
    const c = new FakeCluster();
    const plans = c.addWorkload({ kind: 'ReplicaSet', name: 'web', uid: 'rs-web', behaviour: 'ok' }, [
      'web-10',
      'web-2',
      'web-1',
    ]);
    const results = await applyPlan(plans, c.deps(), opts);
    t.same(
      c.evictions.map((e) => e.name),
      ['web-1', 'web-2', 'web-10'],
    );
    t.same(
      results.map((r) => [r.name, r.outcome]),
      [
        ['web-10', 'restarted'],
        ['web-2', 'restarted'],
        ['web-1', 'restarted'],
      ],
      'results in input order',
    );
    t.equal(c.overlappingEvictions, 0, 'never two pods of one workload disrupted at once');
    t.equal(c.maxDisruptedAtOnce, 1);
    t.ok(results.every((r) => r.replacement?.startsWith('web-r')));
  },
);

t.test(
  'when several workloads are stale then they restart in parallel, each one pod at a time',
  async (t) => {
    const c = new FakeCluster();
    const plans = ['a', 'b', 'c'].flatMap((n) =>
      c.addWorkload({ kind: 'ReplicaSet', name: n, uid: `rs-${n}`, behaviour: 'ok' }, [`${n}-1`, `${n}-2`]),
    );
    const results = await applyPlan(plans, c.deps(), { ...opts, parallelWorkloads: 4 });
    t.ok(results.every((r) => r.outcome === 'restarted'));
    t.equal(c.overlappingEvictions, 0);
    t.equal(c.maxDisruptedAtOnce, 3, 'all three workloads were disrupted at the same time');
  },
);

t.test('when parallelWorkloads is 1 then only one workload is disrupted at any time', async (t) => {
  const c = new FakeCluster();
  const plans = ['a', 'b'].flatMap((n) =>
    c.addWorkload({ kind: 'ReplicaSet', name: n, uid: `rs-${n}`, behaviour: 'ok' }, [`${n}-1`, `${n}-2`]),
  );
  await applyPlan(plans, c.deps(), { ...opts, parallelWorkloads: 1 });
  t.equal(c.maxDisruptedAtOnce, 1);
  t.same(
    c.evictions.map((e) => e.name),
    ['a-1', 'a-2', 'b-1', 'b-2'],
  );
});

t.test('when evicting then the uid precondition of the planned pod is sent', async (t) => {
  const c = new FakeCluster();
  const plans = c.addWorkload({ kind: 'ReplicaSet', name: 'web', uid: 'rs-web', behaviour: 'ok' }, ['web-1']);
  await applyPlan(plans, c.deps(), opts);
  t.same(c.evictions, [{ name: 'web-1', uid: 'uid-web-1' }]);
});

t.test(
  'when a restart succeeds then an ImageUpdated event on the Deployment names the pod and old → new digest',
  async (t) => {
    const c = new FakeCluster();
    const plans = c.addWorkload(
      {
        kind: 'ReplicaSet',
        name: 'web',
        uid: 'rs-web',
        behaviour: 'ok',
        top: { kind: 'Deployment', name: 'web-dep', uid: 'dep-1' },
      },
      ['web-1'],
    );
    const [r] = await applyPlan(plans, c.deps(), opts);
    t.equal(r?.outcome, 'restarted');
    t.equal(c.events.length, 1);
    t.match(c.events[0], {
      involved: {
        kind: 'Deployment',
        name: 'web-dep',
        namespace: 'shop',
        uid: 'dep-1',
        apiVersion: 'apps/v1',
      },
      reason: 'ImageUpdated',
      type: 'Normal',
      message: /Restarted pod web-1 \(replacement web-r1\): app sha256:6f6c64000000 → sha256:6e6577000000/,
    });
  },
);

t.test(
  'when the replacement comes back on the old digest then the workload halts with a warning event',
  async (t) => {
    const c = new FakeCluster();
    const plans = [
      ...c.addWorkload({ kind: 'ReplicaSet', name: 'web', uid: 'rs-web', behaviour: 'same-digest' }, [
        'web-1',
        'web-2',
        'web-3',
      ]),
      ...c.addWorkload({ kind: 'ReplicaSet', name: 'api', uid: 'rs-api', behaviour: 'ok' }, ['api-1']),
    ];
    const results = await applyPlan(plans, c.deps(), opts);
    t.same(
      results.map((r) => r.outcome),
      ['replacement-same-digest', 'workload-halted', 'workload-halted', 'restarted'],
    );
    t.match(results[0]?.message, /still runs the old digest \(app sha256:6f6c64000000\)/);
    t.same(c.evictions.map((e) => e.name).sort(), ['api-1', 'web-1'], 'halted pods are not evicted');
    const halted = c.events.find((e) => e.reason === 'ImageUpdateHalted');
    t.match(halted, { type: 'Warning', involved: { kind: 'ReplicaSet', name: 'web' } });
  },
);

t.test('when the replacement crash-loops then the workload halts', async (t) => {
  const c = new FakeCluster();
  const plans = c.addWorkload({ kind: 'ReplicaSet', name: 'web', uid: 'rs-web', behaviour: 'crash-loop' }, [
    'web-1',
    'web-2',
  ]);
  const results = await applyPlan(plans, c.deps(), opts);
  t.same(
    results.map((r) => r.outcome),
    ['replacement-crash-loop', 'workload-halted'],
  );
  t.match(results[0]?.message, /CrashLoopBackOff/);
  t.equal(c.evictions.length, 1);
});

t.test(
  'when a replacement container keeps restarting past the threshold then it counts as a crash loop',
  async (t) => {
    const c = new FakeCluster();
    const plans = c.addWorkload({ kind: 'ReplicaSet', name: 'web', uid: 'rs-web', behaviour: 'restarts' }, [
      'web-1',
    ]);
    const [r] = await applyPlan(plans, c.deps(), { ...opts, crashLoopRestarts: 3 });
    t.equal(r?.outcome, 'replacement-crash-loop');
    t.match(r?.message, /restarted 5 times/);
  },
);

t.test(
  'when no replacement appears by the deadline then the pod times out and the workload halts',
  async (t) => {
    const c = new FakeCluster();
    const plans = c.addWorkload({ kind: 'ReplicaSet', name: 'web', uid: 'rs-web', behaviour: 'never' }, [
      'web-1',
      'web-2',
    ]);
    const results = await applyPlan(plans, c.deps(), opts);
    t.same(
      results.map((r) => r.outcome),
      ['replacement-timeout', 'workload-halted'],
    );
    t.match(results[0]?.message, /no Ready replacement within 60s \(no replacement pod seen\)/);
  },
);

t.test(
  'when maxRestarts is reached then the remaining pods are reported max-restarts and not evicted',
  async (t) => {
    const c = new FakeCluster();
    const plans = ['a', 'b'].flatMap((n) =>
      c.addWorkload({ kind: 'ReplicaSet', name: n, uid: `rs-${n}`, behaviour: 'ok' }, [`${n}-1`, `${n}-2`]),
    );
    const results = await applyPlan(plans, c.deps(), { ...opts, parallelWorkloads: 1, maxRestarts: 3 });
    t.same(
      results.map((r) => r.outcome),
      ['restarted', 'restarted', 'restarted', 'max-restarts'],
    );
    t.equal(c.evictions.length, 3);
  },
);

t.test('when maxRestarts is 0 then there is no cap, as --max-restarts documents', async (t) => {
  const c = new FakeCluster();
  const plans = c.addWorkload({ kind: 'ReplicaSet', name: 'a', uid: 'rs-a', behaviour: 'ok' }, [
    'a-1',
    'a-2',
  ]);
  const results = await applyPlan(plans, c.deps(), { ...opts, maxRestarts: 0 });
  t.same(
    results.map((r) => r.outcome),
    ['restarted', 'restarted'],
  );
});

t.test(
  'when maxRestarts is reached with workloads in parallel then exactly that many evictions happen',
  async (t) => {
    const c = new FakeCluster();
    const plans = ['a', 'b', 'c'].flatMap((n) =>
      c.addWorkload({ kind: 'ReplicaSet', name: n, uid: `rs-${n}`, behaviour: 'ok' }, [`${n}-1`, `${n}-2`]),
    );
    const results = await applyPlan(plans, c.deps(), { ...opts, maxRestarts: 2 });
    t.equal(c.evictions.length, 2);
    t.equal(results.filter((r) => r.outcome === 'max-restarts').length, 4);
  },
);

t.test(
  'when the run is aborted during an eviction then that wait completes and no new eviction starts',
  async (t) => {
    const c = new FakeCluster();
    const ac = new AbortController();
    c.onEvict = (name) => {
      if (name === 'a-1') ac.abort();
    };
    const plans = ['a', 'b'].flatMap((n) =>
      c.addWorkload({ kind: 'ReplicaSet', name: n, uid: `rs-${n}`, behaviour: 'ok' }, [`${n}-1`, `${n}-2`]),
    );
    const results = await applyPlan(plans, c.deps(), { ...opts, parallelWorkloads: 1, signal: ac.signal });
    t.same(
      results.map((r) => r.outcome),
      ['restarted', 'interrupted', 'interrupted', 'interrupted'],
    );
    t.same(
      c.evictions.map((e) => e.name),
      ['a-1'],
    );
  },
);

t.test('when dry-run is set then every stale pod is reported and no API call is made', async (t) => {
  const c = new FakeCluster();
  const plans = c.addWorkload({ kind: 'ReplicaSet', name: 'web', uid: 'rs-web', behaviour: 'ok' }, [
    'web-1',
    'web-2',
  ]);
  const results = await applyPlan(plans, c.deps(), { ...opts, dryRun: true });
  t.same(
    results.map((r) => r.outcome),
    ['dry-run', 'dry-run'],
  );
  t.match(results[0]?.message, /would evict pod shop\/web-1: app sha256:6f6c64000000 → sha256:6e6577000000/);
  t.equal(c.evictions.length, 0);
  t.equal(c.listSelectors.length, 0);
});

t.test(
  'when a StatefulSet pod is evicted then the replacement is the same name with a new uid',
  async (t) => {
    const c = new FakeCluster();
    const plans = c.addWorkload({ kind: 'StatefulSet', name: 'db', uid: 'sts-db', behaviour: 'ok' }, [
      'db-0',
      'db-1',
    ]);
    const results = await applyPlan(plans, c.deps(), opts);
    t.same(
      results.map((r) => [r.outcome, r.replacement]),
      [
        ['restarted', 'db-0'],
        ['restarted', 'db-1'],
      ],
    );
  },
);

t.test(
  'when a pod was replaced before its turn then it is not evicted and its siblings still are',
  async (t) => {
    const c = new FakeCluster();
    const plans = c.addWorkload({ kind: 'ReplicaSet', name: 'web', uid: 'rs-web', behaviour: 'ok' }, [
      'web-1',
      'web-2',
    ]);
    const first = plans[0];
    if (first) first.uid = 'uid-of-an-older-web-1';
    const results = await applyPlan(plans, c.deps(), opts);
    t.same(
      results.map((r) => r.outcome),
      ['eviction-failed', 'restarted'],
    );
    t.match(results[0]?.message, /deleted or replaced before its turn/);
    t.same(
      c.evictions.map((e) => e.name),
      ['web-2'],
    );
  },
);

t.test('when a stale pod has no controller then it is never evicted', async (t) => {
  const c = new FakeCluster();
  const bare = pod({ name: 'bare', namespace: 'shop' });
  c.pods.set('uid-bare', bare);
  const [r] = await applyPlan([stalePlan(bare, undefined)], c.deps(), opts);
  t.equal(r?.outcome, 'eviction-failed');
  t.match(r?.message, /no controller/);
  t.equal(c.evictions.length, 0);
});

t.test(
  'when a PDB blocks until the deadline then the pod is pdb-blocked, the workload halts and the budget is kept',
  async (t) => {
    const c = new FakeCluster();
    const plans = [
      ...c.addWorkload({ kind: 'ReplicaSet', name: 'a', uid: 'rs-a', behaviour: 'ok' }, ['a-1', 'a-2']),
      ...c.addWorkload({ kind: 'ReplicaSet', name: 'b', uid: 'rs-b', behaviour: 'ok' }, ['b-1']),
    ];
    const real = c.evicter.createNamespacedPodEviction.bind(c.evicter);
    const evicter = {
      createNamespacedPodEviction: async (req: Parameters<typeof real>[0]) => {
        if (req.name.startsWith('a-')) {
          throw Object.assign(new Error('429'), {
            code: 429,
            body: JSON.stringify({
              message: "Cannot evict pod as it would violate the pod's disruption budget.",
            }),
            headers: {},
          });
        }
        return real(req);
      },
    };
    const results = await applyPlan(plans, c.deps({ evicter: evicter as typeof c.evicter }), {
      ...opts,
      parallelWorkloads: 1,
      maxRestarts: 1,
      evictionTimeoutMs: 5000,
    });
    t.same(
      results.map((r) => r.outcome),
      ['pdb-blocked', 'workload-halted', 'restarted'],
      'the blocked eviction did not use up maxRestarts',
    );
    t.same(
      c.evictions.map((e) => e.name),
      ['b-1'],
    );
  },
);

t.test(
  'when a watch is available then it is started from the pre-eviction listing and stopped afterwards',
  async (t) => {
    const c = new FakeCluster();
    const w = c.watcher();
    const plans = c.addWorkload({ kind: 'ReplicaSet', name: 'web', uid: 'rs-web', behaviour: 'ok' }, [
      'web-1',
      'web-2',
    ]);
    const results = await applyPlan(plans, c.deps({ watchPods: w.watchPods }), opts);
    t.same(
      results.map((r) => r.outcome),
      ['restarted', 'restarted'],
    );
    t.equal(w.started.length, 2);
    t.match(w.started[0], { labelSelector: 'app=web', resourceVersion: /^\d+$/ });
    t.equal(w.aborted(), 2);
  },
);
