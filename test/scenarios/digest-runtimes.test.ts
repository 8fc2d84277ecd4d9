// Digest mode end to end under each kubelet runtime's imageID format: the same moved tag is stale (and restarted)
// where the imageID carries a manifest digest, and skipped where it only carries an image (config) ID.

import t from 'tap';
import type { RuntimeFormat } from '../harness/kube-sim/controllers/index.ts';
import { deployment } from '../harness/kube-sim/fixtures.ts';
import { pushImage } from '../harness/registry/index.ts';
import { backends, startAnyScenario } from './scenario.ts';

for (const backend of backends()) {
  const CASES: Array<{ runtime: RuntimeFormat; idPattern: RegExp; stale: boolean }> = [
    { runtime: 'containerd', idPattern: /^127\.0\.0\.1:\d+\/shop\/rt@sha256:/, stale: true },
    { runtime: 'crio', idPattern: /^127\.0\.0\.1:\d+\/shop\/rt@sha256:/, stale: true },
    { runtime: 'docker', idPattern: /^docker-pullable:\/\/127\.0\.0\.1:\d+\/shop\/rt@sha256:/, stale: true },
    { runtime: 'docker-no-digest', idPattern: /^docker:\/\/sha256:[0-9a-f]{64}$/, stale: false },
    { runtime: 'bare', idPattern: /^sha256:[0-9a-f]{64}$/, stale: false },
  ];

  for (const c of CASES) {
    t.test(
      `${backend}: when the tag moves under the ${c.runtime} runtime then the pod is ${c.stale ? 'restarted' : 'skipped: no repo digest'}`,
      async (t) => {
        const s = await startAnyScenario(t, backend, { controllers: { runtime: c.runtime } });
        if (!s) return;
        const v1 = await pushImage(s.registry, 'shop/rt', '1.0', {
          format: 'docker',
          seed: `rt-v1-${c.runtime}`,
        });
        s.create(
          'Deployment',
          deployment('rt', s.ns, `${s.registry.host}/shop/rt:1.0`, {
            replicas: 2,
            container: { imagePullPolicy: 'Always' },
          }),
        );
        await s.ready(2);
        const imageID: string = s.live()[0]!.status.containerStatuses[0].imageID;
        t.match(imageID, c.idPattern, `the kubelet reports a ${c.runtime} imageID`);
        const v2 = await pushImage(s.registry, 'shop/rt', '1.0', {
          format: 'docker',
          seed: `rt-v2-${c.runtime}`,
        });
        const uids = s.uids();

        const res = await s.run();
        t.equal(res.code, 0, res.stderr);
        for (const p of res.json.pods) {
          const ct = p.containers[0];
          if (c.stale) {
            t.equal(p.verdict, 'stale');
            t.equal(ct.runningDigest, v1.digest, 'the digest part of the imageID is compared');
            t.equal(ct.currentDigest, v2.digest);
            t.equal(p.restart?.outcome, 'restarted');
          } else {
            t.equal(p.verdict, 'skipped');
            t.equal(p.reason, 'no-repo-digest');
            t.equal(ct.runningDigest, null);
            t.equal(p.restart, null);
          }
        }
        t.equal(res.json.summary.restarted, c.stale ? 2 : 0);
        await s.ready(2);
        if (c.stale) {
          t.notOk(
            s.uids().some((u) => uids.includes(u)),
            'every pod was replaced',
          );
          t.ok(
            s.live().every((p) => s.digestOf(p) === v2.digest),
            'the replacements run the new digest',
          );
        } else {
          t.same(s.uids(), uids, 'nothing was evicted');
          t.equal(res.json.stats.heads, 0, 'nothing to ask the registry');
        }
      },
    );
  }
}
