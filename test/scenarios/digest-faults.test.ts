// Digest mode end to end with a failing registry next to a healthy one: a hard fault on registry A (5xx, 429,
// reset, timeout) keeps A's pods and fails the run, while B's stale pods are still restarted; a fault of one
// reference's answer (schema1, garbage body) keeps only that image's pods and blinds nothing; a missing
// Docker-Content-Digest is recovered by GET-and-hash; a deleted tag is a soft not-found.

import t from 'tap';
import { deployment, pullSecret } from '../harness/kube-sim/fixtures.ts';
import type { KObject } from '../harness/kube-sim/store.ts';
import {
  deleteTag,
  type Fault,
  pushImage,
  startFaultProxy,
  startRegistry,
} from '../harness/registry/index.ts';
import { requireBin } from '../harness/require-bin.ts';
import { backends, jsonPods, startAnyScenario } from './scenario.ts';

for (const backend of backends()) {
  const always = { imagePullPolicy: 'Always' as const };

  const FAULTS: Array<{ name: string; fault: Fault; reason: string; args?: string[]; heads?: number }> = [
    { name: '503', fault: { match: /\/manifests\//, status: 503 }, reason: 'registry-unreachable' },
    { name: '500', fault: { match: /\/manifests\//, status: 500 }, reason: 'registry-unreachable' },
    {
      name: '429 with Retry-After',
      fault: { match: /\/manifests\//, status: 429, retryAfterSeconds: 1 },
      reason: 'rate-limited',
      // The short Retry-After is waited out once, then the registry is given up for the run.
      heads: 2,
    },
    {
      name: '429 with a long Retry-After',
      fault: { match: /\/manifests\//, status: 429, retryAfterSeconds: 120 },
      reason: 'rate-limited',
      // Not worth waiting in a CronJob run: given up at once, left to the next run.
      heads: 1,
    },
    {
      name: 'connection reset',
      fault: { match: /\/manifests\//, reset: true },
      reason: 'registry-unreachable',
    },
    {
      name: 'latency beyond --registry-timeout',
      fault: { match: /\/manifests\//, latencyMs: 1500 },
      reason: 'registry-unreachable',
      args: ['--registry-timeout', '300ms'],
    },
  ];

  t.test(`${backend}: a registry failing hard keeps its pods while another registry is served`, async (t) => {
    const s = await startAnyScenario(t, backend);
    if (!s) return;
    const proxy = await startFaultProxy(s.registry);
    t.teardown(() => proxy.stop());
    const b = await startRegistry({});
    t.teardown(() => b.stop());
    const args = ['--insecure-registry', `${proxy.host},${b.host}`];

    await pushImage(s.registry, 'shop/a', '1.0', { seed: 'fa-v1' });
    await pushImage(b, 'shop/b', '1.0', { seed: 'fb-v1' });
    s.create(
      'Deployment',
      deployment('alpha', s.ns, `${proxy.host}/shop/a:1.0`, { replicas: 2, container: always }),
    );
    s.create(
      'Deployment',
      deployment('beta', s.ns, `${b.host}/shop/b:1.0`, { replicas: 2, container: always }),
    );
    await s.ready(4);
    const a2 = await pushImage(s.registry, 'shop/a', '1.0', { seed: 'fa-v2' });
    const alphaUids = () =>
      s
        .live()
        .filter((p: KObject) => p.metadata.name!.startsWith('alpha-'))
        .map((p) => p.metadata.uid)
        .sort();
    const before = alphaUids();

    let round = 0;
    for (const f of FAULTS) {
      await t.test(
        `when registry A answers ${f.name} then A's pods are kept and B's are restarted, exit 1`,
        async (t) => {
          const bNext = await pushImage(b, 'shop/b', '1.0', { seed: `fb-v${2 + round++}` });
          proxy.set(f.fault);
          proxy.resetCounts();
          const res = await s.run([...args, ...(f.args ?? [])]);
          proxy.clear();
          t.equal(res.code, 1, res.stderr);
          t.equal(res.json.exitCode, 1);
          t.equal(jsonPods(res.json, 'alpha').length, 2);
          for (const p of jsonPods(res.json, 'alpha')) {
            t.equal(p.verdict, 'skipped', `${p.name} kept`);
            t.equal(p.reason, f.reason);
            t.equal(p.restart, null);
          }
          const beta = jsonPods(res.json, 'beta');
          t.equal(beta.length, 2);
          for (const p of beta) t.equal(p.restart?.outcome, 'restarted', `${p.name} restarted`);
          t.equal(res.json.warnings.length, 1, 'one warning: registry A');
          t.match(res.json.warnings[0], proxy.host, 'the warning names registry A');
          t.notMatch(res.json.warnings.join('\n'), b.host, 'registry B is not blamed');
          t.equal(res.json.stats.faultedRegistries, 1);
          if (f.heads !== undefined) t.equal(proxy.counts().head, f.heads, 'manifest HEADs sent to A');
          await s.ready(4);
          t.same(alphaUids(), before, "A's pods are the same pods");
          t.ok(
            s
              .live()
              .filter((p) => p.metadata.name!.startsWith('beta-'))
              .every((p) => s.digestOf(p) === bNext.digest),
            "B's pods run B's new digest",
          );
        },
      );
    }

    await t.test(
      `${backend}: when registry A omits Docker-Content-Digest then GET-and-hash finds the digest`,
      async (t) => {
        proxy.set({ match: /\/manifests\//, stripDigestHeader: true });
        proxy.resetCounts();
        const res = await s.run(args);
        t.equal(res.code, 0, res.stderr);
        t.equal(jsonPods(res.json, 'alpha').length, 2);
        for (const p of jsonPods(res.json, 'alpha')) {
          t.equal(p.containers[0].currentDigest, a2.digest, 'the hash of the raw body is the digest');
          t.equal(p.restart?.outcome, 'restarted');
        }
        t.equal(res.json.stats.heads, 2, 'one HEAD per reference (shop/a on A, shop/b on B)');
        t.equal(res.json.stats.gets, 1, 'the manifest without a digest header was fetched once to hash it');
        t.same(res.json.warnings, []);
        await s.ready(4);
        proxy.clear();
        t.ok(
          s
            .live()
            .filter((p) => p.metadata.name!.startsWith('alpha-'))
            .every((p) => s.digestOf(p) === a2.digest),
        );
      },
    );

    await t.test(
      `${backend}: when the tag was deleted then the pods are kept as not-found, exit 0`,
      async (t) => {
        const bNext = await pushImage(b, 'shop/b', '1.0', { seed: 'fb-after-delete' });
        await deleteTag(s.registry, 'shop/a', '1.0');
        const uids = alphaUids();
        const res = await s.run(args);
        t.equal(res.code, 0, res.stderr);
        t.equal(jsonPods(res.json, 'alpha').length, 2);
        for (const p of jsonPods(res.json, 'alpha')) {
          t.equal(p.verdict, 'skipped');
          t.equal(p.reason, 'not-found');
        }
        t.same(res.json.warnings, [], 'a 404 is not a registry fault');
        t.equal(res.json.summary.restarted, 2, "B's stale pods are restarted in the same run");
        await s.ready(4);
        t.same(alphaUids(), uids);
        t.ok(
          s
            .live()
            .filter((p) => p.metadata.name!.startsWith('beta-'))
            .every((p) => s.digestOf(p) === bNext.digest),
        );
      },
    );
  });

  t.test(
    `${backend}: when the token endpoint of a bearer registry fails then its pods are kept`,
    async (t) => {
      if (!requireBin(t, 'openssl')) return;
      const s = await startAnyScenario(t, backend, { registry: { auth: 'bearer' } });
      if (!s) return;
      const proxy = await startFaultProxy(s.registry);
      t.teardown(() => proxy.stop());
      const { username, password } = s.registry.credentials!;
      s.create('Secret', pullSecret('regcred', s.ns, proxy.host, username, password));
      await pushImage(s.registry, 'shop/tok', '1.0', { seed: 'tok-v1' });
      s.create(
        'Deployment',
        deployment('tok', s.ns, `${proxy.host}/shop/tok:1.0`, {
          replicas: 2,
          container: always,
          imagePullSecrets: ['regcred'],
        }),
      );
      await s.ready(2);
      await pushImage(s.registry, 'shop/tok', '1.0', { seed: 'tok-v2' });
      const uids = s.uids();
      const args = ['--insecure-registry', proxy.host];

      proxy.set({ match: /^\/__token/, status: 503 });
      proxy.resetCounts();
      const down = await s.run(args);
      t.equal(down.code, 1, 'a failing token service is a hard fault');
      t.ok(down.json.pods.every((p: { reason: string }) => p.reason === 'registry-unreachable'));
      t.match(down.json.warnings.join('\n'), proxy.host);
      t.equal(
        proxy.counts().token,
        1,
        `the token endpoint was asked once, then the registry given up (${JSON.stringify(proxy.counts())})`,
      );

      proxy.set({ match: /^\/__token/, status: 401 });
      const refused = await s.run(args);
      t.equal(refused.code, 0, 'a refused token is soft: unauthorized');
      t.ok(refused.json.pods.every((p: { reason: string }) => p.reason === 'unauthorized'));
      proxy.clear();
      t.same(s.uids(), uids, 'nothing was evicted');

      const ok = await s.run([...args, '--dry-run']);
      t.equal(ok.json.summary.stale, 2, 'with the token service back the tag resolves');
    },
  );

  t.test(`${backend}: one odd image never blinds its registry`, async (t) => {
    const s = await startAnyScenario(t, backend);
    if (!s) return;
    const proxy = await startFaultProxy(s.registry);
    t.teardown(() => proxy.stop());
    const args = ['--insecure-registry', proxy.host];
    await pushImage(s.registry, 'shop/legacy', '1.0', { seed: 'legacy-v1' });
    await pushImage(s.registry, 'shop/good', '1.0', { seed: 'good-v1' });
    s.create(
      'Deployment',
      deployment('legacy', s.ns, `${proxy.host}/shop/legacy:1.0`, { container: always }),
    );
    s.create(
      'Deployment',
      deployment('good', s.ns, `${proxy.host}/shop/good:1.0`, { replicas: 2, container: always }),
    );
    await s.ready(3);
    const legacyUid = () =>
      s
        .live()
        .filter((p) => p.metadata.name!.startsWith('legacy-'))
        .map((p) => p.metadata.uid);
    const before = legacyUid();

    const ODD: Array<{ name: string; fault: Fault; reason: string; message: RegExp; gets: number }> = [
      {
        name: 'a schema1 manifest',
        fault: {
          match: /\/shop\/legacy\/manifests\//,
          contentType: 'application/vnd.docker.distribution.manifest.v1+prettyjws',
        },
        reason: 'unsupported-manifest',
        message: /schema1 manifest/,
        gets: 0,
      },
      {
        name: 'a body that is not a manifest',
        fault: { match: /\/shop\/legacy\/manifests\//, stripDigestHeader: true, malformedBody: true },
        reason: 'invalid-manifest',
        message: /not a manifest/,
        gets: 1,
      },
    ];
    let round = 0;
    for (const odd of ODD) {
      await t.test(
        `when one image on a registry is ${odd.name} then only its pods are kept and the good image is restarted, exit 0`,
        async (t) => {
          // Both tags moved; only the good one can be judged.
          await pushImage(s.registry, 'shop/legacy', '1.0', { seed: `legacy-v${2 + round}` });
          const good = await pushImage(s.registry, 'shop/good', '1.0', { seed: `good-v${2 + round++}` });
          proxy.set(odd.fault);
          const res = await s.run(args);
          proxy.clear();
          t.equal(res.code, 0, res.stderr);
          t.equal(res.json.exitCode, 0);
          const legacy = jsonPods(res.json, 'legacy');
          t.equal(legacy.length, 1);
          for (const p of legacy) {
            t.equal(p.verdict, 'skipped', `${p.name} kept`);
            t.equal(p.containers[0].reason, odd.reason);
            t.match(p.containers[0].message, odd.message);
            t.equal(p.restart, null);
          }
          const goodPods = jsonPods(res.json, 'good');
          t.equal(goodPods.length, 2);
          for (const p of goodPods) t.equal(p.restart?.outcome, 'restarted', `${p.name} restarted`);
          t.equal(res.json.summary.restarted, 2);
          t.same(res.json.warnings, [], 'no registry fault: the registry stayed open');
          t.equal(res.json.stats.faultedRegistries, 0);
          t.equal(res.json.stats.heads, 2, 'one HEAD per reference');
          t.equal(res.json.stats.gets, odd.gets);
          await s.ready(3);
          t.same(legacyUid(), before, 'the legacy pod is the same pod');
          t.ok(
            s
              .live()
              .filter((p) => p.metadata.name!.startsWith('good-'))
              .every((p) => s.digestOf(p) === good.digest),
            'the good pods run the new digest',
          );
        },
      );
    }
  });
}
