// The serve HTTP adapter with a scripted update runner: keys (prefix and scheme attacks, scopes, rate limit), the
// XCNT client flow (form POST, APIKey, polling), queue full, cancel, webhooks end to end, probes, metrics, OpenAPI.

import { Validator } from '@seriousme/openapi-schema-validator';
import t, { type Test } from 'tap';
import { parseApiKeys } from '../../lib/serve/keys.ts';
import { buildServer, type ServeDeps } from '../../lib/serve/server.ts';
import { type UpdateOutcome, UpdateQueue, type UpdateRequest } from '../../lib/serve/updates.ts';
import { type Push, signGeneric } from '../../lib/serve/webhooks.ts';

const KEY = 'ci-key-0123456789abcdef';
const SCOPED = 'team-key-0123456789abcdef';

async function bed(
  t: Test,
  opts: {
    runner?: (r: UpdateRequest, s: AbortSignal) => Promise<UpdateOutcome>;
    maxQueued?: number;
    deps?: Partial<ServeDeps>;
  } = {},
) {
  const ran: UpdateRequest[] = [];
  const pushes: Push[][] = [];
  const updates = new UpdateQueue({
    maxQueued: opts.maxQueued ?? 16,
    runner:
      opts.runner ??
      (async (r) => {
        ran.push(r);
        return {
          exitCode: 0,
          workloads: [{ namespace: 'shop', kind: 'Deployment', name: 'web', outcome: 'updated' }],
          migrations: [{ template: 'db', job: 'db-1', outcome: 'complete' }],
          rolledBack: [],
        };
      }),
  });
  const app = await buildServer({
    keys: parseApiKeys({
      AUTO_UPDATER_API_KEYS: `ci ${KEY}\nteam ${SCOPED} classifier=stable namespace=shop`,
    }),
    updates,
    webhookSecrets: { generic: 'hook-secret-0123456789' },
    onPushes: (p) => pushes.push(p),
    ready: async () => true,
    version: '0.0.0-test',
    ...(opts.deps ?? {}),
  });
  t.teardown(async () => {
    await updates.close();
    await app.close();
  });
  return { app, ran, pushes, updates };
}

const poll = async (app: Awaited<ReturnType<typeof bed>>['app'], uuid: string) => {
  for (let i = 0; i < 100; i++) {
    const r = await app.inject({
      method: 'GET',
      url: `/updates/${uuid}`,
      headers: { authorization: `APIKey ${KEY}` },
    });
    if (r.json().status.finished) return r.json();
    await new Promise((res) => setTimeout(res, 10));
  }
  throw new Error('never finished');
};

t.test(
  'when the XCNT client posts a form with APIKey and polls then it gets its shape to completion',
  async (t) => {
    const { app, ran } = await bed(t);
    const r = await app.inject({
      method: 'POST',
      url: '/updates',
      headers: { authorization: `APIKey ${KEY}`, 'content-type': 'application/x-www-form-urlencoded' },
      payload: 'image=reg.io%2Fshop%2Fweb%3A1.5&update_classifier=stable',
    });
    t.equal(r.statusCode, 201, r.body);
    const created = r.json();
    t.match(created, {
      uuid: /^[0-9a-f-]{36}$/,
      status: { finished: false, finish_time: null },
      image: 'reg.io/shop/web:1.5',
      classifier: 'stable',
    });
    const done = await poll(app, created.uuid);
    t.match(done, {
      counts: { jobs: { total: 1, updated: 1 }, deployments: { total: 1, updated: 1 } },
      status: { finished: true, failed: false, successful: true, finish_time: /^\d{4}-\d\d-\d\dT/ },
      state: 'succeeded',
    });
    t.same(ran, [{ image: 'reg.io/shop/web:1.5', classifier: 'stable' }]);
    const json = await app.inject({
      method: 'POST',
      url: '/updates',
      headers: { authorization: `Bearer ${KEY}` },
      payload: { image: 'reg.io/a:1', classifier: 'stable' },
    });
    t.equal(json.statusCode, 201, 'a JSON body with Bearer works too');
  },
);

t.test(
  'when keys are attacked then a prefix, an extension or another scheme is a 401; a scope violation a 403',
  async (t) => {
    const { app } = await bed(t);
    const post = (
      authorization: string | undefined,
      payload: object = { image: 'reg.io/a:1', update_classifier: 'stable' },
    ) =>
      app.inject({
        method: 'POST',
        url: '/updates',
        headers: authorization ? { authorization } : {},
        payload,
      });
    const rows: [string | undefined, number][] = [
      [`APIKey ${KEY}`, 201],
      [`APIKey ${KEY.slice(0, 10)}`, 401],
      [`APIKey ${KEY}0`, 401],
      [`Basic ${KEY}`, 401],
      [`${KEY}`, 401],
      [undefined, 401],
    ];
    t.equal(rows.length, 6);
    for (const [auth, status] of rows) t.equal((await post(auth)).statusCode, status, String(auth));
    t.equal(
      (
        await post(`APIKey ${SCOPED}`, {
          image: 'reg.io/a:1',
          update_classifier: 'stable',
          namespaces: ['shop'],
        })
      ).statusCode,
      201,
    );
    t.equal(
      (
        await post(`APIKey ${SCOPED}`, {
          image: 'reg.io/a:1',
          update_classifier: 'canary',
          namespaces: ['shop'],
        })
      ).statusCode,
      403,
    );
    t.equal(
      (await post(`APIKey ${SCOPED}`, { image: 'reg.io/a:1', update_classifier: 'stable' })).statusCode,
      403,
      'no namespace: cluster-wide, outside the scope',
    );
    const bad = await post(`APIKey ${KEY}`, {
      image: 'reg.io/a:1',
      update_classifier: 'stable',
      surprise: 1,
    });
    t.equal(bad.statusCode, 400);
    t.match(bad.json().message, /additional properties/, 'the 400 names the problem');
  },
);

