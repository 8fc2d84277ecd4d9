import t from 'tap';
import { apiStatus, toKubeApiError } from '../../lib/kube/api.ts';
import { ApiHttpError } from '../../lib/kube/rest.ts';
import { apiError } from './fakes.ts';

t.test('when the server sends a Status body then its message, reason and causes are read', async (t) => {
  const s = apiStatus(
    apiError(429, 'Cannot evict pod', {
      reason: 'TooManyRequests',
      causes: ['budget web needs 3'],
      retryAfterSeconds: 10,
    }),
  );
  t.same(s, {
    code: 429,
    reason: 'TooManyRequests',
    message: 'Cannot evict pod',
    causes: ['budget web needs 3'],
    causeReasons: ['DisruptionBudget'],
    retryAfterSeconds: 10,
  });
});

t.test('when the Retry-After header is present then it wins over the Status hint', async (t) => {
  const s = apiStatus(apiError(429, 'x', { headers: { 'Retry-After': '3' }, retryAfterSeconds: 10 }));
  t.equal(s.retryAfterSeconds, 3);
});

t.test('when the body is not JSON then the HTTP status stands in for the message', async (t) => {
  const s = apiStatus(new ApiHttpError(502, '<html>bad gateway</html>', {}, 'GET /api/v1/pods'));
  t.match(s, { code: 502, message: 'HTTP 502', causes: [] });
});

t.test(
  'when there was no answer then the status is undefined and the network error is the message',
  async (t) => {
    const err = toKubeApiError(new TypeError('fetch failed'), 'list pods in namespace shop');
    t.equal(err.status, undefined);
    t.equal(err.message, 'list pods in namespace shop failed: no answer from the API server: fetch failed');
    t.type(err.cause, TypeError);
  },
);

t.test(
  'when a call is refused then the KubeApiError names the resource, the status and the server message',
  async (t) => {
    const err = toKubeApiError(
      apiError(403, 'secrets "regcred" is forbidden', { reason: 'Forbidden' }),
      'get secret shop/regcred',
    );
    t.equal(err.message, 'get secret shop/regcred failed: HTTP 403: secrets "regcred" is forbidden');
    t.equal(err.status, 403);
    t.equal(err.exitCode, 1);
  },
);
