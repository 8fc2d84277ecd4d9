// The registry client against the real CNCF registry: every manifest format, every auth variant, TLS, token reuse,
// tag moves, index children, the GET-and-hash fallback, and what never leaves the client (credentials, secrets in logs).

import { pino } from 'pino';
import t from 'tap';
import { parseImageReference } from '../../lib/image/reference.ts';
import { RegistryClient, type RegistryClientOptions } from '../../lib/registry/client.ts';
import { Credential, Keyring } from '../../lib/registry/credentials.ts';
import { DOCKER_LIST, DOCKER_MANIFEST, OCI_INDEX, OCI_MANIFEST } from '../../lib/registry/media-types.ts';
import { type ImageFormat, pushImage, startFaultProxy, startRegistry } from '../harness/registry/index.ts';
import { requireBin } from '../harness/require-bin.ts';

const ref = (s: string) => parseImageReference(s);

function credFor(host: string, username: string, password: string): Credential {
  return new Credential({ rawKey: host, source: 'test', username, password });
}

function clientFor(reg: { host: string; caPem?: string }, extra: Partial<RegistryClientOptions> = {}) {
  const tls = reg.caPem !== undefined;
  const client = new RegistryClient({
    insecureRegistries: tls ? [] : [reg.host],
    ...(tls ? { ca: reg.caPem } : {}),
    timeoutMs: 10_000,
    ...extra,
  });
  return client;
}

