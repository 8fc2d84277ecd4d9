// The simulator's Job create strategy agrees with kube-apiserver's (test/control-plane/harness.test.ts checks the
// real one the same way): generated selector and controller labels; another Job's copied in are refused.

import t from 'tap';
import { parseImageReference } from '../../lib/image/reference.ts';
import { migrationJob } from '../../lib/plan/update.ts';
import { job } from '../harness/kube-sim/fixtures.ts';
import { startCluster } from '../harness/kube-sim/index.ts';
import { type KObject, StoreError } from '../harness/kube-sim/store.ts';

t.test(
  'when Jobs are created then the selector and labels are generated and a naive clone is refused',
  async (t) => {
    const cluster = await startCluster({ controllers: false });
    t.teardown(() => cluster.stop());
    cluster.store.create('/namespaces', { metadata: { name: 'db' } });
    const tpl = cluster.store.create('batch/jobs', {
      ...job('tpl', 'db', 'reg.io/app:1'),
      spec: { ...job('tpl', 'db', 'reg.io/app:1').spec, suspend: true },
    });
    t.same(tpl.spec.selector, { matchLabels: { 'batch.kubernetes.io/controller-uid': tpl.metadata.uid } });
    t.match(tpl.spec.template.metadata.labels, { 'job-name': 'tpl', 'controller-uid': tpl.metadata.uid });

    const naive = structuredClone(tpl);
    naive.metadata = { name: 'naive', namespace: 'db' };
    const err = (() => {
      try {
        cluster.store.create('batch/jobs', naive);
      } catch (e) {
        return e;
      }
    })();
    t.ok(err instanceof StoreError);
    t.match(err, {
      code: 422,
      message: /labels\[controller-uid\].*must be '.*`selector` not auto-generated/,
    });

    const copy = migrationJob(tpl, parseImageReference('reg.io/app:2'), 'reg.io/app:2', 'abcdef0123');
    const created = cluster.store.create('batch/jobs', copy as KObject);
    t.equal(created.metadata.name, 'tpl-abcdef01');
    t.match(created.spec.template.metadata.labels, {
      'job-name': 'tpl-abcdef01',
      'controller-uid': created.metadata.uid,
    });

    t.throws(
      () => cluster.store.create('batch/jobs', { ...job('a'.repeat(64), 'db', 'x:1') }),
      /must be no more than 63 characters/,
    );
  },
);
