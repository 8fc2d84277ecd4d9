// Behaviour of the simulated Job and CronJob controllers, in-process.

import t from 'tap';
import { type ControllerOptions, startControllers } from '../harness/kube-sim/controllers/index.ts';
import { cronJob, job } from '../harness/kube-sim/fixtures.ts';
import { type KObject, Store } from '../harness/kube-sim/store.ts';

const NS = 'default';

function start(t: { teardown(fn: () => unknown): void }, opts: ControllerOptions = {}) {
  const store = new Store();
  const c = startControllers(store, { readyDelayMs: 2, terminationDelayMs: 2, runDurationMs: 2, ...opts });
  t.teardown(() => c.stop());
  return { store, c };
}

function cond(o: KObject | undefined, type: string): KObject | undefined {
  return (o?.status?.conditions as KObject[] | undefined)?.find((c) => c.type === type);
}

t.test('when a Job pod exits 0 then the Job is Complete with succeeded 1', async (t) => {
  const { store, c } = start(t);
  store.create('batch/jobs', job('migrate', NS, 'busybox:1.36'));
  await c.settle((s) => cond(s.get('batch/jobs', NS, 'migrate'), 'Complete')?.status === 'True');
  const j = store.get('batch/jobs', NS, 'migrate')!;
  t.match(j.status, { succeeded: 1, failed: 0 });
  t.ok(j.status.startTime && j.status.completionTime, 'startTime and completionTime are set');
  t.notOk(j.status.active, 'nothing is active');
  const pods = store.listRefs('/pods', NS);
  t.equal(pods.length, 1);
  const p = pods[0]!;
  t.equal(p.metadata.labels?.['batch.kubernetes.io/job-name'], 'migrate');
  t.equal(p.metadata.labels?.['job-name'], 'migrate');
  t.match(p.metadata.ownerReferences, [{ kind: 'Job', name: 'migrate', controller: true }]);
  t.equal(p.status.phase, 'Succeeded');
  t.match(p.status.containerStatuses[0].state.terminated, { exitCode: 0, reason: 'Completed' });
});

t.test(
  'when every attempt fails then the Job is Failed with BackoffLimitExceeded after backoffLimit+1 pods',
  async (t) => {
    const attempts: number[] = [];
    const { store, c } = start(t, {
      jobOutcome: (_job, attempt) => {
        attempts.push(attempt);
        return 'fail';
      },
    });
    store.create('batch/jobs', job('bad', NS, 'busybox:1.36', { spec: { backoffLimit: 2 } }));
    await c.settle((s) => cond(s.get('batch/jobs', NS, 'bad'), 'Failed')?.status === 'True');
    const j = store.get('batch/jobs', NS, 'bad')!;
    t.match(cond(j, 'Failed'), { status: 'True', reason: 'BackoffLimitExceeded' });
    t.equal(j.status.failed, 3);
    t.notOk(cond(j, 'Complete'), 'never Complete');
    t.same(attempts, [1, 2, 3], 'the hook saw attempts 1..3');
    const failedPods = store.listRefs('/pods', NS).filter((p) => p.status?.phase === 'Failed');
    t.equal(failedPods.length, 3);
    t.match(failedPods[0]!.status.containerStatuses[0].state.terminated, { exitCode: 1, reason: 'Error' });
  },
);

t.test(
  'when the first attempt fails and the second succeeds then the Job completes with failed 1',
  async (t) => {
    const { store, c } = start(t, { jobOutcome: (_j, attempt) => (attempt === 1 ? 'fail' : 'succeed') });
    store.create('batch/jobs', job('flaky', NS, 'busybox:1.36'));
    await c.settle((s) => cond(s.get('batch/jobs', NS, 'flaky'), 'Complete')?.status === 'True');
    t.match(store.get('batch/jobs', NS, 'flaky')!.status, { succeeded: 1, failed: 1 });
  },
);

t.test(
  'when an execute hook runs the container then its exit code decides and it sees the env',
  async (t) => {
    const seen: Array<Record<string, string>> = [];
    const { store, c } = start(t, {
      execute: async (_pod, container, env) => {
        seen.push(env);
        return container.name === 'app' ? 0 : 3;
      },
    });
    store.create(
      'batch/jobs',
      job('hooked', NS, 'busybox:1.36', {
        container: { env: [{ name: 'MODE', value: 'x' }] },
        spec: { backoffLimit: 0 },
      }),
    );
    await c.settle((s) => cond(s.get('batch/jobs', NS, 'hooked'), 'Complete')?.status === 'True');
    t.same(seen, [{ MODE: 'x' }]);
  },
);

