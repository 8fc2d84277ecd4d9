// The Helm chart rendered by the real helm: lint, the objects for a matrix of values, what the schema and the
// chart's own checks refuse, and the restricted security defaults.

import { readFileSync } from 'node:fs';
import t, { type Test } from 'tap';
import { parse } from 'yaml';
import { ANNOTATIONS } from '../../lib/model/annotations.ts';
import { requireBin } from '../harness/require-bin.ts';
import { CHART_DIR, container, envOf, find, type Helm, helmRunner, type Manifest } from './helm.ts';

const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as {
  version: string;
};
const BASE = { schedule: '0 3 * * *' };

const helmPath = requireBin(t, 'helm');
let h: Helm;
if (helmPath) {
  h = helmRunner(helmPath);
  t.teardown(() => h.cleanup());
}
const withHelm = (name: string, fn: (t: Test) => Promise<void> | void) => {
  if (helmPath) t.test(name, async (t) => fn(t));
};

function podSpec(objects: Manifest[]): Manifest {
  return find(objects, 'CronJob').spec.jobTemplate.spec.template.spec;
}

function rulesOf(
  o: Manifest,
): { apiGroups: string[]; resources: string[]; verbs: string[]; resourceNames?: string[] }[] {
  return o.rules;
}

function verbsFor(o: Manifest, group: string, resource: string): string[] {
  return rulesOf(o)
    .filter((r) => r.apiGroups.includes(group) && r.resources.includes(resource))
    .flatMap((r) => r.verbs)
    .sort();
}

t.test('when the chart is versioned then Chart.yaml follows package.json', async (t) => {
  const chart = parse(readFileSync(`${CHART_DIR}/Chart.yaml`, 'utf8')) as Record<string, string>;
  t.equal(chart.appVersion, pkg.version, 'appVersion = package version');
  t.equal(chart.version, pkg.version, 'chart version = package version');
  t.equal(chart.apiVersion, 'v2');
  t.equal(chart.kubeVersion, '>=1.27.0-0', 'CronJob timeZone is GA from 1.27');
});

withHelm('when linted strictly with a schedule then helm lint passes', (t) => {
  const r = h.run(['lint', '--strict', CHART_DIR, '--set', 'schedule=0 3 * * *']);
  t.equal(r.code, 0, r.stdout + r.stderr);
});

withHelm(
  'when no schedule is given then rendering fails saying schedule is required and how to set it',
  (t) => {
    const err = h.templateError({});
    t.match(err, /schedule is required: set it with --set schedule=/);
  },
);

withHelm(
  'when rendered with defaults then a Forbid CronJob runs "run" with a non-retrying config error policy',
  (t) => {
    const objects = h.template(BASE);
    t.same(objects.map((o) => o.kind).sort(), ['CronJob', 'Role', 'RoleBinding', 'ServiceAccount']);
    const cj = find(objects, 'CronJob');
    t.equal(cj.metadata.name, 'k8s-auto-updater');
    t.equal(cj.metadata.namespace, 'updater');
    t.equal(cj.spec.schedule, '0 3 * * *');
    t.equal(cj.spec.concurrencyPolicy, 'Forbid');
    t.equal(cj.spec.suspend, false);
    t.notOk('timeZone' in cj.spec, 'no timeZone unless set');
    t.equal(cj.spec.successfulJobsHistoryLimit, 3);
    t.equal(cj.spec.failedJobsHistoryLimit, 3);
    t.equal(cj.spec.startingDeadlineSeconds, 300);
    const job = cj.spec.jobTemplate.spec;
    t.equal(job.backoffLimit, 1);
    t.equal(job.activeDeadlineSeconds, 3600);
    t.same(job.podFailurePolicy.rules, [
      { action: 'FailJob', onExitCodes: { containerName: 'updater', operator: 'In', values: [2] } },
      { action: 'Ignore', onPodConditions: [{ type: 'DisruptionTarget' }] },
    ]);
    const pod = podSpec(objects);
    t.equal(pod.restartPolicy, 'Never');
    t.equal(pod.automountServiceAccountToken, true, 'the pod mounts its token');
    t.equal(pod.serviceAccountName, 'k8s-auto-updater');
    t.equal(find(objects, 'ServiceAccount').automountServiceAccountToken, false, 'the account does not');
    const c = container(objects);
    t.equal(c.name, 'updater');
    t.same(c.args, ['run']);
    t.notOk(c.command, 'the image ENTRYPOINT runs the program; the chart passes only args');
    t.equal(
      c.image,
      `ghcr.io/k8s-auto-updater/k8s-auto-updater:${pkg.version}`,
      'tag defaults to appVersion',
    );
    t.equal(c.terminationMessagePolicy, 'FallbackToLogsOnError');
    const env = c.env as Manifest[];
    t.same(env.find((e) => e.name === 'POD_NAME')?.valueFrom, { fieldRef: { fieldPath: 'metadata.name' } });
    t.same(env.find((e) => e.name === 'POD_NAMESPACE')?.valueFrom, {
      fieldRef: { fieldPath: 'metadata.namespace' },
    });
    t.notOk(
      objects.some((o) => o.kind === 'ConfigMap' || o.kind === 'Secret'),
      'no ConfigMap or Secret is rendered',
    );
  },
);

