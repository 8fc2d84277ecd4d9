// The `serve` HTTP adapter: fastify routes over the same use cases as the CLI. Every body is validated by the JSON
// schema that also generates the OpenAPI 3.1 document (/openapi.json, Swagger UI at /swagger, served from its npm
// distribution, no CDN). API keys on everything but the probes; failed key attempts rate-limited per client.

import formbody from '@fastify/formbody';
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import { Counter, Registry } from 'prom-client';
import { type ApiKey, checkAuthorization, inScope } from './keys.ts';
import { type UpdateEntry, type UpdateQueue, xcntView } from './updates.ts';
import { type Push, parseWebhook, WEBHOOK_SOURCES, type WebhookSource } from './webhooks.ts';

export interface ServeDeps {
  keys: readonly ApiKey[];
  updates: UpdateQueue;
  /** Per webhook source (or `*` for all): its secret. A source without one answers 404. */
  webhookSecrets: Partial<Record<WebhookSource | '*', string>>;
  /** Verified pushes go here (coalesced into bounded runs by the caller). */
  onPushes(pushes: Push[], source: WebhookSource): void;
  /** The API server answers (for /readyz). */
  ready(): Promise<boolean>;
  version: string;
  /** Failed key attempts per client and minute before 429s; default 20. */
  maxAuthFailuresPerMinute?: number;
  now?: () => number;
  /** Request body limit in bytes; default 1 MiB. */
  bodyLimit?: number;
}

const ERROR = {
  type: 'object',
  properties: { error: { type: 'string' }, message: { type: 'string' } },
  required: ['error', 'message'],
} as const;

const UPDATE_BODY = {
  type: 'object',
  properties: {
    image: {
      type: 'string',
      minLength: 1,
      maxLength: 512,
      description: 'The image to move to: registry/repository:tag',
    },
    update_classifier: { type: 'string', minLength: 1, maxLength: 253, description: "XCNT's field name" },
    classifier: { type: 'string', minLength: 1, maxLength: 253 },
    namespaces: { type: 'array', items: { type: 'string', maxLength: 63 }, maxItems: 100 },
    dry_run: { type: 'boolean' },
  },
  required: ['image'],
  additionalProperties: false,
} as const;

const UPDATE_VIEW = {
  type: 'object',
  properties: {
    uuid: { type: 'string' },
    counts: { type: 'object', additionalProperties: true },
    status: {
      type: 'object',
      properties: {
        finish_time: { type: ['string', 'null'] },
        finished: { type: 'boolean' },
        failed: { type: 'boolean' },
        successful: { type: 'boolean' },
      },
    },
    state: { type: 'string', enum: ['queued', 'running', 'succeeded', 'failed', 'cancelled'] },
    image: { type: 'string' },
    classifier: { type: 'string' },
    workloads: { type: 'array', items: { type: 'object', additionalProperties: true } },
    migrations: { type: 'array', items: { type: 'object', additionalProperties: true } },
    rolledBack: { type: 'array', items: { type: 'object', additionalProperties: true } },
    error: { type: 'string' },
  },
} as const;

const SECURED: Array<Record<string, string[]>> = [{ apiKey: [] }, { bearer: [] }];

