// DigestResolver: deduplication, per-registry concurrency, the hard-fault circuit and Retry-After, first with a
// plain-object client (exact control over answers), then against the real registry behind the fault proxy.

import t from 'tap';
import { type ImageReference, parseImageReference } from '../../lib/image/reference.ts';
import { RegistryClient } from '../../lib/registry/client.ts';
import { Credential } from '../../lib/registry/credentials.ts';
import { type ChildrenResult, failure, type Resolution } from '../../lib/registry/resolution.ts';
import { DigestResolver } from '../../lib/registry/resolver.ts';
import { pushImage, startFaultProxy, startRegistry } from '../harness/registry/index.ts';
import { requireBin } from '../harness/require-bin.ts';

const ref = (s: string) => parseImageReference(s);
const D = (c: string) => `sha256:${c.repeat(64)}`;

/** A client whose answers are scripted per familiar name; records calls and peak concurrency per registry. */
function fakeClient(answer: (r: ImageReference, call: number) => Resolution | Promise<Resolution>) {
  const calls: string[] = [];
  const inflight = new Map<string, number>();
  const peak = new Map<string, number>();
  let gate: Promise<void> = Promise.resolve();
  const client = {
    calls,
    peak,
    hold(p: Promise<void>) {
      gate = p;
    },
    async resolve(r: ImageReference): Promise<Resolution> {
      calls.push(r.familiar);
      const n = (inflight.get(r.registry) ?? 0) + 1;
      inflight.set(r.registry, n);
      peak.set(r.registry, Math.max(peak.get(r.registry) ?? 0, n));
      await gate;
      try {
        return await answer(r, calls.filter((c) => c === r.familiar).length);
      } finally {
        inflight.set(r.registry, (inflight.get(r.registry) ?? 1) - 1);
      }
    },
    async tryIndexChildren(r: ImageReference): Promise<ChildrenResult> {
      calls.push(`children:${r.familiar}`);
      return { ok: true, children: [D('1')] };
    },
  };
  return client;
}

const ok = (digest: string): Resolution => ({ ok: true, digest, mediaType: 'x', children: [] });

t.test('when the same reference is asked for many times then the registry is asked once', async (t) => {
  const client = fakeClient(() => ok(D('a')));
  const resolver = new DigestResolver(client);
  const rs = await resolver.resolveAll([
    { ref: ref('nginx'), creds: [] },
    { ref: ref('nginx:latest'), creds: [] },
    { ref: ref('docker.io/library/nginx:latest'), creds: [] },
    { ref: ref('nginx:1'), creds: [] },
  ]);
  t.same(
    rs.map((r) => r.ok && r.digest),
    [D('a'), D('a'), D('a'), D('a')],
  );
  t.same(client.calls, ['nginx', 'nginx:1']);
});

t.test('when the credential sets differ then each set gets its own request', async (t) => {
  const client = fakeClient(() => ok(D('a')));
  const resolver = new DigestResolver(client);
  const c1 = new Credential({ rawKey: 'reg.io', source: 's', username: 'a', password: 'p1' });
  const c2 = new Credential({ rawKey: 'reg.io', source: 's', username: 'a', password: 'p2' });
  await resolver.resolveAll([
    { ref: ref('reg.io/app:1'), creds: [c1] },
    { ref: ref('reg.io/app:1'), creds: [c1] },
    { ref: ref('reg.io/app:1'), creds: [c2] },
  ]);
  t.equal(client.calls.length, 2);
});

t.test('when many references share a registry then at most the limit run at once', async (t) => {
  const client = fakeClient(() => ok(D('a')));
  let open!: () => void;
  client.hold(new Promise<void>((r) => (open = r)));
  const resolver = new DigestResolver(client, { concurrencyPerRegistry: 3 });
  const all = resolver.resolveAll([
    ...Array.from({ length: 10 }, (_, i) => ({ ref: ref(`reg.io/app:${i}`), creds: [] })),
    ...Array.from({ length: 4 }, (_, i) => ({ ref: ref(`other.io/app:${i}`), creds: [] })),
  ]);
  await new Promise((r) => setImmediate(r));
  t.equal(client.peak.get('reg.io'), 3, 'bounded per registry');
  t.equal(client.peak.get('other.io'), 3, 'another registry has its own slots');
  open();
  const rs = await all;
  t.equal(rs.filter((r) => r.ok).length, 14);
  t.equal(client.calls.length, 14);
});