withHelm('when rendered with defaults then pod and container meet Pod Security "restricted"', (t) => {
  const objects = h.template(BASE);
  const pod = podSpec(objects);
  t.same(pod.securityContext, {
    runAsNonRoot: true,
    runAsUser: 65532,
    runAsGroup: 65532,
    fsGroup: 65532,
    seccompProfile: { type: 'RuntimeDefault' },
  });
  const c = container(objects);
  t.same(c.securityContext, {
    allowPrivilegeEscalation: false,
    readOnlyRootFilesystem: true,
    runAsNonRoot: true,
    capabilities: { drop: ['ALL'] },
  });
  t.same(c.volumeMounts, [{ name: 'tmp', mountPath: '/tmp' }], 'a writable /tmp on the read-only root');
  t.same(pod.volumes, [{ name: 'tmp', emptyDir: { sizeLimit: '64Mi' } }]);
  t.notOk(
    pod.volumes.some((v: Manifest) => v.hostPath),
    'no hostPath without docker mode',
  );
  t.notOk(pod.hostNetwork || pod.hostPID || pod.hostIPC, 'no host namespaces');
});

withHelm('when the release name is long then the CronJob name is cut to 52 characters', (t) => {
  const release = 'a-long-release-name-that-goes-on-and-on-and-on-fine';
  const cj = find(h.template(BASE, { release }), 'CronJob');
  t.ok(cj.metadata.name.length <= 52, cj.metadata.name);
  t.notMatch(cj.metadata.name, /-$/);
});

withHelm('when rbac.scope is namespace then one Role in the release namespace grants digest mode', (t) => {
  const objects = h.template(BASE);
  const role = find(objects, 'Role');
  t.equal(role.metadata.namespace, 'updater');
  t.same(verbsFor(role, '', 'pods'), ['get', 'list', 'watch']);
  t.same(verbsFor(role, '', 'pods/eviction'), ['create']);
  t.same(verbsFor(role, '', 'events'), ['create']);
  t.same(verbsFor(role, '', 'secrets'), ['get']);
  t.same(verbsFor(role, '', 'serviceaccounts'), ['get']);
  t.same(verbsFor(role, 'policy', 'poddisruptionbudgets'), ['list']);
  for (const r of ['replicasets', 'deployments', 'statefulsets', 'daemonsets']) {
    t.same(verbsFor(role, 'apps', r), ['get'], `apps ${r} get`);
  }
  t.same(verbsFor(role, '', 'namespaces'), [], 'no namespace access');
  const allVerbs = rulesOf(role).flatMap((r) => r.verbs);
  t.notOk(allVerbs.includes('delete') || allVerbs.includes('*'), 'never delete, no wildcards');
  t.notOk(
    rulesOf(role).some((r) => r.resources.includes('*') || r.apiGroups.includes('*')),
    'no wildcard resources',
  );
  const binding = find(objects, 'RoleBinding');
  t.same(binding.roleRef, { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'k8s-auto-updater' });
  t.same(binding.subjects, [{ kind: 'ServiceAccount', name: 'k8s-auto-updater', namespace: 'updater' }]);
  t.notOk(envOf(objects).AUTO_UPDATER_NAMESPACE, 'the program defaults to its own namespace');
});

