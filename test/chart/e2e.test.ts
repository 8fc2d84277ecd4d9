// End to end on the API simulator: the chart rendered by the real helm, its objects created in the simulated
// cluster, a manual Job made by the real kubectl (`create job --from=cronjob/...`), and the simulated kubelet
// running that Job's container as the updater, with the pod's env and args and its ServiceAccount's token as
// in-cluster config. The updater must restart a stale pod under the chart's RBAC and the Job must complete.

import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import { main } from '../../lib/cli/main.ts';
import { parseRunRecord, type RunRecord } from '../../lib/report/record.ts';
import { EXIT } from '../../lib/shared/errors.ts';
import { deployment } from '../harness/kube-sim/fixtures.ts';
import { type Cluster, startCluster } from '../harness/kube-sim/index.ts';
import type { KObject, Store } from '../harness/kube-sim/store.ts';
import { pushImage, type Registry, startRegistry } from '../harness/registry/index.ts';
import { requireBin } from '../harness/require-bin.ts';
import { sink } from '../scenarios/scenario.ts';
import { helmRunner, type Manifest } from './helm.ts';

const RELEASE_NS = 'k8s-auto-updater';
const APPS = 'apps';
const CRONJOB = 'k8s-auto-updater';

const KEYS: Record<string, string> = {
  ServiceAccount: '/serviceaccounts',
  Role: 'rbac.authorization.k8s.io/roles',
  RoleBinding: 'rbac.authorization.k8s.io/rolebindings',
  ClusterRole: 'rbac.authorization.k8s.io/clusterroles',
  ClusterRoleBinding: 'rbac.authorization.k8s.io/clusterrolebindings',
  CronJob: 'batch/cronjobs',
};

interface Run {
  pod: string;
  args: string[];
  code: number;
  record: RunRecord | undefined;
  stderr: string;
}

interface Bed {
  cluster: Cluster;
  registry: Registry;
  kubectl: string;
  runs: Run[];
  /** Renders the chart with these values and creates its objects in the cluster. */
  install(values: Record<string, unknown>): Manifest[];
  /** `kubectl create job --from=cronjob/<name> <job>`; rejects with kubectl's stderr on failure. */
  createJob(job: string): Promise<void>;
  /** Waits until the Job has the condition (Complete or Failed). */
  jobDone(job: string, timeoutMs?: number): Promise<string>;
}

function jobCondition(store: Store, name: string): string | undefined {
  const job = store.get('batch/jobs', RELEASE_NS, name);
  return job?.status?.conditions?.find(
    (c: KObject) => c.status === 'True' && ['Complete', 'Failed'].includes(c.type),
  )?.type;
}

/**
 * The container runtime for the updater's image: what `node /app/bin/k8s-auto-updater.js <args>` does in a pod,
 * in-process, with in-cluster config from a service-account directory holding the pod's own token.
 */
async function runContainer(
  cluster: Cluster,
  dir: string,
  pod: KObject,
  container: KObject,
  env: Record<string, string>,
): Promise<Run> {
  const name = pod.metadata.name!;
  const sa = join(dir, name);
  const token = cluster.serviceAccountToken(
    pod.metadata.namespace!,
    pod.spec.serviceAccountName ?? 'default',
  );
  rmSync(sa, { recursive: true, force: true });
  mkdirSync(sa, { recursive: true });
  writeFileSync(join(sa, 'token'), token);
  writeFileSync(join(sa, 'ca.crt'), cluster.caPem);
  writeFileSync(join(sa, 'namespace'), pod.metadata.namespace!);
  const termination = join(sa, 'termination-log');
  const url = new URL(cluster.url);
  const processEnv: NodeJS.ProcessEnv = {
    ...env,
    HOSTNAME: name,
    KUBERNETES_SERVICE_HOST: url.hostname,
    KUBERNETES_SERVICE_PORT: url.port,
    AUTO_UPDATER_TERMINATION_LOG: termination,
  };
  const args: string[] = container.args ?? [];
  const err = sink();
  // The program itself, as the image's entrypoint runs it: main() parses the container's args and env (the chart's
  // AUTO_UPDATER_* twins), validates, runs and maps the exit code; only the service-account mount is a seam.
  const code = await main(
    args,
    processEnv,
    { stdout: sink().stream, stderr: err.stream },
    { serviceAccountDir: sa },
  );
  let record: RunRecord | undefined;
  try {
    record = parseRunRecord(readFileSync(termination, 'utf8'));
  } catch {
    record = undefined;
  }
  return { pod: name, args, code, record, stderr: err.text() };
}

