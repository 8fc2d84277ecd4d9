// The real control plane's test bed itself: the node agent behaves like a kubelet where the updater depends on it
// (pull policy and the node image cache, Job pods to success and failure through the real Job controller, scripted
// crash loops, graceful deletion), the real admission enforces Pod Security, and `up`/`down` leave nothing behind.

import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import t from 'tap';
import { parseImageReference } from '../../lib/image/reference.ts';
import { migrationJob } from '../../lib/plan/update.ts';
import { barePod, deployment, job } from '../harness/kube-sim/fixtures.ts';
import type { Json } from '../harness/node-agent/api.ts';
import { pushImage } from '../harness/registry/index.ts';
import { requireBin } from '../harness/require-bin.ts';
import { startBed } from './bed.ts';

const run = promisify(execFile);
const bed = await startBed(t);

async function jobCondition(get: () => Promise<Json>, timeoutMs = 30_000): Promise<string> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const j = await get();
    const c = (j?.status?.conditions ?? []).find(
      (x: Json) => x.status === 'True' && (x.type === 'Complete' || x.type === 'Failed'),
    );
    if (c) return c.type;
    if (Date.now() > deadline)
      throw new Error(`job not done after ${timeoutMs} ms: ${JSON.stringify(j?.status)}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

if (bed) {
  const b = bed;

  t.test(
    'when pods start then the agent pulls per node honouring imagePullPolicy and reports the imageID',
    async (t) => {
      const ns = await b.namespace('agent-pull');
      const pushed = await pushImage(b.registry, 'agent/app', '1.0', { seed: 'agent-v1' });
      const image = `${b.registry.host}/agent/app:1.0`;
      const before = b.cp.agent?.images.pulls.length ?? 0;
      await ns.create(
        barePod('one', ns.name, image, {
          nodeName: 'node-a',
          container: { imagePullPolicy: 'IfNotPresent' },
        }),
      );
      await ns.ready(1);
      await ns.create(
        barePod('two', ns.name, image, {
          nodeName: 'node-a',
          container: { imagePullPolicy: 'IfNotPresent' },
        }),
      );
      await ns.ready(2);
      const pulls = (b.cp.agent?.images.pulls ?? []).slice(before);
      t.equal(pulls.length, 1, 'the second pod on the node reuses the cached image');
      const pods = await ns.live();
      t.equal(pods.length, 2);
      for (const p of pods) {
        t.equal(
          p.status.containerStatuses[0].imageID,
          `${b.registry.host}/agent/app@${pushed.digest}`,
          p.metadata.name,
        );
      }
    },
  );

  t.test('when Job pods exit 0 or 1 then the real Job controller completes or fails the Job', async (t) => {
    const ns = await b.namespace('agent-jobs');
    await pushImage(b.registry, 'agent/task', '1.0', { seed: 'task' });
    const image = `${b.registry.host}/agent/task:1.0`;
    await ns.create(job('ok', ns.name, image, { spec: { backoffLimit: 0 } }));
    const failing = job('bad', ns.name, image, { spec: { backoffLimit: 0 } });
    failing.spec.template.metadata.annotations = { 'sim.k8s-auto-updater.io/exit-code': '1' };
    await ns.create(failing);
    t.equal(await jobCondition(() => ns.get('Job', 'ok')), 'Complete');
    t.equal(await jobCondition(() => ns.get('Job', 'bad')), 'Failed');
  });

  t.test(
    'when a pod is scripted to crash-loop then its status shows CrashLoopBackOff with restarts',
    async (t) => {
      const ns = await b.namespace('agent-crash');
      await pushImage(b.registry, 'agent/crash', '1.0', { seed: 'crash' });
      const d = deployment('crash', ns.name, `${b.registry.host}/agent/crash:1.0`, { replicas: 1 });
      d.spec.template.metadata.annotations = { 'sim.k8s-auto-updater.io/crash-loop': 'true' };
      await ns.create(d);
      const pods = await ns.until('a restart', (ps) =>
        ps.some((p) => p.status?.containerStatuses?.[0]?.restartCount >= 1),
      );
      t.equal(pods[0].status.containerStatuses[0].ready, false);
    },
  );

  t.test(
    'when a namespace enforces the restricted Pod Security level then the real admission refuses a root pod',
    async (t) => {
      const ns = await b.namespace('agent-psa', { 'pod-security.kubernetes.io/enforce': 'restricted' });
      await pushImage(b.registry, 'agent/psa', '1.0', { seed: 'psa' });
      const err = await ns
        .create(barePod('root', ns.name, `${b.registry.host}/agent/psa:1.0`))
        .catch((e: Error) => e);
      t.match(err, { status: 403, message: /violates PodSecurity .*restricted/ });
    },
  );

  t.test(
    'when a Job is cloned then the real API server refuses a naive copy and accepts a migration copy',
    async (t) => {
      const ns = await b.namespace('agent-clone');
      const template = job('tpl', ns.name, 'reg.io/app:1');
      template.spec.suspend = true;
      const tpl = await ns.create(template);
      t.same(tpl.spec.selector, { matchLabels: { 'batch.kubernetes.io/controller-uid': tpl.metadata.uid } });
      const naive = structuredClone(tpl);
      naive.metadata = { name: 'naive', namespace: ns.name };
      delete naive.status;
      const refused = await ns.create(naive).catch((e: Error) => e);
      t.match(refused, {
        status: 422,
        message: /is invalid: \[spec\.template\.metadata\.labels\[controller-uid\]: .* must be '/,
      });
      const copy = await ns.create(
        migrationJob(tpl, parseImageReference('reg.io/app:2'), 'reg.io/app:2', 'abcdef0123'),
      );
      t.equal(copy.metadata.name, 'tpl-abcdef01');
      t.match(copy.spec.template.metadata.labels, {
        'job-name': 'tpl-abcdef01',
        'controller-uid': copy.metadata.uid,
      });
      const long = await ns.create(job('a'.repeat(64), ns.name, 'x:1')).catch((e: Error) => e);
      t.match(long, { status: 422, message: /must be no more than 63 characters/ });
    },
  );

  t.test(
    'when the nodes are listed then they carry the arch/os labels and the pinned release as kubelet version',
    async (t) => {
      const nodes = (await b.cp.api.must('GET', '/api/v1/nodes')).items as Json[];
      t.same(nodes.map((n) => n.metadata.name).sort(), ['node-a', 'node-b']);
      for (const n of nodes) {
        t.match(n.metadata.labels, { 'kubernetes.io/arch': 'amd64', 'kubernetes.io/os': 'linux' });
        t.equal(n.status.nodeInfo.kubeletVersion, b.cp.release);
      }
      const leases = await b.cp.api.must(
        'GET',
        '/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases',
      );
      t.same(leases.items.map((l: Json) => l.spec.holderIdentity).sort(), ['node-a', 'node-b']);
    },
  );
}

t.test(
  'when `up` and `down` run then the cluster answers kubectl and no process is left behind',
  async (t) => {
    const kubectl = requireBin(t, 'kubectl');
    if (!bed || !kubectl) return;
    const dir = mkdtempSync(join(tmpdir(), 'cp-up-'));
    t.teardown(() => rmSync(dir, { recursive: true, force: true }));
    const script = new URL('../../scripts/control-plane.ts', import.meta.url).pathname;
    const up = await run(process.execPath, [script, 'up', dir], { timeout: 120_000 });
    t.match(up.stdout, /control plane v\d+\.\d+\.\d+ up in/);
    const pids = Object.values(JSON.parse(readFileSync(join(dir, 'state.json'), 'utf8')).pids) as number[];
    t.equal(pids.length, 5, 'etcd, apiserver, controller-manager, scheduler, node agent');
    try {
      const { stdout } = await run(kubectl, [
        '--kubeconfig',
        join(dir, 'kubeconfig'),
        'get',
        'nodes',
        '-o',
        'name',
      ]);
      t.same(stdout.trim().split('\n').sort(), ['node/node-a', 'node/node-b']);
    } finally {
      const down = await run(process.execPath, [script, 'down', dir], { timeout: 60_000 });
      t.match(down.stdout, /stopped/);
    }
    const alive = pids.filter((pid) => {
      try {
        process.kill(pid, 0);
        return true;
      } catch {
        return false;
      }
    });
    t.same(alive, [], 'every process `up` started is gone');
  },
);
