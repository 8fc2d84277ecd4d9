import t from 'tap';
import { deployment } from '../harness/kube-sim/fixtures.ts';
import { pushImage } from '../harness/registry/index.ts';
import { backends, startAnyScenario } from './scenario.ts';

for (const backend of backends()) {
  t.test(
    `${backend}: when a Deployment tag moves then its pods are evicted one at a time and come back on the new digest`,
    async (t) => {
      const s = await startAnyScenario(t, backend);
      if (!s) return;
      const v1 = await pushImage(s.registry, 'shop/web', '1.0', { format: 'docker', seed: 'web-v1' });
      const image = `${s.registry.host}/shop/web:1.0`;
      s.create(
        'Deployment',
        deployment('web', s.ns, image, { replicas: 3, container: { imagePullPolicy: 'Always' } }),
      );
      await s.ready(3);
      const before = s.pods();
      t.ok(
        before.every((p) => p.status.containerStatuses[0].imageID.endsWith(v1.digest)),
        'pods run v1',
      );

      const dry = await s.run(['--dry-run']);
      t.equal(dry.code, 0, dry.stderr);
      t.same(
        dry.json.summary,
        { pods: 3, current: 3, stale: 0, skipped: 0, restarted: 0, failed: 0 },
        'nothing to do yet',
      );

      const v2 = await pushImage(s.registry, 'shop/web', '1.0', { format: 'docker', seed: 'web-v2' });
      const plan = await s.run(['--dry-run']);
      t.equal(plan.code, 0);
      t.equal(plan.json.summary.stale, 3, 'all three pods are stale after the tag moved');
      const c = plan.json.pods[0].containers[0];
      t.equal(c.runningDigest, v1.digest);
      t.equal(c.currentDigest, v2.digest);
      t.ok(plan.json.pods.every((p: { restart: { outcome: string } }) => p.restart.outcome === 'dry-run'));
      t.same(
        s
          .pods()
          .map((p) => p.metadata.uid)
          .sort(),
        before.map((p) => p.metadata.uid).sort(),
        'a dry run changes nothing',
      );

      const res = await s.run();
      t.equal(res.code, 0, res.stderr);
      t.equal(res.json.summary.restarted, 3);
      await s.ready(3);
      const after = s.pods();
      t.ok(
        after.every((p) => p.status.containerStatuses[0].imageID.endsWith(v2.digest)),
        'pods run v2',
      );
      t.notOk(
        after.some((p) => before.some((b) => b.metadata.uid === p.metadata.uid)),
        'every pod was replaced',
      );
      const events = s.events('ImageUpdated');
      t.equal(events.length, 3, 'one ImageUpdated event per restart');
      t.equal(events[0]!.involvedObject.kind, 'Deployment');
      t.match(events[0]!.message, /app/);

      const again = await s.run();
      t.equal(again.json.summary.current, 3, 'a second run finds everything current');
      t.equal(again.json.summary.restarted, 0);
    },
  );
}