async function startBed(t: Test): Promise<Bed | undefined> {
  const helmPath = requireBin(t, 'helm');
  const kubectl = requireBin(t, 'kubectl');
  const registryBin = requireBin(t, 'docker-registry');
  if (!helmPath || !kubectl || !registryBin) return undefined;
  const helm = helmRunner(helmPath);
  t.teardown(() => helm.cleanup());
  const registry = await startRegistry({});
  t.teardown(() => registry.stop());
  const dir = mkdtempSync(join(tmpdir(), 'chart-e2e-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const runs: Run[] = [];
  let cluster: Cluster | undefined;
  cluster = await startCluster({
    controllers: {
      readyDelayMs: 10,
      execute: async (pod, container, env) => {
        const run = await runContainer(cluster!, dir, pod, container, env);
        runs.push(run);
        return run.code;
      },
    },
  });
  t.teardown(() => cluster?.stop());
  const c = cluster;
  for (const ns of [RELEASE_NS, APPS]) {
    c.store.create('/namespaces', { metadata: { name: ns } });
    c.store.create('/serviceaccounts', { metadata: { name: 'default', namespace: ns } });
  }
  return {
    cluster: c,
    registry,
    kubectl,
    runs,
    install(values) {
      const objects = helm.template(values, { namespace: RELEASE_NS });
      for (const o of objects) {
        const key = KEYS[o.kind];
        if (!key) throw new Error(`e2e: no store key for rendered ${o.kind}`);
        c.store.create(key, o as KObject);
      }
      return objects;
    },
    // Asynchronous: the simulated API server runs in this process and must keep answering while kubectl waits.
    createJob(job) {
      const argv = [
        '--kubeconfig',
        c.kubeconfigPath,
        'create',
        'job',
        `--from=cronjob/${CRONJOB}`,
        job,
        '-n',
        RELEASE_NS,
      ];
      return new Promise((resolve, reject) => {
        execFile(kubectl, argv, { timeout: 30_000 }, (err, _stdout, stderr) =>
          err ? reject(new Error(`kubectl create job failed: ${stderr || err.message}`)) : resolve(),
        );
      });
    },
    async jobDone(job, timeoutMs = 60_000) {
      await c.controllers!.waitFor((s) => jobCondition(s, job) !== undefined, timeoutMs);
      return jobCondition(c.store, job)!;
    },
  };
}

function values(registry: Registry, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    schedule: '*/5 * * * *',
    image: { repository: 'k8s-auto-updater', tag: 'e2e' },
    rbac: { scope: 'namespaces', namespaces: [APPS] },
    config: { insecureRegistry: [registry.host], podTimeout: '20s', output: 'json' },
    ...extra,
  };
}

function webPods(store: Store): KObject[] {
  return store
    .list('/pods', APPS)
    .filter((p) => p.metadata.labels?.app === 'web' && !p.metadata.deletionTimestamp);
}

function isReady(p: KObject): boolean {
  return (
    p.status?.phase === 'Running' &&
    (p.status?.conditions ?? []).some((c: KObject) => c.type === 'Ready' && c.status === 'True')
  );
}

t.test(
  'when a manual Job runs from the chart CronJob then the stale pod is restarted under the chart RBAC and the Job completes',
  async (t) => {
    const bed = await startBed(t);
    if (!bed) return;
    const { cluster, registry } = bed;
    const ctl = cluster.controllers!;
    await pushImage(registry, 'apps/web', '1.0', { format: 'docker', seed: 'web-v1' });
    cluster.store.create(
      'apps/deployments',
      deployment('web', APPS, `${registry.host}/apps/web:1.0`, { container: { imagePullPolicy: 'Always' } }),
    );
    await ctl.waitFor((s) => {
      const pods = s.listRefs('/pods', APPS);
      return pods.length === 1 && pods.every(isReady);
    }, 15_000);
    const before = webPods(cluster.store)[0]!;
    const v2 = await pushImage(registry, 'apps/web', '1.0', { format: 'docker', seed: 'web-v2' });

    bed.install(values(registry));
    await bed.createJob(`${CRONJOB}-manual-1`);
    t.equal(
      await bed.jobDone(`${CRONJOB}-manual-1`),
      'Complete',
      JSON.stringify(bed.runs.map((r) => r.stderr)),
    );

    t.equal(bed.runs.length, 1, 'the container ran once');
    const run = bed.runs[0]!;
    t.same(run.args, ['run'], 'the chart passes only args; the image entrypoint is the program');
    t.equal(run.code, 0, run.stderr);
    t.match(
      run.record?.summary,
      { pods: 1, stale: 1, restarted: 1, failed: 0 },
      'the run record says one restart',
    );
    await ctl.waitFor((s) => {
      const pods = s.listRefs('/pods', APPS).filter((p) => !p.metadata.deletionTimestamp);
      return pods.length === 1 && pods.every(isReady);
    }, 15_000);
    const after = webPods(cluster.store)[0]!;
    t.not(after.metadata.uid, before.metadata.uid, 'the stale pod was replaced');
    t.match(after.status.containerStatuses[0].imageID, v2.digest, 'the replacement runs the new digest');
    const events = cluster.store.list('/events', APPS);
    t.ok(events.length > 0, 'an Event was recorded with the chart Role');
  },
);

t.test(
  'when the CronJob is suspended then nothing runs on schedule but a manual Job still does',
  async (t) => {
    const bed = await startBed(t);
    if (!bed) return;
    const { cluster, registry } = bed;
    const ctl = cluster.controllers!;
    bed.install(values(registry, { suspend: true }));
    const jobs = () => cluster.store.list('batch/jobs', RELEASE_NS).map((j) => j.metadata.name);
    // Well past several */5 schedule times.
    const later = new Date(Date.now() + 30 * 60_000);
    ctl.cronjobs.tick(later);
    await ctl.settle();
    t.same(jobs(), [], 'no Job on schedule while suspended');

    await bed.createJob(`${CRONJOB}-manual-2`);
    t.equal(await bed.jobDone(`${CRONJOB}-manual-2`), 'Complete');
    t.equal(bed.runs.at(-1)?.code, 0, bed.runs.at(-1)?.stderr ?? '');
    t.match(bed.runs.at(-1)?.record?.summary, { pods: 0, restarted: 0 });

    // The same tick schedules a Job once resumed: the check above could have failed.
    const cj = cluster.store.get('batch/cronjobs', RELEASE_NS, CRONJOB)!;
    cj.spec.suspend = false;
    cluster.store.update('batch/cronjobs', cj);
    ctl.cronjobs.tick(later);
    await ctl.waitFor(() => jobs().length === 2, 10_000);
    t.equal(jobs().filter((n) => n !== `${CRONJOB}-manual-2`).length, 1, 'resumed: one scheduled Job');
  },
);

t.test(
  'when the chart creates no RBAC then the run is refused by the API, exits 1 and the Job fails',
  async (t) => {
    const bed = await startBed(t);
    if (!bed) return;
    const { cluster, registry } = bed;
    bed.install(
      values(registry, { rbac: { create: false, scope: 'namespaces', namespaces: [APPS] }, backoffLimit: 0 }),
    );
    await bed.createJob(`${CRONJOB}-manual-3`);
    t.equal(await bed.jobDone(`${CRONJOB}-manual-3`), 'Failed');
    const run = bed.runs.at(-1);
    t.equal(run?.code, EXIT.failure);
    t.match(
      run?.stderr ?? '',
      /403|forbidden/i,
      'the token is the pod ServiceAccount one, and RBAC is enforced',
    );
    t.equal(cluster.store.list('batch/jobs', RELEASE_NS).length, 1);
  },
);

t.test(
  'when the chart is installed with its default scope then the updater checks its own namespace',
  async (t) => {
    const bed = await startBed(t);
    if (!bed) return;
    const { cluster, registry } = bed;
    const ctl = cluster.controllers!;
    await pushImage(registry, 'tools/api', '2', { format: 'docker', seed: 'api-v1' });
    cluster.store.create(
      'apps/deployments',
      deployment('api', RELEASE_NS, `${registry.host}/tools/api:2`, {
        container: { imagePullPolicy: 'Always' },
      }),
    );
    await ctl.waitFor((s) => s.listRefs('/pods', RELEASE_NS).some(isReady), 15_000);
    await pushImage(registry, 'tools/api', '2', { format: 'docker', seed: 'api-v2' });
    const { rbac: _r, ...defaults } = values(registry);
    bed.install(defaults);
    await bed.createJob(`${CRONJOB}-manual-4`);
    t.equal(await bed.jobDone(`${CRONJOB}-manual-4`), 'Complete', bed.runs.at(-1)?.stderr ?? '');
    t.equal(bed.runs.at(-1)?.code, 0, bed.runs.at(-1)?.stderr ?? '');
    // Its own Job pod is in that namespace too, and is never a candidate.
    t.match(bed.runs.at(-1)?.record?.summary, { stale: 1, restarted: 1, failed: 0 });
  },
);
