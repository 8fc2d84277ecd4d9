// The update Lease over the real REST transport against the API simulator: acquire, contention with a timeout that
// names the holder, takeover after expiry, renewal, loss on a conflicting write, release.

import t, { type Test } from 'tap';
import { loadKubeConfig } from '../../lib/kube/config.ts';
import { acquireLease, LeaseBusyError, leaseFree } from '../../lib/kube/lease.ts';
import { createRestClient } from '../../lib/kube/rest.ts';
import { startCluster } from '../harness/kube-sim/index.ts';

async function bed(t: Test) {
  const cluster = await startCluster({ controllers: false });
  t.teardown(() => cluster.stop());
  cluster.store.create('/namespaces', { metadata: { name: 'updater' } });
  const rest = createRestClient(loadKubeConfig({ kubeconfig: cluster.kubeconfigPath }));
  const lease = () => cluster.store.get('coordination.k8s.io/leases', 'updater', 'k8s-auto-updater');
  return { cluster, rest, lease };
}

const base = { namespace: 'updater', name: 'k8s-auto-updater' };

t.test('when the Lease is free then it is created, renewed and released', async (t) => {
  const { rest, lease } = await bed(t);
  let clock = Date.parse('2026-12-04T10:00:00Z');
  const ticks: number[] = [];
  let wake: (() => void) | undefined;
  const sleep = (ms: number, signal?: AbortSignal) =>
    new Promise<void>((resolve) => {
      ticks.push(ms);
      wake = () => {
        clock += ms;
        resolve();
      };
      signal?.addEventListener('abort', () => resolve(), { once: true });
    });
  const held = await acquireLease(rest, {
    ...base,
    holder: 'update A',
    durationSeconds: 30,
    now: () => clock,
    sleep,
  });
  t.match(lease()?.spec, { holderIdentity: 'update A', leaseDurationSeconds: 30, leaseTransitions: 0 });
  const first = lease()?.spec.renewTime;
  await new Promise((r) => setImmediate(r));
  t.same(ticks, [10_000], 'renewed every third of its duration');
  wake?.();
  for (let i = 0; i < 20 && lease()?.spec.renewTime === first; i++)
    await new Promise((r) => setTimeout(r, 10));
  t.not(lease()?.spec.renewTime, first, 'the renewal moved renewTime');
  await held.release();
  t.notOk(lease()?.spec.holderIdentity, 'released: no holder');
  t.notOk(held.lost.aborted);
});

t.test(
  'when another holder renews the Lease then acquiring waits, then fails naming the holder',
  async (t) => {
    const { rest } = await bed(t);
    const a = await acquireLease(rest, { ...base, holder: 'update A (pod ci-1)' });
    t.teardown(() => a.release());
    const started = Date.now();
    const err = await acquireLease(rest, { ...base, holder: 'update B', timeoutMs: 300 }).catch(
      (e: Error) => e,
    );
    t.ok(err instanceof LeaseBusyError);
    t.match(err, {
      holder: 'update A (pod ci-1)',
      message: /held by update A \(pod ci-1\) since .*raise --lock-timeout/,
    });
    t.ok(Date.now() - started >= 250, 'it waited for the timeout');
  },
);

t.test('when the holder stopped renewing then the Lease is taken over after it expired', async (t) => {
  const { rest, lease } = await bed(t);
  const clock = Date.parse('2026-12-04T10:00:00Z');
  const stale = await acquireLease(rest, {
    ...base,
    holder: 'crashed',
    durationSeconds: 15,
    now: () => clock,
    sleep: () => new Promise(() => {}),
  });
  t.equal(stale.lost.aborted, false);
  const b = await acquireLease(rest, { ...base, holder: 'update B', now: () => clock + 16_000 });
  t.teardown(() => b.release());
  t.match(lease()?.spec, { holderIdentity: 'update B', leaseTransitions: 1 });
  const before = await acquireLease(rest, { ...base, holder: 'update C', now: () => clock + 17_000 }).catch(
    (e: Error) => e,
  );
  t.ok(before instanceof LeaseBusyError, 'a renewed Lease is not taken');
});

t.test('when someone else overwrites the Lease then the holder learns it lost it', async (t) => {
  const { cluster, rest } = await bed(t);
  let wake: (() => void) | undefined;
  const sleep = (_ms: number, signal?: AbortSignal) =>
    new Promise<void>((resolve) => {
      wake = resolve;
      signal?.addEventListener('abort', () => resolve(), { once: true });
    });
  const held = await acquireLease(rest, { ...base, holder: 'update A', sleep });
  const cur = cluster.store.get('coordination.k8s.io/leases', 'updater', 'k8s-auto-updater')!;
  cur.spec.holderIdentity = 'intruder';
  cluster.store.update('coordination.k8s.io/leases', cur);
  await new Promise((r) => setImmediate(r));
  wake?.();
  for (let i = 0; i < 50 && !held.lost.aborted; i++) await new Promise((r) => setTimeout(r, 10));
  t.ok(held.lost.aborted, 'the renewal conflicted: lost');
  await held.release();
  t.equal(
    cluster.store.get('coordination.k8s.io/leases', 'updater', 'k8s-auto-updater')?.spec.holderIdentity,
    'intruder',
    'a lost Lease is not released over the new holder',
  );
});

t.test('when a Lease is judged then holder, expiry and emptiness decide', async (t) => {
  const now = Date.parse('2026-12-04T10:00:30Z');
  const l = (holderIdentity: string | undefined, renewTime: string) => ({
    metadata: { name: 'l', namespace: 'n' },
    spec: { holderIdentity, renewTime, leaseDurationSeconds: 30 },
  });
  t.equal(leaseFree(l(undefined, '2026-12-04T10:00:29.000000Z'), 'me', now), true);
  t.equal(leaseFree(l('me', '2026-12-04T10:00:29.000000Z'), 'me', now), true);
  t.equal(leaseFree(l('other', '2026-12-04T10:00:29.000000Z'), 'me', now), false);
  t.equal(leaseFree(l('other', '2026-12-04T09:59:59.000000Z'), 'me', now), true);
});