withHelm(
  'when rbac.scope is namespaces then each listed namespace gets a Role bound to the release account',
  (t) => {
    const objects = h.template({ ...BASE, rbac: { scope: 'namespaces', namespaces: ['web', 'api'] } });
    const roles = objects.filter((o) => o.kind === 'Role');
    t.same(
      roles.map((r) => r.metadata.namespace),
      ['web', 'api'],
    );
    const bindings = objects.filter((o) => o.kind === 'RoleBinding');
    t.same(
      bindings.map((b) => b.metadata.namespace),
      ['web', 'api'],
    );
    for (const b of bindings)
      t.equal(b.subjects[0].namespace, 'updater', 'the subject lives in the release namespace');
    t.equal(envOf(objects).AUTO_UPDATER_NAMESPACE, 'web,api', 'the updater checks exactly those namespaces');
    t.notOk(objects.some((o) => o.kind === 'ClusterRole'));
  },
);

withHelm(
  'when rbac.scope is cluster then a ClusterRole covers all namespaces without namespace listing',
  (t) => {
    const objects = h.template({ ...BASE, rbac: { scope: 'cluster' } });
    const role = find(objects, 'ClusterRole');
    t.equal(role.metadata.name, 'updater-k8s-auto-updater', 'prefixed by namespace: unique cluster-wide');
    t.same(verbsFor(role, '', 'pods/eviction'), ['create']);
    t.same(verbsFor(role, '', 'namespaces'), []);
    const binding = find(objects, 'ClusterRoleBinding');
    t.equal(binding.roleRef.kind, 'ClusterRole');
    t.same(binding.subjects, [{ kind: 'ServiceAccount', name: 'k8s-auto-updater', namespace: 'updater' }]);
    t.equal(envOf(objects).AUTO_UPDATER_ALL_NAMESPACES, 'true');
    t.notOk(objects.some((o) => o.kind === 'Role'));
  },
);

withHelm(
  'when cluster scope uses namespaceRegex then namespaces may be listed and all-namespaces is not implied',
  (t) => {
    const objects = h.template({
      ...BASE,
      rbac: { scope: 'cluster' },
      config: { namespaceRegex: 'team-.*' },
    });
    t.same(verbsFor(find(objects, 'ClusterRole'), '', 'namespaces'), ['list']);
    const env = envOf(objects);
    t.equal(env.AUTO_UPDATER_NAMESPACE_REGEX, 'team-.*');
    t.notOk(env.AUTO_UPDATER_ALL_NAMESPACES);
  },
);

withHelm('when rbac.secretNames is set then secret reads are limited to those names', (t) => {
  const role = find(h.template({ ...BASE, rbac: { secretNames: ['regcred', 'ghcr'] } }), 'Role');
  const rule = rulesOf(role).find((r) => r.resources.includes('secrets'));
  t.same(rule?.resourceNames, ['regcred', 'ghcr']);
});

withHelm('when PDB listing is turned off or rbac.create is false then those rules are not rendered', (t) => {
  t.same(
    verbsFor(
      find(h.template({ ...BASE, rbac: { podDisruptionBudgets: false } }), 'Role'),
      'policy',
      'poddisruptionbudgets',
    ),
    [],
  );
  const objects = h.template({
    ...BASE,
    rbac: { create: false },
    serviceAccount: { create: false, name: 'mine' },
  });
  t.same(
    objects.map((o) => o.kind),
    ['CronJob'],
  );
  t.equal(podSpec(objects).serviceAccountName, 'mine');
});

withHelm('when the scope does not cover the selected namespaces then rendering fails with the fix', (t) => {
  t.match(h.templateError({ ...BASE, config: { allNamespaces: true } }), /need rbac\.scope=cluster/);
  t.match(h.templateError({ ...BASE, config: { namespaceRegex: 'a.*' } }), /need rbac\.scope=cluster/);
  t.match(
    h.templateError({ ...BASE, config: { namespace: ['other'] } }),
    /only grants the release namespace/,
  );
  t.match(h.templateError({ ...BASE, rbac: { scope: 'namespaces' } }), /needs rbac\.namespaces/);
  t.match(
    h.templateError({
      ...BASE,
      rbac: { scope: 'namespaces', namespaces: ['a'] },
      config: { namespace: ['b'] },
    }),
    /"b", which is not in rbac\.namespaces/,
  );
});

