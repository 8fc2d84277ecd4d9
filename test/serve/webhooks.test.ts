// Each registry's documented push payload, verified the source's way; the HMACs are checked against openssl.

import { execFileSync } from 'node:child_process';
import t from 'tap';
import { parseWebhook, signGeneric, type WebhookRequest } from '../../lib/serve/webhooks.ts';

const SECRET = 's3cret-webhook-0123456789';
const DIGEST = `sha256:${'ab'.repeat(32)}`;
const req = (body: object, headers: Record<string, string> = {}, pathToken?: string): WebhookRequest => ({
  headers,
  body: Buffer.from(JSON.stringify(body)),
  ...(pathToken !== undefined ? { pathToken } : {}),
});
const refs = (r: ReturnType<typeof parseWebhook>) =>
  r.ok ? r.pushes.map((p) => `${p.image.canonical}${p.digest ? `@${p.digest}` : ''}`) : r;

/** HMAC-SHA256 by openssl, independently of node:crypto. */
function opensslHmac(secret: string, data: Buffer): string {
  return execFileSync('openssl', ['dgst', '-sha256', '-hmac', secret, '-r'], { input: data })
    .toString()
    .split(' ')[0] as string;
}

t.test('when Docker Hub and Quay deliver then the secret path token is required', async (t) => {
  const hub = {
    push_data: { tag: '1.4.2', pusher: 'me' },
    repository: { repo_name: 'acme/web', namespace: 'acme', name: 'web' },
  };
  t.same(refs(parseWebhook('dockerhub', req(hub, {}, SECRET), SECRET)), ['docker.io/acme/web:1.4.2']);
  t.match(parseWebhook('dockerhub', req(hub, {}, 'wrong'), SECRET), { ok: false, status: 401 });
  t.match(parseWebhook('dockerhub', req(hub), SECRET), { ok: false, status: 401 });
  const quay = { repository: 'acme/web', docker_url: 'quay.io/acme/web', updated_tags: ['latest', '2.0'] };
  t.same(refs(parseWebhook('quay', req(quay, {}, SECRET), SECRET)), [
    'quay.io/acme/web:latest',
    'quay.io/acme/web:2.0',
  ]);
});

t.test('when GHCR delivers a package event then X-Hub-Signature-256 over the raw body decides', async (t) => {
  const body = Buffer.from(
    JSON.stringify({
      action: 'published',
      package: {
        name: 'Web',
        namespace: 'Acme',
        package_type: 'CONTAINER',
        package_version: { container_metadata: { tag: { name: '1.5.0', digest: DIGEST } } },
      },
    }),
  );
  const sig = `sha256=${opensslHmac(SECRET, body)}`;
  const ok = parseWebhook(
    'ghcr',
    {
      headers: { 'x-github-event': 'package', 'x-hub-signature-256': sig, 'x-github-delivery': 'd-1' },
      body,
    },
    SECRET,
  );
  t.same(refs(ok), [`ghcr.io/acme/web:1.5.0@${DIGEST}`]);
  t.match(ok, { delivery: 'd-1' });
  const tampered = Buffer.from(body.toString().replace('1.5.0', '9.9.9'));
  t.match(
    parseWebhook(
      'ghcr',
      { headers: { 'x-github-event': 'package', 'x-hub-signature-256': sig }, body: tampered },
      SECRET,
    ),
    { ok: false, status: 401 },
  );
  t.match(parseWebhook('ghcr', { headers: { 'x-github-event': 'package' }, body }, SECRET), {
    ok: false,
    status: 401,
  });
  const ping = parseWebhook(
    'ghcr',
    {
      headers: {
        'x-github-event': 'ping',
        'x-hub-signature-256': `sha256=${opensslHmac(SECRET, Buffer.from('{}'))}`,
      },
      body: Buffer.from('{}'),
    },
    SECRET,
  );
  t.same(refs(ping), [], 'a signed non-package event is accepted and names nothing');
});

t.test('when Harbor, GitLab and distribution deliver then their shared-secret headers decide', async (t) => {
  const harbor = {
    type: 'PUSH_ARTIFACT',
    occur_at: 1733300000,
    event_data: {
      resources: [{ digest: DIGEST, tag: '3.1', resource_url: 'harbor.example.com/proj/api:3.1' }],
      repository: { name: 'api', namespace: 'proj' },
    },
  };
  t.same(refs(parseWebhook('harbor', req(harbor, { authorization: SECRET }), SECRET)), [
    `harbor.example.com/proj/api:3.1@${DIGEST}`,
  ]);
  t.match(parseWebhook('harbor', req(harbor, { authorization: `Bearer ${SECRET}` }), SECRET), {
    ok: false,
    status: 401,
  });
  const envelope = {
    events: [
      {
        action: 'push',
        target: {
          repository: 'team/app',
          tag: '1.0',
          digest: DIGEST,
          mediaType: 'application/vnd.oci.image.manifest.v1+json',
        },
        request: { host: 'registry.example.com:5000' },
      },
      {
        action: 'pull',
        target: { repository: 'team/app', tag: '1.0' },
        request: { host: 'registry.example.com:5000' },
      },
      {
        action: 'push',
        target: { repository: 'team/app', digest: DIGEST },
        request: { host: 'registry.example.com:5000' },
      },
    ],
  };
  t.same(
    refs(parseWebhook('distribution', req(envelope, { authorization: SECRET }), SECRET)),
    [`registry.example.com:5000/team/app:1.0@${DIGEST}`],
    'pulls and untagged pushes are ignored',
  );
  t.same(refs(parseWebhook('gitlab', req(envelope, { 'x-gitlab-token': SECRET }), SECRET)), [
    `registry.example.com:5000/team/app:1.0@${DIGEST}`,
  ]);
  t.match(parseWebhook('gitlab', req(envelope, { 'x-gitlab-token': 'nope' }), SECRET), {
    ok: false,
    status: 401,
  });
});

t.test('when a generic delivery is signed then signature, timestamp and body are all checked', async (t) => {
  const now = Date.parse('2026-12-04T12:00:00Z');
  const body = Buffer.from(JSON.stringify({ image: 'reg.example.com/team/app:2.0', digest: DIGEST }));
  const headers = signGeneric(SECRET, body, now / 1000);
  t.equal(
    headers['x-auto-updater-signature'],
    `sha256=${opensslHmac(SECRET, Buffer.concat([Buffer.from(`${now / 1000}.`), body]))}`,
    'the documented scheme: HMAC of "<timestamp>.<body>"',
  );
  t.same(refs(parseWebhook('generic', { headers, body }, SECRET, now)), [
    `reg.example.com/team/app:2.0@${DIGEST}`,
  ]);
  t.match(parseWebhook('generic', { headers, body }, SECRET, now + 10 * 60_000), {
    ok: false,
    status: 401,
    message: /a replay/,
  });
  t.match(
    parseWebhook(
      'generic',
      { headers: { ...headers, 'x-auto-updater-timestamp': String(now / 1000 + 1) }, body },
      SECRET,
      now,
    ),
    { ok: false, status: 401 },
  );
  const junk = Buffer.from(JSON.stringify({ image: 'not a ref' }));
  t.match(
    parseWebhook('generic', { headers: signGeneric(SECRET, junk, now / 1000), body: junk }, SECRET, now),
    { ok: false, status: 400, message: /not a tagged image reference/ },
  );
});
