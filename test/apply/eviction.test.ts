import t from 'tap';
import { evictPod } from '../../lib/apply/eviction.ts';
import type { Evicter } from '../../lib/kube/api.ts';
import { apiError, fakeClock } from '../kube/fakes.ts';

const target = { namespace: 'shop', name: 'web-1', uid: 'uid-web-1' };

/** An evicter answering from a script; also offers DELETE so a fallback to it would be caught. */
function scriptedApi(answers: (Error | 'ok')[]) {
  const calls: { namespace: string; name: string; body: unknown }[] = [];
  const deletes: unknown[] = [];
  const api = {
    async createNamespacedPodEviction(req: { namespace: string; name: string; body: unknown }) {
      calls.push(req);
      const next = answers.length > 1 ? answers.shift() : answers[0];
      if (next instanceof Error) throw next;
      return {};
    },
    async deleteNamespacedPod(req: unknown) {
      deletes.push(req);
      return {};
    },
  };
  return { api: api as unknown as Evicter, calls, deletes };
}

const pdb429 = () =>
  apiError(429, "Cannot evict pod as it would violate the pod's disruption budget.", {
    reason: 'TooManyRequests',
    causes: ['The disruption budget web-pdb needs 3 healthy pods and has 3 currently'],
  });

t.test(
  'when the eviction is accepted then the body is a policy/v1 Eviction with the uid precondition',
  async (t) => {
    const { api, calls } = scriptedApi(['ok']);
    const r = await evictPod(api, target, { deadlineMs: 60_000, clock: fakeClock() });
    t.match(r, { ok: true, alreadyGone: false, attempts: 1 });
    t.same(calls[0], {
      namespace: 'shop',
      name: 'web-1',
      body: {
        apiVersion: 'policy/v1',
        kind: 'Eviction',
        metadata: { name: 'web-1', namespace: 'shop' },
        deleteOptions: { preconditions: { uid: 'uid-web-1' } },
      },
    });
  },
);

t.test(
  'when a PDB refuses once (429) then the eviction is retried after the interval and succeeds',
  async (t) => {
    const clock = fakeClock();
    const { api, calls } = scriptedApi([pdb429(), 'ok']);
    const r = await evictPod(api, target, { deadlineMs: 60_000, retryIntervalMs: 5000, clock });
    t.match(r, { ok: true, attempts: 2 });
    t.equal(calls.length, 2);
    t.same(clock.sleeps, [5000]);
  },
);

t.test('when the 429 carries Retry-After then that wait is used instead of the interval', async (t) => {
  const clock = fakeClock();
  const refused = apiError(429, 'too many', { headers: { 'retry-after': '7' } });
  const { api } = scriptedApi([refused, 'ok']);
  await evictPod(api, target, { deadlineMs: 60_000, retryIntervalMs: 5000, clock });
  t.same(clock.sleeps, [7000]);
});

t.test(
  'when a PDB refuses until the deadline then the result is pdb-blocked with its message and nothing is deleted',
  async (t) => {
    const clock = fakeClock();
    const { api, calls, deletes } = scriptedApi([pdb429()]);
    const r = await evictPod(api, target, { deadlineMs: 20_000, retryIntervalMs: 5000, clock });
    t.equal(r.ok, false);
    if (r.ok) return;
    t.equal(r.outcome, 'pdb-blocked');
    t.match(r.message, /web-pdb needs 3 healthy pods/);
    t.match(r.message, /violate the pod's disruption budget/);
    t.equal(calls.length, 5, 'attempts at 0, 5, 10, 15 and 20 s');
    t.equal(deletes.length, 0, 'never falls back to DELETE');
  },
);

t.test('when the pod is already gone (404) then the eviction counts as done', async (t) => {
  const { api } = scriptedApi([apiError(404, 'pods "web-1" not found', { reason: 'NotFound' })]);
  const r = await evictPod(api, target, { deadlineMs: 1000, clock: fakeClock() });
  t.match(r, { ok: true, alreadyGone: true });
});

t.test(
  'when the uid precondition fails (409) then eviction-failed says the pod was replaced, without retrying',
  async (t) => {
    const { api, calls } = scriptedApi([
      apiError(409, 'Precondition failed: UID in precondition: uid-web-1, UID in object meta: other', {
        reason: 'Conflict',
      }),
    ]);
    const r = await evictPod(api, target, { deadlineMs: 60_000, clock: fakeClock() });
    t.match(r, { ok: false, outcome: 'eviction-failed', status: 409, message: /replaced already/ });
    t.equal(calls.length, 1);
  },
);

t.test(
  'when the server answers 500 (two PDBs) then eviction-failed carries the server message, without retrying',
  async (t) => {
    const { api, calls, deletes } = scriptedApi([
      apiError(
        500,
        'This pod has more than one PodDisruptionBudget, which the eviction subresource does not support.',
        { reason: 'InternalError' },
      ),
    ]);
    const r = await evictPod(api, target, { deadlineMs: 60_000, clock: fakeClock() });
    t.match(r, {
      ok: false,
      outcome: 'eviction-failed',
      status: 500,
      message: /more than one PodDisruptionBudget/,
    });
    t.equal(calls.length, 1);
    t.equal(deletes.length, 0);
  },
);

t.test('when RBAC forbids the eviction (403) then the message says which permission to grant', async (t) => {
  const { api } = scriptedApi([apiError(403, 'pods "web-1" is forbidden', { reason: 'Forbidden' })]);
  const r = await evictPod(api, target, { deadlineMs: 60_000, clock: fakeClock() });
  t.match(r, { ok: false, outcome: 'eviction-failed', message: /pods\/eviction/ });
});

t.test('when the connection drops once then the eviction is retried and succeeds', async (t) => {
  const { api, calls } = scriptedApi([new TypeError('fetch failed'), 'ok']);
  const r = await evictPod(api, target, { deadlineMs: 60_000, clock: fakeClock() });
  t.match(r, { ok: true });
  t.equal(calls.length, 2);
});

t.test('when the run is interrupted while a PDB blocks then retrying stops with interrupted', async (t) => {
  const ac = new AbortController();
  const clock = fakeClock();
  let n = 0;
  const api = {
    async createNamespacedPodEviction() {
      n++;
      if (n === 2) ac.abort();
      throw pdb429();
    },
  } as unknown as Evicter;
  const r = await evictPod(api, target, { deadlineMs: 600_000, signal: ac.signal, clock });
  t.match(r, { ok: false, outcome: 'interrupted' });
  t.equal(n, 2);
});
