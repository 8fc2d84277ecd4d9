// `k8s-auto-updater status` against the API simulator: the CronJob's schedule, next runs, active Jobs and the
// run record of its newest finished Job, as text and JSON; the errors for a missing CronJob and missing RBAC.

import { PassThrough } from 'node:stream';
import t from 'tap';
import { runStatus } from '../../lib/cli/status.ts';
import { mergeOptions, type StatusConfig, toStatusConfig } from '../../lib/config/config.ts';
import { encodeRunRecord, type RunRecord } from '../../lib/report/record.ts';
import { EXIT } from '../../lib/shared/errors.ts';
import { createLogger } from '../../lib/shared/log.ts';
import { CronJobNotFoundError } from '../../lib/status/cronjob.ts';
import { type Cluster, startCluster } from '../harness/kube-sim/index.ts';
import type { KObject } from '../harness/kube-sim/store.ts';

const NS = 'tools';
const NOW = new Date('2026-01-15T10:00:00Z');
const RECORD: RunRecord = {
  v: 1,
  finishedAt: '2026-01-15T02:01:30.000Z',
  exitCode: 0,
  dryRun: false,
  summary: { pods: 12, current: 9, stale: 2, skipped: 1, restarted: 2, failed: 0 },
};

let cluster: Cluster;
t.before(async () => {
  cluster = await startCluster({ controllers: false });
  cluster.store.create('/namespaces', { metadata: { name: NS } });
});
t.teardown(() => cluster?.stop());

function config(over: Partial<StatusConfig> = {}): StatusConfig {
  return {
    namespace: NS,
    kubeconfig: cluster.kubeconfigPath,
    cronjob: 'k8s-auto-updater',
    next: 3,
    output: 'text',
    logLevel: 'silent',
    logFormat: 'json',
    ...over,
  };
}

function withoutNamespace(c: StatusConfig): StatusConfig {
  const { namespace: _, ...rest } = c;
  return rest;
}

async function status(c: StatusConfig): Promise<{ code: number; out: string }> {
  const stdout = new PassThrough();
  let out = '';
  stdout.on('data', (d: Buffer) => {
    out += d.toString();
  });
  const logger = await createLogger({ level: 'silent', format: 'json', stream: new PassThrough() });
  const code = await runStatus(c, { logger, env: {}, stdout, now: () => NOW });
  return { code, out };
}

function cronJob(name: string, spec: Record<string, unknown>, st: Record<string, unknown> = {}): KObject {
  return cluster.store.create('batch/cronjobs', {
    metadata: { name, namespace: NS },
    spec: {
      jobTemplate: { spec: { template: { spec: { containers: [{ name: 'updater', image: 'x' }] } } } },
      ...spec,
    },
    status: st,
  });
}

function job(
  owner: KObject,
  name: string,
  condition?: { type: 'Complete' | 'Failed'; at: string; reason?: string },
) {
  return cluster.store.create('batch/jobs', {
    metadata: {
      name,
      namespace: NS,
      ownerReferences: [
        {
          apiVersion: 'batch/v1',
          kind: 'CronJob',
          name: owner.metadata.name!,
          uid: owner.metadata.uid!,
          controller: true,
        },
      ],
    },
    spec: { template: { spec: { restartPolicy: 'Never', containers: [{ name: 'updater', image: 'x' }] } } },
    status: condition
      ? {
          conditions: [
            {
              type: condition.type,
              status: 'True',
              lastTransitionTime: condition.at,
              ...(condition.reason ? { reason: condition.reason } : {}),
            },
          ],
          ...(condition.type === 'Complete' ? { completionTime: condition.at } : {}),
        }
      : { active: 1 },
  });
}

