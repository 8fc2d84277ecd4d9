import t from 'tap';
import { parseImageReference } from '../../lib/image/reference.ts';
import { brokenPod, rolloutHealth } from '../../lib/plan/rollout.ts';
import {
  classifiersOf,
  isMigrationTemplate,
  migrationJob,
  migrationJobName,
  planMigrations,
  planTarget,
  rollbackPatch,
  updatePatch,
} from '../../lib/plan/update.ts';
import { cronJob, daemonSet, deployment, job } from '../harness/kube-sim/fixtures.ts';

const stored = <T extends { metadata: Record<string, unknown> }>(o: T, rv = '7'): T => {
  o.metadata.uid = `uid-${o.metadata.name}`;
  o.metadata.resourceVersion = rv;
  return o;
};

t.test('when classifiers are read then both annotations and comma lists count', async (t) => {
  t.same(
    classifiersOf({ metadata: { annotations: { 'k8s-auto-updater.io/classifier': 'stable, canary' } } }),
    ['stable', 'canary'],
  );
  t.same(classifiersOf({ metadata: { annotations: { 'xcnt.io/update-classifier': 'prod' } } }), ['prod']);
  t.same(classifiersOf({ metadata: {} }), []);
});

t.test(
  'when images are matched then registry and repository compare parsed and normalised, never by prefix',
  async (t) => {
    const rows: [string, string, boolean][] = [
      ['nginx:1.25', 'docker.io/library/nginx:1.27', true],
      ['index.docker.io/library/nginx', 'nginx:1.27', true],
      ['registry:5000/a:1', 'registry:5000/b:2', false],
      ['registry:5000/team/app1:1', 'registry:5000/team/app2:1', false],
      ['registry:5000/team/app:1', 'registry:5001/team/app:2', false],
      ['ghcr.io/o/app@sha256:' + 'a'.repeat(64), 'ghcr.io/o/app:2.0', true],
    ];
    t.equal(rows.length, 6);
    for (const [running, requested, match] of rows) {
      const d = stored(deployment('web', 'shop', running));
      const res = planTarget('Deployment', d, parseImageReference(requested), requested, {
        allowDowngrade: false,
      });
      t.equal(res !== undefined, match, `${running} vs ${requested}`);
    }
  },
);

t.test('when a workload has several containers then only those on the repository change', async (t) => {
  const d = stored(
    deployment('web', 'shop', 'reg.io/shop/app:1.0', {
      containers: [{ name: 'side', image: 'reg.io/shop/proxy:3' }],
      initContainers: [{ name: 'migrate', image: 'reg.io/shop/app:1.0' }],
    }),
  );
  const to = 'reg.io/shop/app:1.1';
  const target = planTarget('Deployment', d, parseImageReference(to), to, { allowDowngrade: false });
  t.match(target, { reason: 'update', resourceVersion: '7', uid: 'uid-web' });
  t.same(target?.changes, [
    { name: 'migrate', init: true, from: 'reg.io/shop/app:1.0', to },
    { name: 'app', init: false, from: 'reg.io/shop/app:1.0', to },
  ]);
  const patch = updatePatch(target!, 'u-1', 'update u-1');
  t.same(
    patch.spec.template.spec,
    {
      initContainers: [{ name: 'migrate', image: to }],
      containers: [{ name: 'app', image: to }],
    },
    'the sidecar is not in the patch',
  );
  t.equal(patch.metadata.resourceVersion, '7', "the plan's resourceVersion is the precondition");
  t.match(JSON.parse(patch.metadata.annotations['k8s-auto-updater.io/updated']), {
    id: 'u-1',
    containers: [{ name: 'migrate' }, { name: 'app' }],
  });
});

t.test(
  'when the requested image is already there or older then the workload is kept with a reason',
  async (t) => {
    const rows: [string, string, boolean, string][] = [
      ['reg.io/a:1.4.2', 'reg.io/a:1.4.2', false, 'already-current'],
      ['reg.io/a', 'reg.io/a:latest', false, 'already-current'],
      ['reg.io/a:1.4.2', 'reg.io/a:1.3.9', false, 'downgrade'],
      ['reg.io/a:2.0-alpine', 'reg.io/a:1.9-alpine', false, 'downgrade'],
      ['reg.io/a:1.4.2', 'reg.io/a:1.3.9', true, 'update'],
      ['reg.io/a:1.4.2', 'reg.io/a:1.3.9-alpine', false, 'update'],
      ['reg.io/a:latest', 'reg.io/a:1.0', false, 'update'],
    ];
    t.equal(rows.length, 7);
    for (const [running, to, allowDowngrade, reason] of rows) {
      const d = stored(deployment('web', 'shop', running));
      t.equal(
        planTarget('Deployment', d, parseImageReference(to), to, { allowDowngrade })?.reason,
        reason,
        `${running} → ${to}`,
      );
    }
    const d = stored(deployment('web', 'shop', 'reg.io/a:1.4.2'));
    t.match(
      planTarget('Deployment', d, parseImageReference('reg.io/a:1.3.9'), 'reg.io/a:1.3.9', {
        allowDowngrade: false,
      }),
      {
        message: /older version: refused \(--allow-downgrade to force\)/,
      },
    );
  },
);

