// Real kubectl reading the controllers' status: rollout status for StatefulSets and DaemonSets, rollout restart,
// a Deployment past its progress deadline, and kubectl wait on a Job condition.

import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { daemonSet, deployment, job, statefulSet } from '../harness/kube-sim/fixtures.ts';
import { type Cluster, startCluster } from '../harness/kube-sim/index.ts';
import { requireBin } from '../harness/require-bin.ts';

const kubectlPath = requireBin(t, 'kubectl');

if (kubectlPath) {
  const kubectl = kubectlPath;
  let cluster: Cluster;
  let cacheDir: string;
  let now = Date.now();

  t.before(async () => {
    cluster = await startCluster({
      controllers: {
        now: () => now,
        readyDelayMs: 5,
        terminationDelayMs: 5,
        behaviour: (p) => (p.metadata.labels?.app === 'stuck' ? { neverReady: true } : undefined),
      },
    });
    cacheDir = mkdtempSync(join(tmpdir(), 'kube-sim-kubectl-cache-'));
  });
  t.teardown(async () => {
    await cluster.stop();
    rmSync(cacheDir, { recursive: true, force: true });
  });

  const run = (args: string[]): Promise<{ code: number; stdout: string; stderr: string }> =>
    new Promise((resolve, reject) => {
      execFile(
        kubectl,
        ['--kubeconfig', cluster.kubeconfigPath, '--cache-dir', cacheDir, ...args],
        { timeout: 30_000, env: { ...process.env, KUBECONFIG: '' } },
        (err, stdout, stderr) => {
          if (err && typeof err.code !== 'number') {
            reject(err);
            return;
          }
          resolve({ code: typeof err?.code === 'number' ? err.code : 0, stdout, stderr });
        },
      );
    });

  t.test('when a StatefulSet rolls out then kubectl rollout status reports it rolled out', async (t) => {
    cluster.store.create('apps/statefulsets', statefulSet('db', 'default', 'postgres:16', { replicas: 2 }));
    const first = await run(['rollout', 'status', 'statefulset/db', '--timeout=20s']);
    t.equal(first.code, 0, first.stderr);
    t.match(first.stdout, /partitioned roll out complete|rolling update complete/);
    const set = await run(['set', 'image', 'statefulset/db', 'app=postgres:17']);
    t.equal(set.code, 0, set.stderr);
    const second = await run(['rollout', 'status', 'statefulset/db', '--timeout=20s']);
    t.equal(second.code, 0, second.stderr);
    t.ok(
      cluster.store
        .listRefs('/pods', 'default')
        .filter((p) => p.metadata.labels?.app === 'db')
        .every((p) => p.spec.containers[0].image === 'postgres:17'),
      'both pods run the new image',
    );
  });

  t.test(
    'when kubectl rollout undo targets a StatefulSet then its previous template comes back',
    async (t) => {
      const history = await run(['rollout', 'history', 'statefulset/db']);
      t.equal(history.code, 0, history.stderr);
      t.match(history.stdout, /^1\s/m);
      t.match(history.stdout, /^2\s/m);
      const undo = await run(['rollout', 'undo', 'statefulset/db']);
      t.equal(undo.code, 0, undo.stderr);
      t.equal(
        cluster.store.get('apps/statefulsets', 'default', 'db')!.spec.template.spec.containers[0].image,
        'postgres:16',
      );
      const status = await run(['rollout', 'status', 'statefulset/db', '--timeout=20s']);
      t.equal(status.code, 0, status.stderr);
      const again = await run(['rollout', 'history', 'statefulset/db']);
      t.match(again.stdout, /^3\s/m, 'the restored template is the newest revision');
    },
  );

  t.test('when a DaemonSet rolls out then kubectl rollout status reports it rolled out', async (t) => {
    cluster.store.create('apps/daemonsets', daemonSet('agent', 'default', 'fluentd:1'));
    const res = await run(['rollout', 'status', 'daemonset/agent', '--timeout=20s']);
    t.equal(res.code, 0, res.stderr);
    t.match(res.stdout, /daemon set "agent" successfully rolled out/);
    const set = await run(['set', 'image', 'daemonset/agent', 'app=fluentd:2']);
    t.equal(set.code, 0, set.stderr);
    const again = await run(['rollout', 'status', 'daemonset/agent', '--timeout=20s']);
    t.equal(again.code, 0, again.stderr);
    const history = await run(['rollout', 'history', 'daemonset/agent']);
    t.equal(history.code, 0, history.stderr);
    t.match(history.stdout, /^2\s/m, 'a ControllerRevision per template');
  });

  t.test(
    'when kubectl rollout restart runs then the Deployment gets a new ReplicaSet and completes',
    async (t) => {
      cluster.store.create('apps/deployments', deployment('web', 'default', 'nginx:1.25', { replicas: 2 }));
      const ready = await run(['rollout', 'status', 'deployment/web', '--timeout=20s']);
      t.equal(ready.code, 0, ready.stderr);
      const restart = await run(['rollout', 'restart', 'deployment/web']);
      t.equal(restart.code, 0, restart.stderr);
      const done = await run(['rollout', 'status', 'deployment/web', '--timeout=20s']);
      t.equal(done.code, 0, done.stderr);
      const history = await run(['rollout', 'history', 'deployment/web']);
      t.equal(history.code, 0, history.stderr);
      t.match(history.stdout, /^1\s/m);
      t.match(history.stdout, /^2\s/m);
    },
  );

  t.test(
    'when pods never become ready then kubectl rollout status fails on the progress deadline',
    async (t) => {
      cluster.store.create(
        'apps/deployments',
        deployment('stuck', 'default', 'nginx:1.25', { replicas: 1, spec: { progressDeadlineSeconds: 60 } }),
      );
      await cluster.controllers!.settle(
        (s) => s.get('apps/deployments', 'default', 'stuck')?.status?.replicas === 1,
      );
      now += 61_000;
      cluster.controllers!.resync();
      const res = await run(['rollout', 'status', 'deployment/stuck', '--timeout=20s']);
      t.not(res.code, 0);
      t.match(res.stderr, /exceeded its progress deadline/);
    },
  );

  t.test('when a Job completes then kubectl wait --for=condition=complete returns', async (t) => {
    cluster.store.create('batch/jobs', job('once', 'default', 'busybox:1.36'));
    const res = await run(['wait', '--for=condition=complete', 'job/once', '--timeout=20s']);
    t.equal(res.code, 0, res.stderr);
    t.match(res.stdout, /job.batch\/once condition met/);
  });
}