t.test(
  'when a Job has completions 3 and parallelism 2 then three pods succeed, at most two at a time',
  async (t) => {
    const { store, c } = start(t);
    let maxActive = 0;
    const off = store.watch('/pods', NS, undefined, () => {
      const active = store
        .listRefs('/pods', NS)
        .filter((p) => !['Succeeded', 'Failed'].includes(p.status?.phase)).length;
      maxActive = Math.max(maxActive, active);
    });
    t.teardown(off);
    store.create('batch/jobs', job('par', NS, 'busybox:1.36', { spec: { completions: 3, parallelism: 2 } }));
    await c.settle((s) => cond(s.get('batch/jobs', NS, 'par'), 'Complete')?.status === 'True');
    t.equal(store.get('batch/jobs', NS, 'par')!.status.succeeded, 3);
    t.ok(maxActive <= 2, `at most 2 active (saw ${maxActive})`);
  },
);

t.test('when a Job is suspended then it runs no pods until resumed', async (t) => {
  const { store, c } = start(t);
  store.create('batch/jobs', job('later', NS, 'busybox:1.36', { spec: { suspend: true } }));
  await c.settle();
  t.equal(store.listRefs('/pods', NS).length, 0);
  t.match(cond(store.get('batch/jobs', NS, 'later'), 'Suspended'), { status: 'True' });
  store.mutate('batch/jobs', NS, 'later', (o) => {
    o.spec.suspend = false;
    return undefined;
  });
  await c.settle((s) => cond(s.get('batch/jobs', NS, 'later'), 'Complete')?.status === 'True');
  t.match(cond(store.get('batch/jobs', NS, 'later'), 'Suspended'), { status: 'False' });
});

t.test(
  'when a CronJob is ticked past its schedule then it creates <name>-<unix minutes> owned by it',
  async (t) => {
    const { store, c } = start(t);
    store.create('batch/cronjobs', cronJob('nightly', NS, '*/5 * * * *', 'busybox:1.36'));
    await c.settle();
    t.equal(store.listRefs('batch/jobs', NS).length, 0, 'nothing before the schedule');
    const created = Date.parse(store.get('batch/cronjobs', NS, 'nightly')!.metadata.creationTimestamp!);
    const slot = Math.floor(created / 300_000) * 300_000 + 300_000;
    c.cronjobs.tick(new Date(slot + 20_000));
    await c.settle(
      (s) => cond(s.get('batch/jobs', NS, `nightly-${slot / 60_000}`), 'Complete')?.status === 'True',
    );
    const j = store.get('batch/jobs', NS, `nightly-${slot / 60_000}`)!;
    t.match(j.metadata.ownerReferences, [{ kind: 'CronJob', name: 'nightly', controller: true }]);
    const cj = store.get('batch/cronjobs', NS, 'nightly')!;
    t.equal(cj.status.lastScheduleTime, new Date(slot).toISOString().replace('.000Z', 'Z'));
    t.ok(cj.status.lastSuccessfulTime, 'lastSuccessfulTime is set');
    t.notOk(cj.status.active, 'no active jobs once complete');
    // The same slot does not run twice.
    c.cronjobs.tick(new Date(slot + 40_000));
    await c.settle();
    t.equal(store.listRefs('batch/jobs', NS).length, 1);
  },
);

t.test('when a CronJob is suspended then a tick creates no Job', async (t) => {
  const { store, c } = start(t);
  store.create(
    'batch/cronjobs',
    cronJob('paused', NS, '* * * * *', 'busybox:1.36', { spec: { suspend: true } }),
  );
  await c.settle();
  c.cronjobs.tick(new Date(Date.now() + 5 * 60_000));
  await c.settle();
  t.equal(store.listRefs('batch/jobs', NS).length, 0);
});

t.test('when a CronJob forbids concurrency then a tick while a Job runs creates no second Job', async (t) => {
  const { store, c } = start(t, { runDurationMs: 60_000 });
  store.create(
    'batch/cronjobs',
    cronJob('single', NS, '* * * * *', 'busybox:1.36', { spec: { concurrencyPolicy: 'Forbid' } }),
  );
  await c.settle();
  const base = Date.now();
  c.cronjobs.tick(new Date(base + 60_000));
  await c.waitFor((s) => s.listRefs('/pods', NS).some((p) => p.status?.phase === 'Running'));
  t.equal(store.listRefs('batch/jobs', NS).length, 1);
  c.cronjobs.tick(new Date(base + 120_000));
  t.equal(store.listRefs('batch/jobs', NS).length, 1, 'Forbid skips the next run while one is active');
  t.equal(store.get('batch/cronjobs', NS, 'single')!.status.active?.length, 1);
});

t.test('when a CronJob has a time zone then the schedule is read in it', async (t) => {
  const { store, c } = start(t);
  store.create(
    'batch/cronjobs',
    cronJob('tz', NS, '0 9 * * *', 'busybox:1.36', { spec: { timeZone: 'Asia/Tokyo' } }),
  );
  await c.settle();
  // 09:00 in Tokyo is 00:00 UTC.
  const created = Date.parse(store.get('batch/cronjobs', NS, 'tz')!.metadata.creationTimestamp!);
  const midnight = Math.floor(created / 86_400_000) * 86_400_000 + 86_400_000;
  c.cronjobs.tick(new Date(midnight + 1_000));
  t.ok(store.get('batch/jobs', NS, `tz-${midnight / 60_000}`), 'the Job for 00:00 UTC exists');
});