t.test('when the workload is a CronJob or DaemonSet then its own pod template path is used', async (t) => {
  const cj = stored(cronJob('nightly', 'shop', '0 3 * * *', 'reg.io/a:1'));
  const to = 'reg.io/a:2';
  const target = planTarget('CronJob', cj, parseImageReference(to), to, { allowDowngrade: false });
  t.equal(target?.reason, 'update');
  t.same(updatePatch(target!, 'u', 'c').spec.jobTemplate.spec.template.spec.containers, [
    { name: 'app', image: to },
  ]);
  const ds = stored(daemonSet('agent', 'shop', 'reg.io/a:1'));
  t.same(
    updatePatch(
      planTarget('DaemonSet', ds, parseImageReference(to), to, { allowDowngrade: false })!,
      'u',
      'c',
    ).spec.template.spec.containers,
    [{ name: 'app', image: to }],
  );
});

t.test(
  'when a migration Job is copied then the API server will accept it and it is no template itself',
  async (t) => {
    const tpl = stored(
      job('db-migrate', 'shop', 'reg.io/a:1', {
        annotations: { 'k8s-auto-updater.io/classifier': 'stable' },
      }),
    );
    tpl.spec.suspend = true;
    tpl.spec.selector = { matchLabels: { 'batch.kubernetes.io/controller-uid': 'old' } };
    tpl.spec.template.metadata.labels = {
      ...tpl.spec.template.metadata.labels,
      'controller-uid': 'old',
      'job-name': 'db-migrate',
      'batch.kubernetes.io/controller-uid': 'old',
      'batch.kubernetes.io/job-name': 'db-migrate',
    };
    tpl.spec.template.spec.containers.push({ name: 'tool', image: 'reg.io/tools:9' });
    const requested = parseImageReference('reg.io/a:2');
    t.ok(isMigrationTemplate(tpl, 'stable', requested));
    t.notOk(isMigrationTemplate(tpl, 'canary', requested), 'another classifier');
    t.notOk(isMigrationTemplate(tpl, 'stable', parseImageReference('reg.io/b:2')), 'another repository');

    const copy = migrationJob(tpl, requested, 'reg.io/a:2', '0123456789abcdef');
    t.equal(copy.metadata.name, 'db-migrate-01234567');
    t.same(copy.metadata.labels, {
      'k8s-auto-updater.io/migration-of': 'db-migrate',
      'k8s-auto-updater.io/update-id': '0123456789abcdef',
    });
    t.notOk('k8s-auto-updater.io/classifier' in copy.metadata.annotations, 'a copy is never a template');
    t.equal(copy.spec.suspend, false);
    t.notOk('selector' in copy.spec, 'the server generates the selector');
    t.notOk(
      Object.keys(copy.spec.template.metadata.labels).some(
        (l) => l.includes('controller-uid') || l.includes('job-name'),
      ),
    );
    t.same(
      copy.spec.template.spec.containers.map((c: { image: string }) => c.image),
      ['reg.io/a:2', 'reg.io/tools:9'],
    );
    t.notOk('uid' in copy.metadata || 'resourceVersion' in copy.metadata || 'status' in copy);
    t.equal(tpl.spec.suspend, true, 'the template itself is not touched');

    tpl.spec.manualSelector = true;
    t.ok('selector' in migrationJob(tpl, requested, 'reg.io/a:2', 'x').spec, 'a manual selector is kept');
    const long = migrationJobName('a'.repeat(70), 'abcdef12');
    t.ok(long.length <= 63 && /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/.test(long), long);
  },
);

t.test(
  'when templates are ordered then migration-order wins, then the name; a bad order refuses all',
  async (t) => {
    const mk = (name: string, order?: string) =>
      stored(
        job(name, 'shop', 'reg.io/a:1', {
          annotations: order === undefined ? {} : { 'k8s-auto-updater.io/migration-order': order },
        }),
      );
    const requested = parseImageReference('reg.io/a:2');
    const plans = planMigrations(
      [mk('c'), mk('b', '10'), mk('a'), mk('z', '-5')],
      requested,
      'reg.io/a:2',
      'id',
    );
    if (plans instanceof Error) throw plans;
    t.same(
      plans.map((p) => p.template),
      ['z', 'a', 'c', 'b'],
    );
    const bad = planMigrations([mk('a'), mk('b', 'first')], requested, 'reg.io/a:2', 'id');
    t.match(bad, { message: /shop\/b: k8s-auto-updater.io\/migration-order is "first"; write an integer/ });
  },
);

