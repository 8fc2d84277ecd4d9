// The users' path end to end on the real control plane: the real `helm install ./chart` into a namespace that
// enforces the restricted Pod Security level (the real admission must accept the Job's pod), `kubectl create job
// --from=cronjob/…` by hand, the real Job controller creating the pod, the real scheduler binding it, and the node
// agent running its container as the updater with the pod's own token — under the chart's RBAC, judged by the real
// RBAC authorizer — evicting stale pods behind a real PodDisruptionBudget. Then `helm upgrade --set suspend=true`
// and a manual run that still works; and a chart without RBAC, refused.

import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { EXIT } from '../../lib/shared/errors.ts';
import { deployment, pdb } from '../harness/kube-sim/fixtures.ts';
import { pushImage } from '../harness/registry/index.ts';
import { CHART_DIR, startChartBed } from './chart-bed.ts';

const RELEASE = 'auto-updater';
const RELEASE_NS = 'updater';
const APPS = 'apps';

const cb = await startChartBed(t);

if (cb) {
  const b = cb.bed;
  const { runs } = cb;
  const image = { repository: 'k8s-auto-updater', tag: 'e2e' };

  t.test(
    'when the chart is installed with helm and a manual Job runs then stale pods are evicted behind their PDB',
    async (t) => {
      await b.namespace(RELEASE_NS, {
        'pod-security.kubernetes.io/enforce': 'restricted',
        'pod-security.kubernetes.io/enforce-version': 'latest',
      });
      const apps = await b.namespace(APPS);
      await pushImage(b.registry, 'apps/web', '1.0', { seed: 'web-v1' });
      await apps.create(
        deployment('web', APPS, `${b.registry.host}/apps/web:1.0`, {
          replicas: 2,
          container: { imagePullPolicy: 'Always' },
        }),
      );
      await apps.create(pdb('web', APPS, { app: 'web' }, { minAvailable: 1 }));
      const before = (await apps.ready(2)).map((p) => p.metadata.uid);
      const v2 = await pushImage(b.registry, 'apps/web', '1.0', { seed: 'web-v2' });

      const values = join(cb.work, 'values.json');
      writeFileSync(
        values,
        JSON.stringify({
          image,
          rbac: { scope: 'namespaces', namespaces: [APPS] },
          config: { insecureRegistry: [b.registry.host], podTimeout: '30s', output: 'json' },
        }),
      );
      const out = await cb.helm([
        'install',
        RELEASE,
        CHART_DIR,
        '-n',
        RELEASE_NS,
        '--values',
        values,
        '--set',
        'schedule=*/10 * * * *',
      ]);
      t.match(out, /STATUS: deployed/);
      const cronjob = JSON.parse(await cb.kubectl(['get', 'cronjobs', '-n', RELEASE_NS, '-o', 'json']))
        .items[0];
      t.equal(cronjob.spec.schedule, '*/10 * * * *');

      await cb.kubectl([
        'create',
        'job',
        `--from=cronjob/${cronjob.metadata.name}`,
        'manual-1',
        '-n',
        RELEASE_NS,
      ]);
      t.equal(
        await cb.jobDone(RELEASE_NS, 'manual-1'),
        'Complete',
        JSON.stringify(runs.map((r) => r.stderr)),
      );
      t.equal(runs.length, 1, 'the container ran once');
      const run = runs[0]!;
      t.same(run.args, ['run'], 'the chart passes only args; the image entrypoint is the program');
      t.equal(run.code, 0, run.stderr);
      t.match(run.record?.summary, { pods: 2, stale: 2, restarted: 2, failed: 0 });
      const after = await apps.ready(2);
      t.equal(after.filter((p) => before.includes(p.metadata.uid)).length, 0, 'both pods were replaced');
      t.ok(
        after.every((p) => apps.digestOf(p) === v2.digest),
        'the replacements run the new digest',
      );
      t.ok((await apps.events('ImageUpdated')).length > 0, 'events were recorded under the chart Role');

      // Suspended: the CronJob stays, scheduled runs stop, a manual Job still works.
      await cb.helm([
        'upgrade',
        RELEASE,
        CHART_DIR,
        '-n',
        RELEASE_NS,
        '--reuse-values',
        '--set',
        'suspend=true',
      ]);
      const suspended = JSON.parse(
        await cb.kubectl(['get', 'cronjob', cronjob.metadata.name, '-n', RELEASE_NS, '-o', 'json']),
      );
      t.equal(suspended.spec.suspend, true);
      await cb.kubectl([
        'create',
        'job',
        `--from=cronjob/${cronjob.metadata.name}`,
        'manual-2',
        '-n',
        RELEASE_NS,
      ]);
      t.equal(await cb.jobDone(RELEASE_NS, 'manual-2'), 'Complete', runs.at(-1)?.stderr ?? '');
      t.match(runs.at(-1)?.record?.summary, { pods: 2, current: 2, restarted: 0 });
    },
  );

  t.test(
    'when the chart creates no RBAC then the real authorizer refuses the run and the Job fails',
    async (t) => {
      await b.namespace('norbac', { 'pod-security.kubernetes.io/enforce': 'restricted' });
      const values = join(cb.work, 'values-norbac.json');
      writeFileSync(
        values,
        JSON.stringify({
          image,
          rbac: { create: false, scope: 'namespaces', namespaces: [APPS] },
          backoffLimit: 0,
        }),
      );
      await cb.helm([
        'install',
        'bare',
        CHART_DIR,
        '-n',
        'norbac',
        '--values',
        values,
        '--set',
        'schedule=@daily',
      ]);
      const cronjob = JSON.parse(await cb.kubectl(['get', 'cronjobs', '-n', 'norbac', '-o', 'json']))
        .items[0];
      const n = runs.length;
      await cb.kubectl([
        'create',
        'job',
        `--from=cronjob/${cronjob.metadata.name}`,
        'manual-3',
        '-n',
        'norbac',
      ]);
      const run = await cb.ranTimes(n + 1);
      t.equal(run.code, EXIT.failure);
      t.match(run.stderr, /403|forbidden/i, 'the pod token is the ServiceAccount one, and RBAC is enforced');
      t.equal(await cb.jobDone('norbac', 'manual-3'), 'Failed');
    },
  );
}