t.test('when a finished Job has ttlSecondsAfterFinished 0 then it is deleted with its pods', async (t) => {
  const { store, c } = start(t);
  store.create('batch/jobs', job('gone', NS, 'busybox:1.36', { spec: { ttlSecondsAfterFinished: 0 } }));
  await c.settle((s) => !s.get('batch/jobs', NS, 'gone') && s.listRefs('/pods', NS).length === 0);
  t.pass('the Job and its pods are gone');
});

t.test(
  'when a Job pod has restartPolicy OnFailure then failed runs restart in place and count against backoffLimit',
  async (t) => {
    const { store, c } = start(t, {
      crashBackoffMs: 2,
      jobOutcome: (_j, attempt) => (attempt < 3 ? 'fail' : 'succeed'),
    });
    store.create(
      'batch/jobs',
      job('inplace', NS, 'busybox:1.36', {
        podSpec: { restartPolicy: 'OnFailure' },
        spec: { backoffLimit: 4 },
      }),
    );
    await c.settle((s) => cond(s.get('batch/jobs', NS, 'inplace'), 'Complete')?.status === 'True');
    const pods = store.listRefs('/pods', NS);
    t.equal(pods.length, 1, 'one pod, restarted in place');
    t.equal(pods[0]!.status.containerStatuses[0].restartCount, 2);
    t.equal(pods[0]!.status.phase, 'Succeeded');
  },
);

t.test(
  'when a CronJob keeps more finished Jobs than its history limits then the oldest are deleted',
  async (t) => {
    const { store, c } = start(t);
    store.create(
      'batch/cronjobs',
      cronJob('hist', NS, '* * * * *', 'busybox:1.36', { spec: { successfulJobsHistoryLimit: 2 } }),
    );
    await c.settle();
    const base = Math.floor(Date.now() / 60_000) * 60_000;
    for (let i = 1; i <= 4; i++) {
      c.cronjobs.tick(new Date(base + i * 60_000 + 1_000));
      await c.settle(
        (s) => cond(s.get('batch/jobs', NS, `hist-${base / 60_000 + i}`), 'Complete')?.status === 'True',
      );
    }
    c.cronjobs.tick(new Date(base + 4 * 60_000 + 2_000));
    await c.settle();
    t.same(
      store
        .listRefs('batch/jobs', NS)
        .map((j) => j.metadata.name)
        .sort(),
      [`hist-${base / 60_000 + 3}`, `hist-${base / 60_000 + 4}`],
    );
  },
);

t.test(
  'when a CronJob misses its start by more than startingDeadlineSeconds then that run is skipped',
  async (t) => {
    const { store, c } = start(t);
    store.create(
      'batch/cronjobs',
      cronJob('late', NS, '0 * * * *', 'busybox:1.36', { spec: { startingDeadlineSeconds: 30 } }),
    );
    await c.settle();
    const nextHour = Math.floor(Date.now() / 3_600_000) * 3_600_000 + 3_600_000;
    c.cronjobs.tick(new Date(nextHour + 120_000));
    t.equal(store.listRefs('batch/jobs', NS).length, 0, 'two minutes late is past a 30 s deadline');
    c.cronjobs.tick(new Date(nextHour + 3_600_000 + 10_000));
    t.equal(store.listRefs('batch/jobs', NS).length, 1, 'ten seconds late is within it');
  },
);

t.test('when a CronJob replaces a running Job then the old one is deleted', async (t) => {
  const { store, c } = start(t, { runDurationMs: 60_000 });
  store.create(
    'batch/cronjobs',
    cronJob('rep', NS, '* * * * *', 'busybox:1.36', { spec: { concurrencyPolicy: 'Replace' } }),
  );
  await c.settle();
  const base = Math.floor(Date.now() / 60_000) * 60_000;
  c.cronjobs.tick(new Date(base + 61_000));
  c.cronjobs.tick(new Date(base + 121_000));
  t.same(
    store.listRefs('batch/jobs', NS).map((j) => j.metadata.name),
    [`rep-${base / 60_000 + 2}`],
  );
});

t.test(
  'when the cronJob fixture gets a CronJob spec then the Job template does not inherit it',
  async (t) => {
    const cj = cronJob('split', NS, '@hourly', 'busybox:1.36', {
      spec: { suspend: true, concurrencyPolicy: 'Forbid' },
      jobSpec: { backoffLimit: 1 },
    });
    t.match(cj.spec, {
      suspend: true,
      concurrencyPolicy: 'Forbid',
      jobTemplate: { spec: { backoffLimit: 1 } },
    });
    t.notOk(cj.spec.jobTemplate.spec.suspend, 'the Job template is not suspended');
    t.notOk(cj.spec.jobTemplate.spec.concurrencyPolicy);
  },
);