/** Builds the server (not listening): `await app.listen({ host, port })`, `await app.close()`. */
export async function buildServer(deps: ServeDeps): Promise<FastifyInstance> {
  const now = deps.now ?? Date.now;
  const app = Fastify({
    logger: false,
    bodyLimit: deps.bodyLimit ?? 1024 * 1024,
    requestTimeout: 30_000,
    connectionTimeout: 10_000,
    ajv: { customOptions: { removeAdditional: false, coerceTypes: false, allErrors: false } },
  });
  const metrics = new Registry();
  const requests = new Counter({
    name: 'auto_updater_http_requests_total',
    help: 'HTTP requests by route and status',
    labelNames: ['route', 'status'],
    registers: [metrics],
  });
  const authFailures = new Counter({
    name: 'auto_updater_auth_failures_total',
    help: 'Requests refused for their API key',
    registers: [metrics],
  });
  const webhookDeliveries = new Counter({
    name: 'auto_updater_webhook_deliveries_total',
    help: 'Webhook deliveries by source and outcome',
    labelNames: ['source', 'outcome'],
    registers: [metrics],
  });
  const updatesSubmitted = new Counter({
    name: 'auto_updater_updates_submitted_total',
    help: 'Updates accepted or refused (queue full)',
    labelNames: ['outcome'],
    registers: [metrics],
  });

  await app.register(swagger, {
    openapi: {
      openapi: '3.1.0',
      info: {
        title: 'k8s-auto-updater',
        version: deps.version,
        description: 'Trigger API for CI/CD and registry webhooks',
      },
      components: {
        securitySchemes: {
          apiKey: {
            type: 'apiKey',
            in: 'header',
            name: 'Authorization',
            description: 'APIKey <key> (the XCNT client)',
          },
          bearer: { type: 'http', scheme: 'bearer' },
        },
      },
    },
  });
  await app.register(swaggerUi, { routePrefix: '/swagger', staticCSP: true });
  await app.register(formbody, { bodyLimit: deps.bodyLimit ?? 1024 * 1024 });

  app.addHook('onResponse', async (req, reply) => {
    requests.inc({ route: req.routeOptions.url ?? 'unknown', status: String(reply.statusCode) });
  });
  app.setErrorHandler((err: Error & { statusCode?: number; validation?: unknown }, _req, reply) => {
    const status = err.statusCode && err.statusCode >= 400 && err.statusCode < 500 ? err.statusCode : 500;
    void reply.code(status).send({
      error: status === 400 ? 'bad-request' : status === 500 ? 'internal' : 'refused',
      message: status === 500 ? 'internal error' : err.message,
    });
  });

  // Failed key attempts per client address, in a sliding minute.
  const failures = new Map<string, number[]>();
  const limit = deps.maxAuthFailuresPerMinute ?? 20;
  const recentFailures = (ip: string) => {
    const t = now();
    const list = (failures.get(ip) ?? []).filter((x) => x > t - 60_000);
    failures.set(ip, list);
    return list;
  };
  const authorize = async (req: FastifyRequest, reply: FastifyReply): Promise<ApiKey | undefined> => {
    if (recentFailures(req.ip).length >= limit) {
      await reply.code(429).header('retry-after', '60').send({
        error: 'rate-limited',
        message: 'too many failed API key attempts from this client: wait a minute',
      });
      return undefined;
    }
    const r = checkAuthorization(req.headers.authorization, deps.keys);
    if (r.ok) return r.key;
    authFailures.inc();
    recentFailures(req.ip).push(now());
    await reply
      .code(401)
      .header('www-authenticate', 'APIKey, Bearer')
      .send({
        error: 'unauthorized',
        message:
          r.reason === 'scheme'
            ? 'use Authorization: APIKey <key> or Bearer <key>'
            : 'a valid API key is required',
      });
    return undefined;
  };

  app.get(
    '/healthz',
    {
      schema: {
        summary: 'Liveness (no key)',
        tags: ['probes'],
        response: { 200: { type: 'object', properties: { ok: { type: 'boolean' } } } },
      },
    },
    async () => ({ ok: true }),
  );
  app.get(
    '/readyz',
    { schema: { summary: 'Readiness: the API server answers (no key)', tags: ['probes'] } },
    async (_req, reply) => {
      const ok = await deps.ready().catch(() => false);
      return reply.code(ok ? 200 : 503).send({ ok });
    },
  );
  app.get(
    '/metrics',
    { schema: { summary: 'Prometheus metrics (no key)', tags: ['probes'] } },
    async (_req, reply) => reply.header('content-type', metrics.contentType).send(await metrics.metrics()),
  );
  app.get('/openapi.json', { schema: { hide: true } }, async () => app.swagger());

  const view = (e: UpdateEntry) => xcntView(e);
  app.post(
    '/updates',
    {
      schema: {
        summary: 'Start a classified update (XCNT-compatible: form or JSON body)',
        tags: ['updates'],
        security: SECURED,
        body: UPDATE_BODY,
        response: { 201: UPDATE_VIEW, 400: ERROR, 401: ERROR, 403: ERROR, 429: ERROR },
      },
    },
    async (req, reply) => {
      const key = await authorize(req, reply);
      if (!key) return reply;
      const body = req.body as {
        image: string;
        update_classifier?: string;
        classifier?: string;
        namespaces?: string[];
        dry_run?: boolean;
      };
      const classifier = body.update_classifier ?? body.classifier;
      if (!classifier)
        return reply
          .code(400)
          .send({ error: 'bad-request', message: 'body must have update_classifier (or classifier)' });
      if (!inScope(key, { classifier, ...(body.namespaces ? { namespaces: body.namespaces } : {}) })) {
        return reply.code(403).send({
          error: 'forbidden',
          message: `the key "${key.name}" may not update classifier ${classifier} in these namespaces`,
        });
      }
      const entry = deps.updates.submit(
        {
          image: body.image,
          classifier,
          ...(body.namespaces ? { namespaces: body.namespaces } : {}),
          ...(body.dry_run ? { dryRun: true } : {}),
        },
        key.name,
      );
      if (!entry) {
        updatesSubmitted.inc({ outcome: 'queue-full' });
        return reply
          .code(429)
          .header('retry-after', '30')
          .send({ error: 'queue-full', message: 'too many updates waiting: try again later' });
      }
      updatesSubmitted.inc({ outcome: 'accepted' });
      return reply.code(201).send(view(entry));
    },
  );
  app.get(
    '/updates',
    {
      schema: {
        summary: 'Recent updates, newest first',
        tags: ['updates'],
        security: SECURED,
        response: { 200: { type: 'array', items: UPDATE_VIEW } },
      },
    },
    async (req, reply) => {
      if (!(await authorize(req, reply))) return reply;
      return deps.updates.list().map(view);
    },
  );
  const UUID = {
    type: 'object',
    properties: { uuid: { type: 'string', format: 'uuid' } },
    required: ['uuid'],
  } as const;
  app.get(
    '/updates/:uuid',
    {
      schema: {
        summary: 'One update (poll until status.finished)',
        tags: ['updates'],
        security: SECURED,
        params: UUID,
        response: { 200: UPDATE_VIEW, 404: ERROR },
      },
    },
    async (req, reply) => {
      if (!(await authorize(req, reply))) return reply;
      const e = deps.updates.get((req.params as { uuid: string }).uuid);
      return e
        ? view(e)
        : reply
            .code(404)
            .send({ error: 'not-found', message: 'no such update (finished ones are kept for an hour)' });
    },
  );
  app.delete(
    '/updates/:uuid',
    {
      schema: {
        summary: 'Cancel a queued update, or stop (and roll back) the running one',
        tags: ['updates'],
        security: SECURED,
        params: UUID,
      },
    },
    async (req, reply) => {
      if (!(await authorize(req, reply))) return reply;
      deps.updates.cancel((req.params as { uuid: string }).uuid);
      return reply.code(204).send();
    },
  );

  // Webhooks need the raw bytes (signatures are over them): a scope of their own with a buffer parser.
  await app.register(async (scope) => {
    scope.removeAllContentTypeParsers();
    scope.addContentTypeParser('*', { parseAs: 'buffer' }, (_req, body, done) => done(null, body));
    const handler = async (req: FastifyRequest, reply: FastifyReply) => {
      const { source, token } = req.params as { source: string; token?: string };
      if (!(WEBHOOK_SOURCES as readonly string[]).includes(source))
        return reply.code(404).send({ error: 'not-found', message: `no webhook source ${source}` });
      const s = source as WebhookSource;
      const secret = deps.webhookSecrets[s] ?? deps.webhookSecrets['*'];
      if (!secret)
        return reply
          .code(404)
          .send({ error: 'not-found', message: `webhooks from ${s} are not configured (--webhook-secret)` });
      const headers: Record<string, string> = {};
      for (const [k, v] of Object.entries(req.headers)) if (typeof v === 'string') headers[k] = v;
      const r = parseWebhook(
        s,
        {
          headers,
          body: Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0),
          ...(token ? { pathToken: token } : {}),
        },
        secret,
        now(),
      );
      if (!r.ok) {
        webhookDeliveries.inc({ source: s, outcome: r.status === 401 ? 'unauthorized' : 'invalid' });
        return reply
          .code(r.status)
          .send({ error: r.status === 401 ? 'unauthorized' : 'bad-request', message: r.message });
      }
      webhookDeliveries.inc({ source: s, outcome: 'accepted' });
      if (r.pushes.length > 0) deps.onPushes(r.pushes, s);
      return reply.code(202).send({ accepted: r.pushes.map((p) => p.image.canonical) });
    };
    const schema = {
      summary: 'A registry push webhook',
      tags: ['webhooks'],
      params: {
        type: 'object',
        properties: { source: { type: 'string', enum: [...WEBHOOK_SOURCES] }, token: { type: 'string' } },
        required: ['source'],
      },
    };
    scope.post('/v1/webhooks/:source', { schema }, handler);
    scope.post(
      '/v1/webhooks/:source/:token',
      {
        schema: {
          ...schema,
          summary: 'A registry push webhook with its secret path token (Docker Hub, Quay)',
        },
      },
      handler,
    );
  });

  return app;
}
