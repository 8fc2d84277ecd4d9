// Digest mode end to end, pods with several images: init containers, sidecars on another registry, the default
// pull policy of :latest and untagged images, and a pod kept because one of its tags could not be resolved.

import t from 'tap';
import { deployment } from '../harness/kube-sim/fixtures.ts';
import { pushImage, startFaultProxy, startRegistry } from '../harness/registry/index.ts';
import { backends, jsonPods, startAnyScenario } from './scenario.ts';

for (const backend of backends()) {
  const always = { imagePullPolicy: 'Always' as const };

  t.test(
    `${backend}: when only an init container tag moved then the pod is stale and its replacement runs the new init image`,
    async (t) => {
      const s = await startAnyScenario(t, backend);
      if (!s) return;
      await pushImage(s.registry, 'shop/app', '1.0', { seed: 'ic-app' });
      await pushImage(s.registry, 'shop/migrate', '1.0', { seed: 'ic-init-v1' });
      s.create(
        'Deployment',
        deployment('web', s.ns, `${s.registry.host}/shop/app:1.0`, {
          replicas: 2,
          container: always,
          initContainers: [
            { name: 'migrate', image: `${s.registry.host}/shop/migrate:1.0`, imagePullPolicy: 'Always' },
          ],
        }),
      );
      await s.ready(2);
      const init2 = await pushImage(s.registry, 'shop/migrate', '1.0', { seed: 'ic-init-v2' });

      const res = await s.run(['--no-events']);
      t.equal(res.code, 0, res.stderr);
      for (const p of res.json.pods) {
        t.equal(p.verdict, 'stale');
        t.same(
          p.containers.map((c: { name: string; init: boolean; verdict: string }) => [
            c.name,
            c.init,
            c.verdict,
          ]),
          [
            ['migrate', true, 'stale'],
            ['app', false, 'current'],
          ],
        );
        t.equal(p.restart.outcome, 'restarted');
        t.match(p.restart.message, /migrate/);
      }
      await s.ready(2);
      for (const p of s.live()) {
        const id: string = p.status.initContainerStatuses[0].imageID;
        t.ok(id.endsWith(init2.digest), 'the replacement ran the new init image');
      }
      t.equal(s.events('ImageUpdated').length, 0, '--no-events records none');
    },
  );

  t.test(
    `${backend}: when the image is :latest or untagged then the default pull policy is Always and the pod is restarted`,
    async (t) => {
      const s = await startAnyScenario(t, backend);
      if (!s) return;
      await pushImage(s.registry, 'shop/edge', 'latest', { seed: 'edge-v1' });
      s.create('Deployment', deployment('tagged', s.ns, `${s.registry.host}/shop/edge:latest`));
      s.create('Deployment', deployment('untagged', s.ns, `${s.registry.host}/shop/edge`));
      await s.ready(2);
      const v2 = await pushImage(s.registry, 'shop/edge', 'latest', { seed: 'edge-v2' });

      const res = await s.run();
      t.equal(res.code, 0, res.stderr);
      t.equal(res.json.summary.stale, 2);
      t.equal(res.json.summary.restarted, 2);
      t.equal(res.json.stats.heads, 1, 'edge and edge:latest are one reference: one HEAD');
      await s.ready(2);
      t.ok(s.live().every((p) => s.digestOf(p) === v2.digest));
    },
  );

  t.test(
    `${backend}: when a stale pod has a sidecar whose registry fails then the pod is kept`,
    async (t) => {
      const s = await startAnyScenario(t, backend);
      if (!s) return;
      const side = await startRegistry({});
      t.teardown(() => side.stop());
      const proxy = await startFaultProxy(side);
      t.teardown(() => proxy.stop());
      await pushImage(s.registry, 'shop/main', '1.0', { seed: 'sc-main-v1' });
      await pushImage(side, 'shop/side', '1.0', { seed: 'sc-side' });
      s.create(
        'Deployment',
        deployment('pair', s.ns, `${s.registry.host}/shop/main:1.0`, {
          container: always,
          containers: [{ name: 'side', image: `${proxy.host}/shop/side:1.0`, imagePullPolicy: 'Always' }],
        }),
      );
      s.create(
        'Deployment',
        deployment('solo', s.ns, `${s.registry.host}/shop/main:1.0`, { container: always }),
      );
      await s.ready(2);
      const main2 = await pushImage(s.registry, 'shop/main', '1.0', { seed: 'sc-main-v2' });
      const pairUid = s.live().find((p) => p.metadata.name!.startsWith('pair-'))!.metadata.uid;
      proxy.set({ match: /\/manifests\//, status: 502 });

      const res = await s.run(['--insecure-registry', proxy.host]);
      t.equal(res.code, 1, 'the failing registry makes the run partial');
      const [pair] = jsonPods(res.json, 'pair');
      t.equal(pair.verdict, 'skipped');
      t.equal(pair.reason, 'registry-unreachable');
      t.match(pair.message, /stale, but kept: container side/);
      t.same(
        pair.containers.map((c: { name: string; verdict: string }) => [c.name, c.verdict]),
        [
          ['app', 'stale'],
          ['side', 'skipped'],
        ],
      );
      t.equal(pair.containers[0].currentDigest, main2.digest);
      t.equal(
        jsonPods(res.json, 'solo')[0].restart?.outcome,
        'restarted',
        'a pod without the sidecar is restarted',
      );
      await s.ready(2);
      t.ok(
        s.live().some((p) => p.metadata.uid === pairUid),
        'the pod with the unknown sidecar was not evicted',
      );
    },
  );
}