t.test('when a registry fails hard then it is not queried again and other registries proceed', async (t) => {
  const client = fakeClient((r) =>
    r.registry === 'bad.io' ? failure('unreachable', `${r.familiar}: HTTP 503`, { status: 503 }) : ok(D('b')),
  );
  const resolver = new DigestResolver(client, { concurrencyPerRegistry: 1 });
  const rs = await resolver.resolveAll([
    { ref: ref('bad.io/a:1'), creds: [] },
    { ref: ref('bad.io/b:1'), creds: [] },
    { ref: ref('good.io/a:1'), creds: [] },
    { ref: ref('bad.io/c:1'), creds: [] },
  ]);
  t.match(rs[0], { ok: false, kind: 'unreachable', status: 503 });
  t.match(rs[1], {
    ok: false,
    kind: 'unreachable',
    message: /^not queried: bad\.io failed earlier in this run: /,
  });
  t.match(rs[2], { ok: true });
  t.match(rs[3], { ok: false, message: /^not queried/ });
  t.same(
    client.calls.filter((c) => c.startsWith('bad.io')),
    ['bad.io/a:1'],
  );
  t.same(resolver.faults(), [
    { registry: 'bad.io', kind: 'unreachable', status: 503, message: 'bad.io/a:1: HTTP 503' },
  ]);
  t.ok(resolver.isFaulted('bad.io'));
  t.notOk(resolver.isFaulted('good.io'));
  t.match(await resolver.indexChildren(ref('bad.io/a:1'), D('a')), { ok: false, message: /^not queried/ });
});

t.test('when a reference is soft-failed (401/403/404) then the registry stays open', async (t) => {
  const client = fakeClient((r) =>
    r.repository === 'missing' ? failure('not-found', 'nope', { status: 404 }) : ok(D('c')),
  );
  const resolver = new DigestResolver(client, { concurrencyPerRegistry: 1 });
  const rs = await resolver.resolveAll([
    { ref: ref('reg.io/missing:1'), creds: [] },
    { ref: ref('reg.io/present:1'), creds: [] },
  ]);
  t.match(rs, [{ ok: false, kind: 'not-found' }, { ok: true }]);
  t.same(resolver.faults(), []);
});

t.test('when a 429 asks for a short wait then it is waited out and retried once', async (t) => {
  const client = fakeClient((_r, call) =>
    call === 1 ? failure('rate-limited', 'slow down', { status: 429, retryAfterSeconds: 2 }) : ok(D('d')),
  );
  const waits: number[] = [];
  const resolver = new DigestResolver(client, {
    maxRetryAfterSeconds: 5,
    sleep: async (ms) => void waits.push(ms),
  });
  t.match(await resolver.resolve(ref('reg.io/app:1')), { ok: true, digest: D('d') });
  t.same(waits, [2000]);
  t.same(resolver.faults(), []);
});

t.test('when a 429 asks for a long wait (or none) then the registry is given up for this run', async (t) => {
  for (const retryAfterSeconds of [3600, undefined]) {
    const client = fakeClient(() =>
      failure('rate-limited', 'slow down', {
        status: 429,
        ...(retryAfterSeconds ? { retryAfterSeconds } : {}),
      }),
    );
    const waits: number[] = [];
    const resolver = new DigestResolver(client, { sleep: async (ms) => void waits.push(ms) });
    t.match(await resolver.resolve(ref('reg.io/app:1')), { ok: false, kind: 'rate-limited', status: 429 });
    t.match(await resolver.resolve(ref('reg.io/app:2')), {
      ok: false,
      kind: 'rate-limited',
      message: /^not queried/,
    });
    t.same(waits, [], 'no waiting inside the run');
    t.equal(client.calls.length, 1);
    t.equal(resolver.faults()[0]?.kind, 'rate-limited');
  }
});

t.test('when the client throws unexpectedly then a failure value comes back', async (t) => {
  const client = fakeClient(() => {
    throw new Error('boom');
  });
  const resolver = new DigestResolver(client);
  t.match(await resolver.resolve(ref('reg.io/app:1')), { ok: false, kind: 'protocol', message: /boom/ });
});