function pod(
  jobName: string,
  name: string,
  message: string | undefined,
  label = 'batch.kubernetes.io/job-name',
) {
  return cluster.store.create('/pods', {
    metadata: { name, namespace: NS, labels: { [label]: jobName } },
    spec: { restartPolicy: 'Never', containers: [{ name: 'updater', image: 'x' }] },
    status: {
      phase: 'Succeeded',
      containerStatuses: [
        {
          name: 'updater',
          image: 'x',
          imageID: '',
          ready: false,
          restartCount: 0,
          state: {
            terminated: {
              exitCode: 0,
              reason: 'Completed',
              finishedAt: '2026-01-15T02:01:31Z',
              ...(message ? { message } : {}),
            },
          },
        },
      ],
    },
  });
}

t.test(
  'when the CronJob has finished runs then status reports the newest run record and next runs',
  async (t) => {
    const cj = cronJob(
      'k8s-auto-updater',
      { schedule: '0 3 * * *', timeZone: 'Europe/Berlin' },
      {
        lastScheduleTime: '2026-01-15T02:00:00Z',
        lastSuccessfulTime: '2026-01-15T02:01:31Z',
        active: [{ kind: 'Job', name: 'k8s-auto-updater-29470000', namespace: NS }],
      },
    );
    job(cj, 'k8s-auto-updater-29468000', { type: 'Complete', at: '2026-01-14T02:01:00Z' });
    pod(
      'k8s-auto-updater-29468000',
      'old-run',
      encodeRunRecord({ ...RECORD, summary: { ...RECORD.summary, pods: 1 } }),
    );
    job(cj, 'k8s-auto-updater-29469000', { type: 'Complete', at: '2026-01-15T02:01:31Z' });
    pod('k8s-auto-updater-29469000', 'new-run', encodeRunRecord(RECORD));
    job(cj, 'k8s-auto-updater-29470000');
    // A same-named CronJob's Job from before a re-create (other uid) must not count even though it is newer.
    job({ metadata: { name: 'k8s-auto-updater', uid: 'another-uid' } } as KObject, 'stale-owner', {
      type: 'Failed',
      at: '2026-01-15T05:00:00Z',
    });

    const json = await status(config({ output: 'json' }));
    t.equal(json.code, EXIT.ok);
    const report = JSON.parse(json.out);
    t.same(report, {
      kind: 'CronJobStatus',
      v: 1,
      namespace: NS,
      name: 'k8s-auto-updater',
      schedule: '0 3 * * *',
      timeZone: 'Europe/Berlin',
      suspended: false,
      lastScheduleTime: '2026-01-15T02:00:00.000Z',
      lastSuccessfulTime: '2026-01-15T02:01:31.000Z',
      activeJobs: ['k8s-auto-updater-29470000'],
      lastRun: {
        job: 'k8s-auto-updater-29469000',
        pod: 'new-run',
        result: 'succeeded',
        finishedAt: '2026-01-15T02:01:31.000Z',
        reason: null,
        record: RECORD,
        message: null,
      },
      nextRuns: ['2026-01-16T02:00:00.000Z', '2026-01-17T02:00:00.000Z', '2026-01-18T02:00:00.000Z'],
      scheduleError: null,
    });

    const text = await status(config());
    t.equal(text.code, EXIT.ok);
    const lines = text.out.split('\n');
    t.match(text.out, /^CronJob {2,}tools\/k8s-auto-updater$/m);
    t.match(text.out, /^Schedule {2,}0 3 \* \* \*$/m);
    t.match(text.out, /^Time zone {2,}Europe\/Berlin$/m);
    t.match(text.out, /^Suspended {2,}no$/m);
    t.match(text.out, /^Active jobs {2,}k8s-auto-updater-29470000$/m);
    t.match(text.out, /^Next runs {2,}2026-01-16 03:00 GMT\+1 \(2026-01-16T02:00:00Z\)$/m);
    t.match(text.out, /^Last run {2,}job k8s-auto-updater-29469000 succeeded at 2026-01-15T02:01:31Z$/m);
    t.match(text.out, /^ {2}Pods {2,}12 checked: 9 current, 2 stale, 1 skipped$/m);
    t.match(text.out, /^ {2}Restarts {2,}2 restarted, 0 failed$/m);
    const valueColumn = lines
      .filter((l) => /^\S/.test(l))
      .map((l) => /^(\S.*?\s{2,})\S/.exec(l)?.[1]?.length);
    t.equal(new Set(valueColumn).size, 1, 'values start in one column');
  },
);