withHelm(
  'when docker mode is on then the socket is mounted, its group added, and the user stays non-root',
  (t) => {
    const objects = h.template({ ...BASE, docker: { enabled: true, socketGroup: 998 } });
    const pod = podSpec(objects);
    t.same(pod.securityContext.supplementalGroups, [998]);
    t.equal(pod.securityContext.runAsUser, 65532);
    t.equal(pod.securityContext.runAsNonRoot, true);
    t.same(
      pod.volumes.find((v: Manifest) => v.name === 'docker-socket'),
      { name: 'docker-socket', hostPath: { path: '/var/run/docker.sock', type: 'Socket' } },
    );
    t.same(
      container(objects).volumeMounts.find((m: Manifest) => m.name === 'docker-socket'),
      { name: 'docker-socket', mountPath: '/var/run/docker.sock' },
    );
    const env = envOf(objects);
    t.equal(env.AUTO_UPDATER_MODE, 'docker');
    t.equal(env.AUTO_UPDATER_DOCKER_HOST, 'unix:///var/run/docker.sock');
    const role = find(objects, 'Role');
    t.same(rulesOf(role), rulesOf(find(h.template(BASE), 'Role')), 'docker mode adds no RBAC');
  },
);

withHelm('when docker mode is misconfigured then rendering fails with the fix', (t) => {
  t.match(
    h.templateError({ ...BASE, docker: { enabled: true } }),
    /docker\.enabled needs docker\.socketGroup/,
  );
  t.match(h.templateError({ ...BASE, config: { mode: 'docker' } }), /needs docker\.enabled=true/);
  t.match(
    h.templateError({ ...BASE, docker: { enabled: true, socketGroup: 1 }, config: { mode: 'registry' } }),
    /would not use it/,
  );
  const env = envOf(h.template({ ...BASE, config: { mode: 'docker', dockerHost: 'tcp://dind:2376' } }));
  t.equal(env.AUTO_UPDATER_DOCKER_HOST, 'tcp://dind:2376', 'a tcp:// engine needs no socket');
});

withHelm(
  'when existingSecret is set then its config.json is mounted read-only and passed as --docker-config',
  (t) => {
    const objects = h.template({ ...BASE, existingSecret: 'regcred' });
    const pod = podSpec(objects);
    t.same(
      pod.volumes.find((v: Manifest) => v.name === 'registry-credentials'),
      {
        name: 'registry-credentials',
        secret: {
          secretName: 'regcred',
          defaultMode: 0o440,
          items: [{ key: '.dockerconfigjson', path: 'config.json' }],
        },
      },
    );
    t.same(
      container(objects).volumeMounts.find((m: Manifest) => m.name === 'registry-credentials'),
      {
        name: 'registry-credentials',
        mountPath: '/etc/k8s-auto-updater/registry',
        readOnly: true,
      },
    );
    t.equal(envOf(objects).AUTO_UPDATER_DOCKER_CONFIG, '/etc/k8s-auto-updater/registry/config.json');
    t.notOk(
      objects.some((o) => o.kind === 'ConfigMap' || o.kind === 'Secret'),
      'credentials are not inlined',
    );
    t.match(
      h.templateError({ ...BASE, existingSecret: 'regcred', config: { dockerConfig: '/x.json' } }),
      /keep one/,
    );
  },
);

withHelm('when suspend and timeZone are set then the CronJob carries them', (t) => {
  const cj = find(h.template({ ...BASE, suspend: true, timeZone: 'Europe/Berlin' }), 'CronJob');
  t.equal(cj.spec.suspend, true);
  t.equal(cj.spec.timeZone, 'Europe/Berlin');
});

withHelm(
  'when history limits are 0 and deadlines null then 0 is kept and the deadlines are left out',
  (t) => {
    const cj = find(
      h.template({
        ...BASE,
        successfulJobsHistoryLimit: 0,
        failedJobsHistoryLimit: 0,
        startingDeadlineSeconds: null,
        activeDeadlineSeconds: null,
      }),
      'CronJob',
    );
    t.equal(cj.spec.successfulJobsHistoryLimit, 0);
    t.equal(cj.spec.failedJobsHistoryLimit, 0);
    t.notOk('startingDeadlineSeconds' in cj.spec);
    t.notOk('activeDeadlineSeconds' in cj.spec.jobTemplate.spec);
  },
);

