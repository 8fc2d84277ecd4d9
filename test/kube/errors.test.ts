// Classification of failed API calls (lib/kube/errors.ts): which faults are worth another try, which 429 is a
// PodDisruptionBudget's, and the status read through a KubeApiError.

import t from 'tap';
import { toKubeApiError } from '../../lib/kube/api.ts';
import { isGone, isNotFound, isPdbRefusal, isTransient, statusOf } from '../../lib/kube/errors.ts';
import { ApiHttpError } from '../../lib/kube/rest.ts';
import { apfRejection, apiError, networkFailure } from './fakes.ts';

const pdb429 = apiError(429, "Cannot evict pod as it would violate the pod's disruption budget.", {
  reason: 'TooManyRequests',
  causes: ['The disruption budget web needs 2 healthy pods and has 2 currently'],
});
const twoPdbs = apiError(
  500,
  'This pod has more than one PodDisruptionBudget, which the eviction subresource does not support.',
  { reason: 'InternalError' },
);

const cases: Array<{
  name: string;
  err: unknown;
  transient: boolean;
  pdb: boolean;
  status: number | undefined;
}> = [
  {
    name: 'an APF 429 (plain text, Retry-After)',
    err: apfRejection(2),
    transient: true,
    pdb: false,
    status: 429,
  },
  { name: 'a PDB 429 (DisruptionBudget cause)', err: pdb429, transient: false, pdb: true, status: 429 },
  {
    name: 'a PDB 429 of an older server (no cause, the budget in the message)',
    err: apiError(429, "Cannot evict pod as it would violate the pod's disruption budget."),
    transient: false,
    pdb: true,
    status: 429,
  },
  {
    name: 'a 500 InternalError',
    err: apiError(500, 'etcdserver: leader changed'),
    transient: true,
    pdb: false,
    status: 500,
  },
  { name: 'the eviction 500 of two PDBs', err: twoPdbs, transient: false, pdb: false, status: 500 },
  {
    name: 'a 502 from a proxy',
    err: new ApiHttpError(502, '<html/>', {}, 'GET /'),
    transient: true,
    pdb: false,
    status: 502,
  },
  { name: 'a 503', err: apiError(503, 'unavailable'), transient: true, pdb: false, status: 503 },
  { name: 'a 504', err: apiError(504, 'timeout'), transient: true, pdb: false, status: 504 },
  {
    name: 'a connection reset',
    err: networkFailure('ECONNRESET'),
    transient: true,
    pdb: false,
    status: undefined,
  },
  {
    name: 'a refused connection',
    err: networkFailure('ECONNREFUSED'),
    transient: true,
    pdb: false,
    status: undefined,
  },
  { name: 'a timeout', err: networkFailure('ETIMEDOUT'), transient: true, pdb: false, status: undefined },
  { name: 'a 403', err: apiError(403, 'forbidden'), transient: false, pdb: false, status: 403 },
  { name: 'a 404', err: apiError(404, 'not found'), transient: false, pdb: false, status: 404 },
  { name: 'a 409', err: apiError(409, 'conflict'), transient: false, pdb: false, status: 409 },
  { name: 'a 410', err: apiError(410, 'expired'), transient: false, pdb: false, status: 410 },
  {
    name: 'a TLS failure',
    err: Object.assign(new Error('unable to verify the first certificate'), {
      code: 'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
    }),
    transient: false,
    pdb: false,
    status: undefined,
  },
  {
    name: 'an error without a code',
    err: new Error('cannot read the token file'),
    transient: false,
    pdb: false,
    status: undefined,
  },
];

t.test('classification of API failures', async (t) => {
  t.equal(cases.length, 17);
  for (const c of cases) {
    t.test(`when the failure is ${c.name}`, async (t) => {
      t.equal(
        isTransient(c.err),
        c.transient,
        c.transient ? 'then it is transient' : 'then it is not transient',
      );
      t.equal(isPdbRefusal(c.err), c.pdb, c.pdb ? 'then a PDB refuses' : 'then no PDB refuses');
      t.equal(statusOf(c.err), c.status);
    });
  }
});

t.test('when the failure is wrapped in a KubeApiError then the classification reads its cause', async (t) => {
  const wrapped = toKubeApiError(apfRejection(1), 'list pods in namespace shop');
  t.equal(isTransient(wrapped), true);
  t.equal(statusOf(wrapped), 429);
  const gone = toKubeApiError(apiError(404, 'pods "x" not found'), 'get pod shop/x');
  t.equal(isNotFound(gone), true);
  t.equal(isTransient(gone), false);
  t.equal(isGone(toKubeApiError(apiError(410, 'expired'), 'list pods')), true);
  const net = toKubeApiError(networkFailure('ECONNRESET'), 'list pods');
  t.equal(isTransient(net), true);
  t.equal(statusOf(net), undefined);
});