if (requireBin(t, 'docker-registry')) {
  t.test('a registry without auth', async (t) => {
    const reg = await startRegistry();
    t.teardown(reg.stop);

    const formats: Array<[ImageFormat, string]> = [
      ['oci', OCI_MANIFEST],
      ['docker', DOCKER_MANIFEST],
      ['oci-index', OCI_INDEX],
      ['docker-list', DOCKER_LIST],
    ];
    for (const [format, mediaType] of formats) {
      t.test(
        `when the tag is a ${format} manifest then HEAD gives the pushed digest unconverted`,
        async (t) => {
          const pushed = await pushImage(reg, `formats/${format}`, 'v1', { format, seed: format });
          const client = clientFor(reg);
          t.teardown(() => client.close());
          const r = await client.resolve(ref(`${reg.host}/formats/${format}:v1`), []);
          t.same(r, { ok: true, digest: pushed.digest, mediaType, children: [] });
          t.same(client.stats, { heads: 1, gets: 0, tokens: 0 }, 'one HEAD, no GET (no pull quota used)');
        },
      );
    }

    t.test('when the tag moves then the next resolution gives the new digest', async (t) => {
      const client = clientFor(reg);
      t.teardown(() => client.close());
      const v1 = await pushImage(reg, 'moving/app', 'latest', { format: 'oci-index', seed: 'one' });
      const before = await client.resolve(ref(`${reg.host}/moving/app`), []);
      const v2 = await pushImage(reg, 'moving/app', 'latest', { format: 'oci-index', seed: 'two' });
      const after = await client.resolve(ref(`${reg.host}/moving/app:latest`), []);
      t.not(v1.digest, v2.digest);
      t.match(before, { ok: true, digest: v1.digest });
      t.match(after, { ok: true, digest: v2.digest });
    });

    t.test('when the tag is an index then its children are read once and verified', async (t) => {
      const client = clientFor(reg);
      t.teardown(() => client.close());
      const pushed = await pushImage(reg, 'multi/app', 'v1', {
        format: 'docker-list',
        seed: 'kids',
        platforms: ['linux/amd64', 'linux/arm64', 'linux/arm/v7'],
      });
      const image = ref(`${reg.host}/multi/app:v1`);
      const r = await client.resolve(image, []);
      t.match(r, { ok: true, digest: pushed.digest });
      const kids = await client.indexChildren(image, pushed.digest, []);
      t.same(
        kids,
        pushed.children?.map((c) => c.digest),
      );
      await client.indexChildren(image, pushed.digest, []);
      t.equal(client.stats.gets, 1, 'the index body is fetched once per run');
      const single = await pushImage(reg, 'multi/single', 'v1', { format: 'oci', seed: 'single' });
      t.same(await client.indexChildren(ref(`${reg.host}/multi/single:v1`), single.digest, []), []);
    });

    t.test('when the tag does not exist then the answer is a soft not-found', async (t) => {
      const client = clientFor(reg);
      t.teardown(() => client.close());
      const r = await client.resolve(ref(`${reg.host}/nothing/here:v1`), []);
      t.match(r, { ok: false, kind: 'not-found', retryable: false, status: 404 });
      await t.rejects(
        client.indexChildren(ref(`${reg.host}/nothing/here:v1`), `sha256:${'0'.repeat(64)}`, []),
        { name: 'RegistryError', retryable: false },
      );
    });

    t.test('when the registry is not listed as insecure then plain HTTP is not used', async (t) => {
      await pushImage(reg, 'strict/app', 'v1');
      const client = new RegistryClient({ timeoutMs: 5_000 });
      t.teardown(() => client.close());
      const r = await client.resolve(ref(`${reg.host}/strict/app:v1`), []);
      t.match(r, { ok: false, kind: 'unreachable' }, 'https to a plain HTTP port fails');
    });
  });

  t.test('a registry behind the fault proxy', async (t) => {
    const reg = await startRegistry();
    t.teardown(reg.stop);
    const proxy = await startFaultProxy(reg);
    t.teardown(proxy.stop);
    t.beforeEach(() => {
      proxy.clear();
      proxy.resetCounts();
    });
    const pushed = new Map<string, string>();
    for (const format of ['oci', 'docker', 'oci-index', 'docker-list'] as const) {
      pushed.set(
        format,
        (await pushImage(reg, `hdr/${format}`, 'v1', { format, seed: `h-${format}` })).digest,
      );
    }

    for (const format of ['oci', 'docker', 'oci-index', 'docker-list'] as const) {
      t.test(
        `when Docker-Content-Digest is missing for ${format} then GET and hashing the raw body gives the digest`,
        async (t) => {
          proxy.set({ stripDigestHeader: true });
          const client = clientFor(proxy);
          t.teardown(() => client.close());
          const r = await client.resolve(ref(`${proxy.host}/hdr/${format}:v1`), []);
          t.match(r, { ok: true, digest: pushed.get(format) });
          // total: the HEAD, the GET, and the client's one-time `GET /v2/` auth probe.
          t.same(proxy.counts(), { head: 1, get: 1, token: 0, total: 3 });
        },
      );
    }

    const faults: Array<[string, Parameters<typeof proxy.set>[0], object]> = [
      ['a 500', { status: 500 }, { ok: false, kind: 'unreachable', retryable: true, status: 500 }],
      ['a 503', { status: 503 }, { ok: false, kind: 'unreachable', retryable: true, status: 503 }],
      [
        'a 429 with Retry-After',
        { status: 429, retryAfterSeconds: 42 },
        { ok: false, kind: 'rate-limited', retryable: true, status: 429, retryAfterSeconds: 42 },
      ],
      ['a connection reset', { reset: true }, { ok: false, kind: 'unreachable', retryable: true }],
      [
        'an answer slower than the timeout',
        { latencyMs: 1500 },
        { ok: false, kind: 'unreachable', retryable: true },
      ],
      [
        'a garbage body without a digest header',
        { stripDigestHeader: true, malformedBody: true },
        { ok: false, kind: 'invalid-manifest', retryable: false },
      ],
      ['a 400', { status: 400 }, { ok: false, kind: 'protocol', retryable: false, status: 400 }],
      ['a 403', { status: 403 }, { ok: false, kind: 'unauthorized', retryable: false, status: 403 }],
    ];
    for (const [name, fault, want] of faults) {
      t.test(`when the registry answers ${name} then the resolution says so`, async (t) => {
        proxy.set(fault);
        const client = clientFor(proxy, { timeoutMs: 300 });
        t.teardown(() => client.close());
        const r = await client.resolve(ref(`${proxy.host}/hdr/oci:v1`), []);
        t.match(r, want);
        t.notOk(r.ok);
      });
    }

    t.test('when the index body does not hash to its digest then children are refused', async (t) => {
      proxy.set({ malformedBody: true });
      const client = clientFor(proxy);
      t.teardown(() => client.close());
      const r = await client.tryIndexChildren(
        ref(`${proxy.host}/hdr/oci-index:v1`),
        pushed.get('oci-index') as string,
        [],
      );
      t.match(r, { ok: false, kind: 'invalid-manifest' });
      t.match((r as { message: string }).message, /does not hash/);
    });
  });

  t.test('a registry with Basic auth', async (t) => {
    if (!requireBin(t, 'htpasswd')) return;
    const reg = await startRegistry({ auth: 'basic' });
    t.teardown(reg.stop);
    const { username, password } = reg.credentials as { username: string; password: string };
    const pushed = await pushImage(reg, 'private/app', 'v1', { format: 'oci' });
    const image = ref(`${reg.host}/private/app:v1`);
    const good = credFor(reg.host, username, password);
    const bad = credFor(reg.host, username, 'wrong-password');

    t.test('when the credential is right then Basic is sent and the digest resolved', async (t) => {
      const client = clientFor(reg);
      t.teardown(() => client.close());
      t.match(await client.resolve(image, [good]), { ok: true, digest: pushed.digest });
      t.match(await client.resolve(image, [good]), { ok: true, digest: pushed.digest });
      t.equal(client.stats.heads, 2, 'Basic goes out up front on both: the /v2/ probe met the only 401');
    });

    t.test('when there is no credential then the answer is unauthorized', async (t) => {
      const client = clientFor(reg);
      t.teardown(() => client.close());
      t.match(await client.resolve(image, []), {
        ok: false,
        kind: 'unauthorized',
        status: 401,
        retryable: false,
      });
    });

    t.test('when the first credential is refused then the next one is tried', async (t) => {
      const client = clientFor(reg);
      t.teardown(() => client.close());
      t.match(await client.resolve(image, [bad, good]), { ok: true, digest: pushed.digest });
      t.match(await client.resolve(image, [bad]), { ok: false, kind: 'unauthorized' });
    });
  });

  t.test('a registry with Bearer tokens', async (t) => {
    if (!requireBin(t, 'openssl')) return; // the token signer's key
    const reg = await startRegistry({ auth: 'bearer' });
    t.teardown(reg.stop);
    const { username, password } = reg.credentials as { username: string; password: string };
    const a = await pushImage(reg, 'tok/a', 'v1', { format: 'oci-index', seed: 'a' });
    const b = await pushImage(reg, 'tok/b', 'v1', { format: 'oci', seed: 'b' });
    await pushImage(reg, 'tok/a', 'v2', { format: 'oci', seed: 'a2' });
    const server = reg.tokenServer;
    if (!server) throw new Error('bearer registry without token server');

    t.test('when images are resolved anonymously then one token per repository is fetched', async (t) => {
      const client = clientFor(reg);
      t.teardown(() => client.close());
      const before = server.issued();
      t.match(await client.resolve(ref(`${reg.host}/tok/a:v1`), []), { ok: true, digest: a.digest });
      t.match(await client.resolve(ref(`${reg.host}/tok/a:v2`), []), { ok: true });
      t.match(await client.resolve(ref(`${reg.host}/tok/a:v1`), []), { ok: true, digest: a.digest });
      t.same(
        await client.indexChildren(ref(`${reg.host}/tok/a:v1`), a.digest, []),
        a.children?.map((c) => c.digest),
      );
      t.match(await client.resolve(ref(`${reg.host}/tok/b:v1`), []), { ok: true, digest: b.digest });
      t.equal(server.issued() - before, 2, 'one token for tok/a, one for tok/b');
      t.equal(client.stats.tokens, 2);
      const scopes = server
        .requests()
        .slice(-2)
        .map((r) => r.scope);
      t.same(scopes, ['repository:tok/a:pull', 'repository:tok/b:pull']);
      t.equal(
        client.stats.heads,
        4,
        'no HEAD met a 401: the /v2/ probe announced the realm and every repository got its token up front',
      );
    });

    t.test('when many resolutions of one repository run at once then they share one token', async (t) => {
      const client = clientFor(reg);
      t.teardown(() => client.close());
      await client.resolve(ref(`${reg.host}/tok/b:v1`), []); // learn the challenge
      const before = server.issued();
      const rs = await Promise.all(
        Array.from({ length: 6 }, () => client.resolve(ref(`${reg.host}/tok/a:v1`), [])),
      );
      t.equal(rs.length, 6);
      for (const r of rs) t.match(r, { ok: true, digest: a.digest });
      t.equal(server.issued() - before, 1);
    });

    t.test('when a credential is given then the token is fetched with Basic from it', async (t) => {
      const client = clientFor(reg);
      t.teardown(() => client.close());
      t.match(await client.resolve(ref(`${reg.host}/tok/b:v1`), [credFor(reg.host, username, password)]), {
        ok: true,
        digest: b.digest,
      });
      t.equal(server.requests().at(-1)?.user, username);
    });

    t.test('when the token server refuses the credential then the next credential is tried', async (t) => {
      const client = clientFor(reg);
      t.teardown(() => client.close());
      const wrong = credFor(reg.host, username, 'nope');
      t.match(await client.resolve(ref(`${reg.host}/tok/b:v1`), [wrong]), {
        ok: false,
        kind: 'unauthorized',
        status: 401,
      });
      t.match(
        await client.resolve(ref(`${reg.host}/tok/b:v1`), [wrong, credFor(reg.host, username, password)]),
        {
          ok: true,
        },
      );
    });

    t.test('when the token has expired then a new one is fetched', async (t) => {
      let now = Date.now();
      const client = clientFor(reg, { now: () => now });
      t.teardown(() => client.close());
      const before = server.issued();
      await client.resolve(ref(`${reg.host}/tok/b:v1`), []);
      await client.resolve(ref(`${reg.host}/tok/b:v1`), []);
      t.equal(server.issued() - before, 1);
      now += 301_000;
      t.match(await client.resolve(ref(`${reg.host}/tok/b:v1`), []), { ok: true });
      t.equal(server.issued() - before, 2);
    });

    t.test('when the token endpoint fails then the registry is reported unreachable', async (t) => {
      const proxy = await startFaultProxy(reg);
      t.teardown(proxy.stop);
      const client = clientFor(proxy);
      t.teardown(() => client.close());
      proxy.set({ match: /^\/__token/, status: 502 });
      t.match(await client.resolve(ref(`${proxy.host}/tok/b:v1`), []), {
        ok: false,
        kind: 'unreachable',
        retryable: true,
        status: 502,
      });
      proxy.set({ match: /^\/__token/, status: 429, retryAfterSeconds: 9 });
      t.match(await client.resolve(ref(`${proxy.host}/tok/b:v1`), []), {
        ok: false,
        kind: 'rate-limited',
        retryAfterSeconds: 9,
      });
      proxy.clear();
      t.match(await client.resolve(ref(`${proxy.host}/tok/b:v1`), []), { ok: true, digest: b.digest });
      t.equal(proxy.counts().token, 3);
    });
  });

  t.test('a registry over TLS', async (t) => {
    if (!requireBin(t, 'openssl')) return;
    const reg = await startRegistry({ tls: true, auth: 'bearer' });
    t.teardown(reg.stop);
    const pushed = await pushImage(reg, 'tls/app', 'v1', { format: 'docker-list' });
    const image = ref(`${reg.host}/tls/app:v1`);
    const tokenHost = new URL(reg.tokenServer?.url ?? 'http://x').host;

    t.test('when the CA is given then HTTPS is verified and the digest resolved', async (t) => {
      const client = clientFor(reg);
      t.teardown(() => client.close());
      t.match(await client.resolve(image, []), { ok: true, digest: pushed.digest, mediaType: DOCKER_LIST });
    });

    t.test('when the CA is not trusted then the TLS failure is reported, not ignored', async (t) => {
      const client = new RegistryClient({ timeoutMs: 5_000 });
      t.teardown(() => client.close());
      const r = await client.resolve(image, []);
      t.match(r, { ok: false, kind: 'unreachable', retryable: false });
      t.match((r as { message: string }).message, /TLS/);
    });

    t.test(
      'when a credential would go over plain HTTP to the token realm then it is refused unless allowed',
      async (t) => {
        const { username, password } = reg.credentials as { username: string; password: string };
        const cred = credFor(reg.host, username, password);
        const strict = clientFor(reg);
        t.teardown(() => strict.close());
        const seen = reg.tokenServer?.requests().length ?? 0;
        t.match(await strict.resolve(image, [cred]), { ok: false, kind: 'protocol' });
        t.same(reg.tokenServer?.requests().slice(seen), [], 'nothing sent to the realm');
        const allowed = clientFor(reg, { insecureRegistries: [tokenHost] });
        t.teardown(() => allowed.close());
        t.match(await allowed.resolve(image, [cred]), { ok: true, digest: pushed.digest });
      },
    );
  });

  t.test('credentials stay with their host and out of logs', async (t) => {
    if (!requireBin(t, 'htpasswd') || !requireBin(t, 'openssl')) return;
    const regA = await startRegistry({ auth: 'basic' });
    t.teardown(regA.stop);
    const regB = await startRegistry({ auth: 'bearer', users: { bob: 'bob-password-xyz' } });
    t.teardown(regB.stop);
    await pushImage(regA, 'a/app', 'v1');
    await pushImage(regB, 'b/app', 'v1');
    const proxyB = await startFaultProxy(regB);
    t.teardown(proxyB.stop);
    const { username, password } = regA.credentials as { username: string; password: string };
    const credA = credFor(regA.host, username, password);
    const credB = credFor(proxyB.host, 'bob', 'bob-password-xyz');
    const keyring = new Keyring([credA, credB]);

    const lines: string[] = [];
    const logger = pino({ level: 'debug' }, { write: (s: string) => void lines.push(s) });
    const client = new RegistryClient({
      insecureRegistries: [regA.host, proxyB.host],
      timeoutMs: 10_000,
      logger,
    });
    t.teardown(() => client.close());
    const imageA = ref(`${regA.host}/a/app:v1`);
    const imageB = ref(`${proxyB.host}/b/app:v1`);

    t.test('when a caller passes a credential keyed for another host then it is not sent', async (t) => {
      t.same(keyring.lookup(imageB), [credB]);
      const seen = regB.tokenServer?.requests().length ?? 0; // pushImage authenticated as bob before this
      const r = await client.resolve(imageB, [credA]);
      t.match(r, { ok: true }, 'resolved anonymously instead');
      t.notOk(
        proxyB.log().some((e) => e.authorization === 'basic'),
        'no Basic credential reached registry B or its realm',
      );
      t.notOk(
        regB.tokenServer
          ?.requests()
          .slice(seen)
          .some((e) => e.user !== undefined),
        'the token server saw no user',
      );
    });

    t.test(
      'when both registries are used with their own credentials then each gets only its own',
      async (t) => {
        proxyB.resetCounts();
        t.match(await client.resolve(imageA, keyring.lookup(imageA)), { ok: true });
        t.match(await client.resolve(imageB, keyring.lookup(imageB)), { ok: true });
        t.equal(regB.tokenServer?.requests().at(-1)?.user, 'bob', 'B got its own credential at its realm');
      },
    );

    t.test('when everything was logged at debug then no secret appears', async (t) => {
      const out = lines.join('');
      t.ok(out.length > 0, 'the client did log');
      for (const secret of [
        password,
        'bob-password-xyz',
        Buffer.from(`${username}:${password}`).toString('base64'),
        Buffer.from('bob:bob-password-xyz').toString('base64'),
      ]) {
        t.notOk(out.includes(secret), `log does not contain ${secret.slice(0, 3)}…`);
      }
      t.notMatch(out, /Bearer ey/, 'no token');
      logger.info({ keyring, credA }, 'accidental');
      t.notOk(lines.join('').includes(password), 'even a logged keyring or credential shows no password');
    });
  });
}