t.test(
  'when an update is rolled back then only containers still on our image go back; others survive',
  async (t) => {
    const changes = [
      { name: 'app', init: false, from: 'reg.io/a:1', to: 'reg.io/a:2' },
      { name: 'worker', init: false, from: 'reg.io/a:1', to: 'reg.io/a:2' },
    ];
    const now = stored(
      deployment('web', 'shop', 'reg.io/a:2', {
        containers: [
          { name: 'worker', image: 'reg.io/a:3-hotfix' },
          { name: 'side', image: 'x:9' },
        ],
      }),
      '12',
    );
    const r = rollbackPatch('Deployment', now, changes, 'u-1');
    t.same(
      r.restored.map((c) => c.name),
      ['app'],
    );
    t.same(
      r.skipped,
      [{ name: 'worker', image: 'reg.io/a:3-hotfix' }],
      "someone else's change to worker survives",
    );
    t.same(r.patch?.spec.template.spec, { containers: [{ name: 'app', image: 'reg.io/a:1' }] });
    t.equal(r.patch?.metadata.resourceVersion, '12', 'on the object as it is now');
    const none = rollbackPatch(
      'Deployment',
      stored(deployment('web', 'shop', 'reg.io/a:3')),
      changes.slice(0, 1),
      'u-1',
    );
    t.equal(none.patch, undefined, 'nothing to roll back: no patch at all');
  },
);

t.test('when rollouts are judged then the kubectl rules decide progressing, done and failed', async (t) => {
  const dep = (spec: object, status: object, generation = 2) => ({
    metadata: { name: 'w', namespace: 'n', generation },
    spec,
    status,
  });
  const rows: [Parameters<typeof rolloutHealth>[0], object, string][] = [
    ['Deployment', dep({ replicas: 3 }, { observedGeneration: 1 }), 'progressing'],
    [
      'Deployment',
      dep({ replicas: 3 }, { observedGeneration: 2, updatedReplicas: 2, replicas: 3, availableReplicas: 3 }),
      'progressing',
    ],
    [
      'Deployment',
      dep({ replicas: 3 }, { observedGeneration: 2, updatedReplicas: 3, replicas: 4, availableReplicas: 3 }),
      'progressing',
    ],
    [
      'Deployment',
      dep({ replicas: 3 }, { observedGeneration: 2, updatedReplicas: 3, replicas: 3, availableReplicas: 2 }),
      'progressing',
    ],
    [
      'Deployment',
      dep({ replicas: 3 }, { observedGeneration: 2, updatedReplicas: 3, replicas: 3, availableReplicas: 3 }),
      'done',
    ],
    [
      'Deployment',
      dep(
        { replicas: 3 },
        {
          observedGeneration: 2,
          conditions: [{ type: 'Progressing', status: 'False', reason: 'ProgressDeadlineExceeded' }],
        },
      ),
      'failed',
    ],
    [
      'StatefulSet',
      dep(
        { replicas: 2 },
        {
          observedGeneration: 2,
          readyReplicas: 2,
          updatedReplicas: 2,
          currentRevision: 'a',
          updateRevision: 'b',
        },
      ),
      'progressing',
    ],
    [
      'StatefulSet',
      dep(
        { replicas: 2 },
        {
          observedGeneration: 2,
          readyReplicas: 2,
          updatedReplicas: 2,
          currentRevision: 'b',
          updateRevision: 'b',
        },
      ),
      'done',
    ],
    [
      'StatefulSet',
      dep(
        { replicas: 3, updateStrategy: { type: 'RollingUpdate', rollingUpdate: { partition: 2 } } },
        { observedGeneration: 2, readyReplicas: 3, updatedReplicas: 1 },
      ),
      'done',
    ],
    [
      'StatefulSet',
      dep({ replicas: 2, updateStrategy: { type: 'OnDelete' } }, { observedGeneration: 2 }),
      'done',
    ],
    [
      'DaemonSet',
      dep(
        {},
        { observedGeneration: 2, desiredNumberScheduled: 2, updatedNumberScheduled: 1, numberAvailable: 2 },
      ),
      'progressing',
    ],
    [
      'DaemonSet',
      dep(
        {},
        { observedGeneration: 2, desiredNumberScheduled: 2, updatedNumberScheduled: 2, numberAvailable: 2 },
      ),
      'done',
    ],
    ['CronJob', dep({}, {}), 'done'],
  ];
  t.equal(rows.length, 13);
  for (const [kind, obj, state] of rows)
    t.equal(
      rolloutHealth(kind, obj).state,
      state,
      `${kind} ${JSON.stringify((obj as { status: object }).status)}`,
    );
});

t.test(
  'when a new pod crash-loops or cannot pull then the rollout is broken before its deadline',
  async (t) => {
    const pod = (state: object, restartCount = 0) => ({
      metadata: { name: 'p' },
      status: { containerStatuses: [{ name: 'app', restartCount, state }] },
    });
    t.match(brokenPod([pod({ waiting: { reason: 'CrashLoopBackOff' } }, 2)]), /crash-looping \(2 restarts\)/);
    t.equal(
      brokenPod([pod({ waiting: { reason: 'CrashLoopBackOff' } }, 1)]),
      undefined,
      'one restart is not a loop yet',
    );
    t.match(
      brokenPod([pod({ waiting: { reason: 'ImagePullBackOff', message: 'not found' } })]),
      /cannot start: ImagePullBackOff \(not found\)/,
    );
    t.equal(brokenPod([pod({ running: {} })]), undefined);
  },
);
