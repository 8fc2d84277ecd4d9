import t from 'tap';
import { requireRoot, startDockerd, startPodman } from '../harness/engine/index.ts';
import { deployment } from '../harness/kube-sim/fixtures.ts';
import { pushImage } from '../harness/registry/index.ts';
import { requireBin } from '../harness/require-bin.ts';
import { startScenario } from './scenario.ts';

// The whole CLI in docker mode: same planner, same restarter, same output as registry mode; only the digest source
// differs (a re-pull through a real engine).
for (const [name, start] of [
  ['dockerd', startDockerd],
  ['podman', startPodman],
] as const) {
  t.test(
    `when a tag moves then --mode docker through ${name} restarts the Deployment on the new digest`,
    async (t) => {
      if (!requireRoot(t, name) || !requireBin(t, name)) return;
      const s = await startScenario(t, { controllers: { runtime: 'docker' } });
      if (!s) return;
      const engine = await start();
      t.teardown(() => engine.stop());
      const v1 = await pushImage(s.registry, 'shop/api', '2.0', { format: 'docker', seed: `${name}-v1` });
      const image = `${s.registry.host}/shop/api:2.0`;
      s.create(
        'Deployment',
        deployment('api', s.ns, image, { replicas: 2, container: { imagePullPolicy: 'Always' } }),
      );
      await s.ready(2);
      t.ok(
        s
          .pods()
          .every(
            (p) =>
              p.status.containerStatuses[0].imageID ===
              `docker-pullable://${s.registry.host}/shop/api@${v1.digest}`,
          ),
      );

      const same = await s.run(['--mode', 'docker', '--docker-host', engine.host]);
      t.equal(same.code, 0, same.stderr);
      t.equal(same.json.summary.current, 2, 'unchanged tag: current');
      t.equal(same.json.mode, 'docker');

      const v2 = await pushImage(s.registry, 'shop/api', '2.0', { format: 'docker', seed: `${name}-v2` });
      const res = await s.run(['--mode', 'docker', '--docker-host', engine.host]);
      t.equal(res.code, 0, res.stderr);
      t.equal(res.json.summary.stale, 2);
      t.equal(res.json.summary.restarted, 2);
      t.equal(res.json.pods[0].containers[0].currentDigest, v2.digest);
      await s.ready(2);
      t.ok(
        s.pods().every((p) => p.status.containerStatuses[0].imageID.endsWith(v2.digest)),
        'replacements run v2',
      );
    },
  );
}

t.test('when the engine is down then docker mode keeps every pod and exits 1', async (t) => {
  const s = await startScenario(t, { controllers: { runtime: 'docker' } });
  if (!s) return;
  await pushImage(s.registry, 'shop/api', '2.0', { format: 'docker', seed: 'down-v1' });
  s.create(
    'Deployment',
    deployment('api', s.ns, `${s.registry.host}/shop/api:2.0`, {
      replicas: 1,
      container: { imagePullPolicy: 'Always' },
    }),
  );
  await s.ready(1);
  await pushImage(s.registry, 'shop/api', '2.0', { format: 'docker', seed: 'down-v2' });
  const uids = s.pods().map((p) => p.metadata.uid);
  const res = await s.run(['--mode', 'docker', '--docker-host', 'unix:///nonexistent/docker.sock']);
  t.equal(res.code, 1);
  t.equal(res.json.summary.stale, 0, 'unknown means keep');
  t.equal(res.json.pods[0].reason, 'registry-unreachable');
  t.ok(res.json.warnings.length > 0, 'the engine fault is reported');
  t.same(
    s.pods().map((p) => p.metadata.uid),
    uids,
    'no pod was touched',
  );
});