t.test('when the CronJob is suspended then no next runs are listed and status says why', async (t) => {
  cronJob('suspended', { schedule: '@hourly', suspend: true });
  const json = JSON.parse((await status(config({ cronjob: 'suspended', output: 'json' }))).out);
  t.equal(json.suspended, true);
  t.same(json.nextRuns, []);
  t.equal(json.lastRun, null);
  t.equal(json.timeZone, null);
  const text = (await status(config({ cronjob: 'suspended' }))).out;
  t.match(text, /^Next runs {2,}none: the CronJob is suspended \(manual runs still work\)$/m);
  t.match(text, /^Last run {2,}no finished run recorded yet$/m);
  t.match(text, /^Time zone {2,}UTC \(not set/m);
});

t.test(
  'when the last run crashed without a record then its Failed reason and log tail are shown',
  async (t) => {
    const cj = cronJob('crashed', { schedule: '0 3 * * *' });
    job(cj, 'crashed-1', { type: 'Failed', at: '2026-01-15T02:00:10Z', reason: 'PodFailurePolicy' });
    // Older Jobs carry only the bare job-name label.
    pod(
      'crashed-1',
      'crashed-1-abcde',
      'k8s-auto-updater: configuration error: --mode: "x" is not one of registry, docker',
      'job-name',
    );
    const json = JSON.parse((await status(config({ cronjob: 'crashed', output: 'json' }))).out);
    t.same(json.lastRun, {
      job: 'crashed-1',
      pod: 'crashed-1-abcde',
      result: 'failed',
      finishedAt: '2026-01-15T02:00:10.000Z',
      reason: 'PodFailurePolicy',
      record: null,
      message: 'k8s-auto-updater: configuration error: --mode: "x" is not one of registry, docker',
    });
    const text = (await status(config({ cronjob: 'crashed' }))).out;
    t.match(text, /^Last run {2,}job crashed-1 failed \(PodFailurePolicy\) at 2026-01-15T02:00:10Z$/m);
    t.match(text, /\| k8s-auto-updater: configuration error/);
  },
);

t.test('when the finished Job has no pod left then the run is reported without a summary', async (t) => {
  const cj = cronJob('podless', { schedule: '0 3 * * *' });
  job(cj, 'podless-1', { type: 'Complete', at: '2026-01-15T02:00:10Z' });
  const json = JSON.parse((await status(config({ cronjob: 'podless', output: 'json' }))).out);
  t.equal(json.lastRun.pod, null);
  t.equal(json.lastRun.record, null);
  t.match((await status(config({ cronjob: 'podless' }))).out, /^ {2}Pod {2,}gone$/m);
});

t.test(
  'when the CronJob does not exist then status fails with exit 1 naming it and how to find it',
  async (t) => {
    await t.rejects(status(config({ cronjob: 'nope' })), CronJobNotFoundError);
    await t.rejects(status(config({ cronjob: 'nope' })), {
      exitCode: EXIT.failure,
      message: /CronJob tools\/nope not found\. .*kubectl get cronjobs -A/,
    });
  },
);

t.test('when no namespace is given then the kubeconfig context namespace is used', async (t) => {
  cronJob('ctx', { schedule: '@daily' });
  const kubeconfig = cluster.kubeconfig({ token: cluster.adminToken, namespace: NS });
  const json = JSON.parse(
    (await status(withoutNamespace(config({ kubeconfig, cronjob: 'ctx', output: 'json' })))).out,
  );
  t.equal(json.namespace, NS);
  t.same(json.nextRuns, ['2026-01-16T00:00:00.000Z', '2026-01-17T00:00:00.000Z', '2026-01-18T00:00:00.000Z']);
});

t.test(
  'when the caller may only get cronjobs and list jobs and pods then status works; with less it explains',
  async (t) => {
    cronJob('rbac', { schedule: '@daily' });
    const rules = [
      { apiGroups: ['batch'], resources: ['cronjobs'], verbs: ['get'] },
      { apiGroups: ['batch'], resources: ['jobs'], verbs: ['list'] },
      { apiGroups: [''], resources: ['pods'], verbs: ['list'] },
    ];
    cluster.store.create('rbac.authorization.k8s.io/roles', {
      metadata: { name: 'status', namespace: NS },
      rules,
    });
    cluster.store.create('rbac.authorization.k8s.io/roles', {
      metadata: { name: 'status-partial', namespace: NS },
      rules: rules.slice(0, 1),
    });
    const bind = (name: string, role: string, sa: string) =>
      cluster.store.create('rbac.authorization.k8s.io/rolebindings', {
        metadata: { name, namespace: NS },
        roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: role },
        subjects: [{ kind: 'ServiceAccount', name: sa, namespace: NS }],
      });
    bind('status', 'status', 'reader');
    bind('status-partial', 'status-partial', 'partial');
    const reader = cluster.kubeconfig({ token: cluster.serviceAccountToken(NS, 'reader'), namespace: NS });
    const ok = await status(config({ kubeconfig: reader, cronjob: 'rbac', output: 'json' }));
    t.equal(ok.code, EXIT.ok);
    t.equal(JSON.parse(ok.out).name, 'rbac');
    const partial = cluster.kubeconfig({ token: cluster.serviceAccountToken(NS, 'partial'), namespace: NS });
    await t.rejects(status(config({ kubeconfig: partial, cronjob: 'rbac' })), {
      message:
        /list jobs of cronjob tools\/rbac failed: HTTP 403.*status needs get on cronjobs and list on jobs and pods/,
    });
  },
);

