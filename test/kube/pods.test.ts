import t from 'tap';
import type { PodLister } from '../../lib/kube/api.ts';
import { listPods } from '../../lib/kube/pods.ts';
import { KubeApiError } from '../../lib/shared/errors.ts';
import { apiError, pod } from './fakes.ts';

interface Call {
  verb: string;
  namespace?: string;
  limit?: number;
  _continue?: string;
  labelSelector?: string;
}

/** Serves `pages[key]` in order, key = namespace or '*' for all namespaces; `fail` can inject errors per call index. */
function fakeLister(
  pages: Record<string, string[][]>,
  opts: { namespaces?: string[]; fail?: (call: Call, n: number) => Error | undefined } = {},
) {
  const calls: Call[] = [];
  const serve = (key: string, call: Call) => {
    calls.push(call);
    const err = opts.fail?.(call, calls.length);
    if (err) throw err;
    const list = pages[key] ?? [[]];
    const idx = call._continue ? Number(call._continue.split(':')[1]) : 0;
    const names = list[idx] ?? [];
    const more = idx + 1 < list.length;
    return {
      items: names.map((name) => pod({ name, namespace: key === '*' ? 'x' : key })),
      metadata: more ? { _continue: `${key}:${idx + 1}` } : {},
    };
  };
  const api = {
    async listPodForAllNamespaces(req: Omit<Call, 'verb'>) {
      return serve('*', { verb: 'all', ...req });
    },
    async listNamespacedPod(req: Omit<Call, 'verb'> & { namespace: string }) {
      return serve(req.namespace, { verb: 'ns', ...req });
    },
    async listNamespace(req: Omit<Call, 'verb'>) {
      calls.push({ verb: 'namespaces', ...req });
      return { items: (opts.namespaces ?? []).map((name) => ({ metadata: { name } })), metadata: {} };
    },
  };
  return { api: api as unknown as PodLister, calls };
}

const names = (pods: { metadata?: { name?: string } }[]) => pods.map((p) => p.metadata?.name);

t.test(
  'when the listing spans several pages then every page is merged in order, following continue',
  async (t) => {
    const { api, calls } = fakeLister({ '*': [['a', 'b'], ['c', 'd'], ['e']] });
    const pods = await listPods(api, { namespaces: 'all', pageSize: 2, labelSelector: 'app=web' });
    t.same(names(pods), ['a', 'b', 'c', 'd', 'e']);
    t.same(
      calls.map((c) => [c.verb, c.limit, c._continue, c.labelSelector]),
      [
        ['all', 2, undefined, 'app=web'],
        ['all', 2, '*:1', 'app=web'],
        ['all', 2, '*:2', 'app=web'],
      ],
    );
  },
);

t.test(
  'when a continue token has expired (410) then the listing restarts once from the first page',
  async (t) => {
    let expired = false;
    const { api, calls } = fakeLister(
      { '*': [['a'], ['b'], ['c']] },
      {
        fail: (call) => {
          if (call._continue === '*:2' && !expired) {
            expired = true;
            return apiError(410, 'The provided continue parameter is too old', { reason: 'Expired' });
          }
          return undefined;
        },
      },
    );
    const pods = await listPods(api, { namespaces: 'all' });
    t.same(names(pods), ['a', 'b', 'c'], 'no page counted twice');
    t.same(
      calls.map((c) => c._continue),
      [undefined, '*:1', '*:2', undefined, '*:1', '*:2'],
    );
  },
);

t.test(
  'when the continue token expires twice then the listing fails with KubeApiError naming it',
  async (t) => {
    const { api } = fakeLister(
      { '*': [['a'], ['b']] },
      { fail: (call) => (call._continue ? apiError(410, 'too old', { reason: 'Expired' }) : undefined) },
    );
    const err = await listPods(api, { namespaces: 'all' }).catch((e: unknown) => e);
    t.type(err, KubeApiError);
    t.match((err as KubeApiError).message, /list pods in all namespaces failed: HTTP 410: too old/);
    t.equal((err as KubeApiError).status, 410);
  },
);

t.test('when namespaces are listed by name then each is listed once and the pods are merged', async (t) => {
  const { api, calls } = fakeLister({ shop: [['web-1'], ['web-2']], blog: [['wp-1']] });
  const pods = await listPods(api, { namespaces: ['shop', 'blog', 'shop'] });
  t.same(names(pods), ['web-1', 'web-2', 'wp-1']);
  t.same(new Set(calls.map((c) => c.namespace)), new Set(['shop', 'blog']));
  t.notOk(
    calls.some((c) => c.verb === 'all'),
    'no cluster-wide listing',
  );
});

t.test('when a namespace regex is given then only matching namespaces are listed', async (t) => {
  const { api, calls } = fakeLister(
    { 'team-a': [['a1']], 'team-b': [['b1']], kube: [['k1']] },
    { namespaces: ['kube', 'team-b', 'team-a'] },
  );
  const pods = await listPods(api, { namespaces: 'all', namespaceRegex: /^team-/g });
  t.same(names(pods).sort(), ['a1', 'b1']);
  t.same(
    calls
      .filter((c) => c.verb === 'ns')
      .map((c) => c.namespace)
      .sort(),
    ['team-a', 'team-b'],
  );
});

t.test('when a namespace cannot be listed (403) then the failure names the namespace', async (t) => {
  const { api } = fakeLister(
    { shop: [['web-1']] },
    {
      fail: (call) =>
        call.namespace === 'shop'
          ? apiError(403, 'pods is forbidden: User "x" cannot list', { reason: 'Forbidden' })
          : undefined,
    },
  );
  const err = await listPods(api, { namespaces: ['shop'] }).catch((e: unknown) => e);
  t.type(err, KubeApiError);
  t.match((err as Error).message, /list pods in namespace shop failed: HTTP 403: pods is forbidden/);
});

t.test('when many namespaces are listed then at most the concurrency bound are in flight', async (t) => {
  let inFlight = 0;
  let max = 0;
  const api = {
    async listNamespacedPod(req: { namespace: string }) {
      inFlight++;
      max = Math.max(max, inFlight);
      await new Promise((r) => setImmediate(r));
      inFlight--;
      return { items: [pod({ name: `p-${req.namespace}`, namespace: req.namespace })], metadata: {} };
    },
  } as unknown as PodLister;
  const namespaces = Array.from({ length: 10 }, (_, i) => `ns-${i}`);
  const pods = await listPods(api, { namespaces, concurrency: 3 });
  t.equal(pods.length, 10);
  t.equal(max, 3);
});