t.test(
  'when a client keeps failing keys then it is rate limited, and a good key from it waits too',
  async (t) => {
    const { app } = await bed(t, { deps: { maxAuthFailuresPerMinute: 3 } });
    const codes: number[] = [];
    for (let i = 0; i < 5; i++)
      codes.push(
        (
          await app.inject({
            method: 'GET',
            url: '/updates',
            headers: { authorization: `APIKey wrong-${i}` },
          })
        ).statusCode,
      );
    t.same(codes, [401, 401, 401, 429, 429]);
    t.equal(
      (await app.inject({ method: 'GET', url: '/updates', headers: { authorization: `APIKey ${KEY}` } }))
        .statusCode,
      429,
    );
  },
);

t.test('when the queue is full then a 429 says so; a queued update can be cancelled', async (t) => {
  let release: (() => void) | undefined;
  const { app } = await bed(t, {
    maxQueued: 1,
    runner: (_r, signal) =>
      new Promise((resolve) => {
        release = () => resolve({ exitCode: 0, workloads: [], migrations: [], rolledBack: [] });
        signal.addEventListener('abort', () =>
          resolve({ exitCode: 1, error: 'cancelled', workloads: [], migrations: [], rolledBack: [] }),
        );
      }),
  });
  const post = () =>
    app.inject({
      method: 'POST',
      url: '/updates',
      headers: { authorization: `APIKey ${KEY}` },
      payload: { image: 'reg.io/a:1', classifier: 'stable' },
    });
  const running = (await post()).json();
  const queued = (await post()).json();
  const full = await post();
  t.equal(full.statusCode, 429);
  t.equal(full.headers['retry-after'], '30');
  t.equal(
    (
      await app.inject({
        method: 'DELETE',
        url: `/updates/${queued.uuid}`,
        headers: { authorization: `APIKey ${KEY}` },
      })
    ).statusCode,
    204,
  );
  t.match(
    (
      await app.inject({
        method: 'GET',
        url: `/updates/${queued.uuid}`,
        headers: { authorization: `APIKey ${KEY}` },
      })
    ).json(),
    { state: 'cancelled', status: { finished: true, failed: true } },
  );
  t.equal(
    (
      await app.inject({
        method: 'DELETE',
        url: `/updates/${running.uuid}`,
        headers: { authorization: `APIKey ${KEY}` },
      })
    ).statusCode,
    204,
  );
  const stopped = await poll(app, running.uuid);
  t.equal(stopped.state, 'cancelled', 'the running update was stopped');
  release?.();
  t.equal(
    (
      await app.inject({
        method: 'GET',
        url: '/updates/00000000-0000-4000-8000-000000000000',
        headers: { authorization: `APIKey ${KEY}` },
      })
    ).statusCode,
    404,
  );
});

t.test(
  'when a signed generic webhook arrives then its push is handed on; a bad signature is refused',
  async (t) => {
    const { app, pushes } = await bed(t);
    const body = JSON.stringify({ image: 'reg.io/shop/web:1.0' });
    const headers = {
      'content-type': 'application/json',
      ...signGeneric('hook-secret-0123456789', body, Math.floor(Date.now() / 1000)),
    };
    const ok = await app.inject({ method: 'POST', url: '/v1/webhooks/generic', headers, payload: body });
    t.equal(ok.statusCode, 202, ok.body);
    t.same(
      pushes.map((p) => p.map((x) => x.image.canonical)),
      [['reg.io/shop/web:1.0']],
    );
    const tampered = await app.inject({
      method: 'POST',
      url: '/v1/webhooks/generic',
      headers,
      payload: body.replace('1.0', '6.6'),
    });
    t.equal(tampered.statusCode, 401);
    t.equal(
      (await app.inject({ method: 'POST', url: '/v1/webhooks/dockerhub/x', payload: '{}' })).statusCode,
      404,
      'an unconfigured source',
    );
    t.equal(pushes.length, 1);
  },
);

t.test(
  'when probes, metrics and the OpenAPI document are asked for then they answer without a key',
  async (t) => {
    const { app } = await bed(t);
    t.same((await app.inject({ url: '/healthz' })).json(), { ok: true });
    t.same((await app.inject({ url: '/readyz' })).json(), { ok: true });
    await app.inject({ url: '/updates', headers: { authorization: 'APIKey nope' } });
    const metrics = await app.inject({ url: '/metrics' });
    t.match(metrics.body, /auto_updater_auth_failures_total 1/);
    const doc = (await app.inject({ url: '/openapi.json' })).json();
    t.equal(doc.openapi, '3.1.0');
    t.ok(doc.paths['/updates'].post.requestBody, 'the body schema is in the document');
    t.same(Object.keys(doc.paths).sort(), [
      '/healthz',
      '/metrics',
      '/readyz',
      '/updates',
      '/updates/{uuid}',
      '/v1/webhooks/{source}',
      '/v1/webhooks/{source}/{token}',
    ]);
    const ui = await app.inject({ url: '/swagger/' });
    t.equal(ui.statusCode, 200);
    t.notMatch(ui.body, /https?:\/\/(cdn|unpkg|jsdelivr)/, 'no CDN');
  },
);

t.test(
  'when the OpenAPI document is checked by an independent validator then it is valid OpenAPI 3.1',
  async (t) => {
    const { app } = await bed(t);
    const doc = (await app.inject({ url: '/openapi.json' })).json();
    const validator = new Validator();
    const res = await validator.validate(doc);
    t.equal(res.valid, true, JSON.stringify(res.errors));
    t.equal(validator.version, '3.1');
  },
);