t.test(
  'when --time-zone or several namespaces are given without --schedule then it is a config error',
  async (t) => {
    await t.rejects(status(config({ timeZone: 'UTC' })), {
      exitCode: EXIT.config,
      message: /--time-zone applies to --schedule/,
    });
    // status reads one CronJob: several namespaces (repeated flag, comma list, env twin) are refused by name.
    t.throws(() => toStatusConfig(mergeOptions('status', { namespace: ['a', 'b'] }, {})), {
      exitCode: EXIT.config,
      message: /^--namespace: given 2 times \(a, b\): give it once$/,
    });
    t.throws(() => toStatusConfig(mergeOptions('status', { namespace: 'a,b' }, {})), {
      exitCode: EXIT.config,
      message: /^--namespace: status reads one CronJob in one namespace; give one namespace, not a,b$/,
    });
    t.throws(() => toStatusConfig(mergeOptions('status', {}, { AUTO_UPDATER_NAMESPACE: 'a,b' })), {
      exitCode: EXIT.config,
      message: /^environment variable AUTO_UPDATER_NAMESPACE: status reads one CronJob/,
    });
  },
);

t.test('when --schedule is given then no cluster is contacted', async (t) => {
  const r = await status(
    config({ schedule: '0 0 3 * * *'.slice(2), kubeconfig: '/nonexistent', output: 'text' }),
  );
  t.equal(r.code, EXIT.ok);
  t.match(r.out, /^Schedule {2,}0 3 \* \* \* \(valid\)$/m);
  t.match(r.out, /^Next runs {2,}2026-01-16 03:00 UTC$/m);
  await t.rejects(status(config({ schedule: '0 0 3 * * *' })), {
    exitCode: EXIT.config,
    message: /6 fields/,
  });
});
