// The chart's schedule on the real control plane: `helm install ./chart --set schedule="* * * * *"` and the real
// CronJob controller creates a Job at the next minute, whose pod runs the updater (the bed: chart-bed.ts).

import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import type { Json } from '../harness/node-agent/api.ts';
import { CHART_DIR, startChartBed } from './chart-bed.ts';

const RELEASE_NS = 'updater';
const cb = await startChartBed(t);

if (cb) {
  const b = cb.bed;
  t.test(
    'when the chart is installed with a schedule then the real CronJob controller runs it on time',
    async (t) => {
      await b.namespace(RELEASE_NS, { 'pod-security.kubernetes.io/enforce': 'restricted' });
      const values = join(cb.work, 'values.json');
      writeFileSync(
        values,
        JSON.stringify({
          image: { repository: 'k8s-auto-updater', tag: 'e2e' },
          config: { insecureRegistry: [b.registry.host], output: 'json' },
        }),
      );
      await cb.helm([
        'install',
        'auto-updater',
        CHART_DIR,
        '-n',
        RELEASE_NS,
        '--values',
        values,
        '--set',
        'schedule=* * * * *',
      ]);
      // The next minute boundary, plus the controller's own resync: at most ~70 s.
      const deadline = Date.now() + 80_000;
      let jobs: Json[] = [];
      while (Date.now() < deadline) {
        jobs = (await b.cp.api.must('GET', `/apis/batch/v1/namespaces/${RELEASE_NS}/jobs`)).items ?? [];
        if (jobs.length > 0) break;
        await new Promise((r) => setTimeout(r, 500));
      }
      t.equal(jobs.length, 1, 'one Job on schedule');
      t.match(
        jobs[0]?.metadata.ownerReferences?.[0],
        { kind: 'CronJob', controller: true },
        'made by the CronJob controller',
      );
      t.equal(await cb.jobDone(RELEASE_NS, jobs[0]?.metadata.name), 'Complete', cb.runs.at(-1)?.stderr ?? '');
      t.equal(cb.runs.at(-1)?.code, 0, cb.runs.at(-1)?.stderr ?? '');
    },
  );
}