if (requireBin(t, 'docker-registry')) {
  t.test('against the real registry behind the fault proxy', async (t) => {
    const regA = await startRegistry();
    t.teardown(regA.stop);
    const regB = await startRegistry();
    t.teardown(regB.stop);
    const proxy = await startFaultProxy(regA);
    t.teardown(proxy.stop);
    for (const repo of ['one', 'two', 'three']) await pushImage(regA, `c/${repo}`, 'v1', { seed: repo });
    const onB = await pushImage(regB, 'c/b', 'v1', { format: 'oci-index', seed: 'b' });

    const run = async (fault: Parameters<typeof proxy.set>[0]) => {
      proxy.set(fault);
      proxy.resetCounts();
      const client = new RegistryClient({ insecureRegistries: [proxy.host, regB.host], timeoutMs: 500 });
      t.teardown(() => client.close());
      const resolver = new DigestResolver(client, { concurrencyPerRegistry: 1, sleep: async () => {} });
      const rs = await resolver.resolveAll([
        { ref: ref(`${proxy.host}/c/one:v1`), creds: [] },
        { ref: ref(`${regB.host}/c/b:v1`), creds: [] },
        { ref: ref(`${proxy.host}/c/two:v1`), creds: [] },
        { ref: ref(`${proxy.host}/c/three:v1`), creds: [] },
      ]);
      return { rs, resolver, counts: proxy.counts() };
    };

    const hard: Array<[string, Parameters<typeof proxy.set>[0], string]> = [
      ['a 500', { status: 500 }, 'unreachable'],
      ['a long 429', { status: 429, retryAfterSeconds: 600 }, 'rate-limited'],
      ['a reset', { reset: true }, 'unreachable'],
      ['a timeout', { latencyMs: 1500 }, 'unreachable'],
    ];
    for (const [name, fault, kind] of hard) {
      t.test(
        `when the proxied registry fails with ${name} then its refs fail and the other registry proceeds`,
        async (t) => {
          const { rs, resolver, counts } = await run(fault);
          t.match(rs[0], { ok: false, kind });
          t.match(rs[1], { ok: true, digest: onB.digest });
          t.match(rs[2], {
            ok: false,
            kind,
            message: new RegExp(`^not queried: ${proxy.host} failed earlier`),
          });
          t.match(rs[3], { ok: false, kind, message: /^not queried/ });
          t.equal(counts.head, 1, 'the failed registry was asked once');
          t.same(
            resolver.faults().map((f) => [f.registry, f.kind]),
            [[proxy.host, kind]],
          );
        },
      );
    }

    t.test('when a 429 asks for a short wait then the retry succeeds within the run', async (t) => {
      const { rs, resolver, counts } = await run({
        match: /\/manifests\//,
        status: 429,
        retryAfterSeconds: 1,
        times: 1,
      });
      t.ok(rs.every((r) => r.ok));
      t.equal(counts.head, 4, 'one refused, then three answered');
      t.same(resolver.faults(), []);
    });

    t.test(
      'when one reference gets a malformed answer then only that ref fails and the registry stays open',
      async (t) => {
        // Only c/one's manifest is mangled (no digest header, garbage body): a fault of that answer, not the registry.
        const { rs, resolver, counts } = await run({
          match: /\/c\/one\/manifests\//,
          stripDigestHeader: true,
          malformedBody: true,
        });
        t.match(rs[0], { ok: false, kind: 'invalid-manifest', retryable: false });
        t.match(rs[1], { ok: true, digest: onB.digest });
        t.match(rs[2], { ok: true });
        t.match(rs[3], { ok: true });
        t.equal(counts.head, 3, 'every reference on the registry was asked: one HEAD each');
        t.equal(counts.get, 1, 'one GET to hash the answer without a digest header');
        t.same(resolver.faults(), [], 'no circuit opened');
        t.equal(resolver.isFaulted(proxy.host), false);
      },
    );

    t.test('when one tag is missing then only that ref fails', async (t) => {
      proxy.clear();
      const client = new RegistryClient({ insecureRegistries: [proxy.host], timeoutMs: 5_000 });
      t.teardown(() => client.close());
      const resolver = new DigestResolver(client);
      const rs = await resolver.resolveAll([
        { ref: ref(`${proxy.host}/c/one:missing`), creds: [] },
        { ref: ref(`${proxy.host}/c/two:v1`), creds: [] },
      ]);
      t.match(rs, [{ ok: false, kind: 'not-found' }, { ok: true }]);
      t.same(resolver.faults(), []);
    });
  });
}