withHelm('when extraEnv, extraEnvFrom and pod placement are set then they reach the pod', (t) => {
  const objects = h.template({
    ...BASE,
    extraEnv: [{ name: 'HTTPS_PROXY', value: 'http://proxy:3128' }],
    extraEnvFrom: [{ configMapRef: { name: 'proxy-env' } }],
    nodeSelector: { 'kubernetes.io/os': 'linux' },
    tolerations: [{ key: 'infra', operator: 'Exists', effect: 'NoSchedule' }],
    podAnnotations: { 'example.com/a': 'b' },
    podLabels: { team: 'platform' },
    image: { repository: 'registry.example/updater', tag: '9.9.9', digest: `sha256:${'a'.repeat(64)}` },
  });
  const c = container(objects);
  t.same(c.env.at(-1), { name: 'HTTPS_PROXY', value: 'http://proxy:3128' }, 'extra env comes last');
  t.same(c.envFrom, [{ configMapRef: { name: 'proxy-env' } }]);
  t.equal(c.image, `registry.example/updater:9.9.9@sha256:${'a'.repeat(64)}`);
  const tpl = find(objects, 'CronJob').spec.jobTemplate.spec.template;
  t.same(tpl.spec.nodeSelector, { 'kubernetes.io/os': 'linux' });
  t.same(tpl.spec.tolerations, [{ key: 'infra', operator: 'Exists', effect: 'NoSchedule' }]);
  t.equal(tpl.metadata.annotations['example.com/a'], 'b');
  t.equal(tpl.metadata.labels.team, 'platform');
});

withHelm('when values break the schema then helm refuses them before rendering', (t) => {
  const cases: [string, Record<string, unknown>, RegExp][] = [
    ['a misspelt key', { ...BASE, shedule: '0 3 * * *' }, /Additional property shedule is not allowed/],
    ['a bad concurrencyPolicy', { ...BASE, concurrencyPolicy: 'Sometimes' }, /concurrencyPolicy/],
    ['a negative history limit', { ...BASE, successfulJobsHistoryLimit: -1 }, /successfulJobsHistoryLimit/],
    ['a 6-field schedule', { schedule: '0 0 3 * * *' }, /schedule: Does not match pattern/],
    ['a schedule of words', { schedule: 'every day' }, /schedule: Does not match pattern/],
    [
      'an unknown config key',
      { ...BASE, config: { dryrun: true } },
      /Additional property dryrun is not allowed/,
    ],
    ['a config value of the wrong type', { ...BASE, config: { dryRun: 'yes' } }, /config\.dryRun/],
    [
      'a config integer out of range',
      { ...BASE, config: { parallelWorkloads: 65 } },
      /config\.parallelWorkloads/,
    ],
    ['a bad duration', { ...BASE, config: { podTimeout: '5 minutes' } }, /config\.podTimeout/],
    ['a bad mode', { ...BASE, config: { mode: 'kubelet' } }, /config\.mode/],
    ['the Local time zone', { ...BASE, timeZone: 'Local' }, /timeZone/],
    ['an unknown rbac scope', { ...BASE, rbac: { scope: 'everything' } }, /rbac\.scope/],
    [
      'an unknown nested key',
      { ...BASE, docker: { enable: true } },
      /Additional property enable is not allowed/,
    ],
    ['a root-breaking security key', { ...BASE, securityContext: { privileged: true } }, /privileged/],
  ];
  for (const [name, values, message] of cases) t.match(h.templateError(values), message, name);
});

withHelm('when installed then NOTES give the manual run, logs, suspend, status and the annotations', (t) => {
  const notes = h.notes({ ...BASE, suspend: true }, { release: 'upd', namespace: 'tools' });
  const name = 'upd-k8s-auto-updater';
  t.match(notes, `kubectl create job --from=cronjob/${name} ${name}-manual-$(date +%s) -n tools`);
  t.match(notes, 'kubectl logs -n tools job/');
  t.match(notes, `helm upgrade upd <chart> -n tools --reuse-values --set suspend=true`);
  t.match(notes, `kubectl patch cronjob ${name} -n tools -p '{"spec":{"suspend":false}}'`);
  t.match(notes, `k8s-auto-updater status --cronjob ${name} -n tools`);
  t.match(notes, `${ANNOTATIONS.enabled}: "false"`);
  t.match(notes, `${ANNOTATIONS.enabled}: "true"`);
  t.match(notes, /SUSPENDED/);
  const long = h.notes(BASE, { release: 'x'.repeat(50) });
  const job = /kubectl create job --from=cronjob\/\S+ (\S+)-manual-/.exec(long)?.[1] ?? '';
  t.ok(job.length + '-manual-'.length + 10 <= 63, 'the manual Job name fits 63 characters');
});
