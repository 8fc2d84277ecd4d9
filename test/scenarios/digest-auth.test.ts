// Digest mode end to end against authenticating and TLS registries: pull secrets on the pod or only on its
// ServiceAccount, a mounted docker config, verified TLS, wrong credentials, and one token per repository per run.

import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { deployment, pullSecret, replicaSet, runningPod } from '../harness/kube-sim/fixtures.ts';
import type { KObject } from '../harness/kube-sim/store.ts';
import { pushImage } from '../harness/registry/index.ts';
import { requireBin } from '../harness/require-bin.ts';
import { jsonPods, type Scenario, startScenario } from './scenario.ts';

const always = { imagePullPolicy: 'Always' as const };

/** Pods inserted Running on `imageID` (no kubelet pull: the kubelet would not have their credentials). */
function insertedPods(
  s: Scenario,
  name: string,
  image: string,
  imageID: string,
  count: number,
  serviceAccountName?: string,
): KObject[] {
  const rs = s.create('ReplicaSet', replicaSet(name, s.ns, image, { replicas: count, container: always }));
  return Array.from({ length: count }, (_, i) => {
    const p = runningPod(s.cluster.store, `${name}-${i}`, s.ns, image, imageID, {
      owner: rs,
      labels: { app: name },
      imagePullPolicy: 'Always',
    });
    if (!serviceAccountName) return p;
    return s.cluster.store.mutate('/pods', s.ns, p.metadata.name!, (o) => {
      o.spec.serviceAccountName = serviceAccountName;
      o.spec.serviceAccount = serviceAccountName;
      return undefined;
    })!;
  });
}

for (const [auth, tls] of [
  ['basic', false],
  ['bearer', false],
  ['bearer', true],
] as const) {
  const over = tls ? ' over TLS (HTTP/2)' : '';
  t.test(
    `when a ${auth} registry${over} needs the pod's pull secret then stale pods are restarted`,
    async (t) => {
      if (!requireBin(t, auth === 'basic' ? 'htpasswd' : 'openssl')) return;
      if (tls && !requireBin(t, 'openssl')) return;
      const s = await startScenario(t, { registry: { auth, tls } });
      if (!s) return;
      const { username, password } = s.registry.credentials!;
      s.create('Secret', pullSecret('regcred', s.ns, s.registry.host, username, password));
      await pushImage(s.registry, 'shop/a', '1.0', { seed: `${auth}-a1` });
      await pushImage(s.registry, 'shop/b', '1.0', { seed: `${auth}-b1` });
      for (const [name, repo] of [
        ['a1', 'shop/a'],
        ['a2', 'shop/a'],
        ['b1', 'shop/b'],
      ] as const) {
        s.create(
          'Deployment',
          deployment(name, s.ns, `${s.registry.host}/${repo}:1.0`, {
            container: always,
            imagePullSecrets: ['regcred'],
          }),
        );
      }
      await s.ready(3);
      const a2 = await pushImage(s.registry, 'shop/a', '1.0', { seed: `${auth}-a2` });
      const b2 = await pushImage(s.registry, 'shop/b', '1.0', { seed: `${auth}-b2` });

      // The harness's token realm is plain HTTP: with an HTTPS registry the updater refuses to send the
      // credential there (a downgrade) unless the realm's host is listed as insecure.
      const realm = s.registry.tokenServer ? new URL(s.registry.tokenServer.url).host : '';
      const allowRealm = tls ? ['--insecure-registry', realm] : [];
      if (tls) {
        const before = s.registry.tokenServer!.requests().length;
        const refused = await s.run(['--dry-run']);
        t.equal(refused.code, 1, 'refusing is a hard fault for that registry');
        t.ok(
          refused.json.pods.every((p: { reason: string }) => p.reason === 'registry-unreachable'),
          'pods kept',
        );
        t.match(refused.json.warnings.join('\n'), /refusing to send .* over plain HTTP to token realm/);
        t.equal(
          s.registry.tokenServer!.requests().filter((r, i) => i >= before && r.user !== undefined).length,
          0,
          'the credential never went to the plain-HTTP realm',
        );
      }

      const issued = s.registry.tokenServer?.requests().length ?? 0;
      const dry = await s.run(['--dry-run', ...allowRealm]);
      t.equal(dry.code, 0, dry.stderr);
      t.equal(dry.json.summary.stale, 3, 'all three pods are stale');
      if (auth === 'bearer') {
        const during = s.registry.tokenServer!.requests().slice(issued);
        t.equal(during.length, 2, 'one token per repository for the run (three pods, two repositories)');
        t.ok(
          during.every((r) => r.user === username),
          'the token requests authenticate with the pull secret',
        );
        t.same(
          during.map((r) => r.scope).sort(),
          ['repository:shop/a:pull', 'repository:shop/b:pull'],
          'scoped to each repository',
        );
        t.equal(dry.json.stats.tokens, 2);
      }
      // The /v2/ probe learns the challenge once per registry: then one authenticated HEAD per repository, none
      // per pod and none wasted on a 401.
      t.equal(dry.json.stats.heads, 2, 'one HEAD per repository (three pods, two repositories)');
      t.equal(dry.json.stats.gets, 0, 'no manifest GET');

      const res = await s.run(allowRealm);
      t.equal(res.code, 0, res.stderr);
      t.equal(res.json.summary.restarted, 3);
      await s.ready(3);
      t.equal(s.live().length, 3);
      for (const p of s.live()) {
        const want = p.metadata.name!.startsWith('b1-') ? b2.digest : a2.digest;
        t.equal(s.digestOf(p), want, `${p.metadata.name} runs the new digest`);
      }
    },
  );
}

t.test(
  'when the pull secret is only on the ServiceAccount then the updater still authenticates with it',
  async (t) => {
    if (!requireBin(t, 'htpasswd')) return;
    const s = await startScenario(t, { registry: { auth: 'basic' } });
    if (!s) return;
    const { username, password } = s.registry.credentials!;
    s.create('Secret', pullSecret('sa-cred', s.ns, s.registry.host, username, password));
    s.create('ServiceAccount', {
      metadata: { name: 'puller' },
      imagePullSecrets: [{ name: 'sa-cred' }],
    });
    s.create('ServiceAccount', { metadata: { name: 'plain' } });
    const v1 = await pushImage(s.registry, 'shop/sa', '1.0', { seed: 'sa-v1' });
    const image = `${s.registry.host}/shop/sa:1.0`;
    const running = `${s.registry.host}/shop/sa@${v1.digest}`;
    insertedPods(s, 'withsa', image, running, 2, 'puller');
    insertedPods(s, 'nosa', image, running, 1, 'plain');
    const v2 = await pushImage(s.registry, 'shop/sa', '1.0', { seed: 'sa-v2' });

    const res = await s.run(['--dry-run']);
    t.equal(res.code, 0, res.stderr);
    t.equal(jsonPods(res.json, 'withsa').length, 2);
    for (const p of jsonPods(res.json, 'withsa')) {
      t.equal(p.verdict, 'stale', `${p.name}: resolved with the ServiceAccount's secret`);
      t.equal(p.containers[0].currentDigest, v2.digest);
    }
    const [nosa] = jsonPods(res.json, 'nosa');
    t.equal(nosa.verdict, 'skipped', 'without any secret the registry refuses');
    t.equal(nosa.reason, 'unauthorized');
    t.equal(res.json.exitCode, 0, 'unauthorized is soft');
  },
);

t.test(
  'when secrets are matched like the kubelet does then only a key for the image path applies',
  async (t) => {
    if (!requireBin(t, 'htpasswd')) return;
    const s = await startScenario(t, { registry: { auth: 'basic' } });
    if (!s) return;
    const { username, password } = s.registry.credentials!;
    const host = s.registry.host;
    const auth = Buffer.from(`${username}:${password}`).toString('base64');
    const legacy = (name: string, key: string) =>
      s.create('Secret', {
        metadata: { name },
        type: 'kubernetes.io/dockercfg',
        data: { '.dockercfg': Buffer.from(JSON.stringify({ [key]: { auth } })).toString('base64') },
      });
    // A legacy .dockercfg secret keyed for the image's repository path prefix, and one for another path.
    legacy('shop-key', `http://${host}/shop`);
    legacy('other-key', `${host}/other`);
    s.create('ServiceAccount', { metadata: { name: 'shop-sa' }, imagePullSecrets: [{ name: 'shop-key' }] });
    s.create('ServiceAccount', { metadata: { name: 'other-sa' }, imagePullSecrets: [{ name: 'other-key' }] });
    const v1 = await pushImage(s.registry, 'shop/keyed', '1.0', { seed: 'keyed-v1' });
    const image = `${host}/shop/keyed:1.0`;
    insertedPods(s, 'prefix', image, `${host}/shop/keyed@${v1.digest}`, 1, 'shop-sa');
    insertedPods(s, 'elsewhere', image, `${host}/shop/keyed@${v1.digest}`, 1, 'other-sa');
    const v2 = await pushImage(s.registry, 'shop/keyed', '1.0', { seed: 'keyed-v2' });

    const res = await s.run(['--dry-run']);
    t.equal(res.code, 0, res.stderr);
    const [prefix] = jsonPods(res.json, 'prefix');
    t.equal(prefix.verdict, 'stale', 'a key for host/shop matches host/shop/keyed');
    t.equal(prefix.containers[0].currentDigest, v2.digest);
    const [elsewhere] = jsonPods(res.json, 'elsewhere');
    t.equal(elsewhere.reason, 'unauthorized', 'a key for host/other does not');
  },
);

t.test(
  'when the pull secret has a wrong password then the pods are kept as unauthorized, exit 0',
  async (t) => {
    if (!requireBin(t, 'htpasswd')) return;
    const s = await startScenario(t, { registry: { auth: 'basic' } });
    if (!s) return;
    const { username, password } = s.registry.credentials!;
    s.create('Secret', pullSecret('regcred', s.ns, s.registry.host, username, password));
    await pushImage(s.registry, 'shop/wrong', '1.0', { seed: 'wrong-v1' });
    s.create(
      'Deployment',
      deployment('wrong', s.ns, `${s.registry.host}/shop/wrong:1.0`, {
        replicas: 2,
        container: always,
        imagePullSecrets: ['regcred'],
      }),
    );
    await s.ready(2);
    await pushImage(s.registry, 'shop/wrong', '1.0', { seed: 'wrong-v2' });
    // The password is rotated in the secret but not in the registry (the kubelet pulled before that).
    s.cluster.store.update(
      '/secrets',
      pullSecret('regcred', s.ns, s.registry.host, username, 'not-the-password'),
    );
    const uids = s.uids();

    const res = await s.run();
    t.equal(res.code, 0, res.stderr);
    t.equal(res.json.exitCode, 0);
    t.equal(res.json.pods.length, 2);
    for (const p of res.json.pods) {
      t.equal(p.verdict, 'skipped');
      t.equal(p.reason, 'unauthorized');
      t.equal(p.restart, null);
    }
    t.same(res.json.warnings, [], 'a soft failure is not a registry fault');
    t.same(s.uids(), uids, 'nothing was evicted');
  },
);

t.test(
  'when credentials come from --docker-config then they are used for pods without secrets',
  async (t) => {
    if (!requireBin(t, 'htpasswd')) return;
    const s = await startScenario(t, { registry: { auth: 'basic' } });
    if (!s) return;
    const { username, password } = s.registry.credentials!;
    const v1 = await pushImage(s.registry, 'shop/dc', '1.0', { seed: 'dc-v1' });
    insertedPods(s, 'dc', `${s.registry.host}/shop/dc:1.0`, `${s.registry.host}/shop/dc@${v1.digest}`, 2);
    const v2 = await pushImage(s.registry, 'shop/dc', '1.0', { seed: 'dc-v2' });
    const file = join(s.cluster.dir, 'docker-config.json');
    const auth = Buffer.from(`${username}:${password}`).toString('base64');
    writeFileSync(file, JSON.stringify({ auths: { [`http://${s.registry.host}`]: { auth } } }));

    const without = await s.run(['--dry-run']);
    t.equal(without.code, 0, without.stderr);
    t.ok(
      without.json.pods.every((p: { reason: string }) => p.reason === 'unauthorized'),
      'without credentials the registry refuses',
    );

    const res = await s.run(['--dry-run', '--docker-config', file]);
    t.equal(res.code, 0, res.stderr);
    t.equal(res.json.summary.stale, 2);
    t.ok(
      res.json.pods.every(
        (p: { containers: Array<{ currentDigest: string }> }) => p.containers[0]!.currentDigest === v2.digest,
      ),
    );

    const env = await s.run(['--dry-run'], { AUTO_UPDATER_DOCKER_CONFIG: file });
    t.equal(env.json.summary.stale, 2, 'the environment twin works the same');
  },
);

t.test('when the registry speaks TLS then it is verified: with --registry-ca the run works', async (t) => {
  if (!requireBin(t, 'openssl')) return;
  const s = await startScenario(t, { registry: { tls: true } });
  if (!s) return;
  await pushImage(s.registry, 'shop/tls', '1.0', { seed: 'tls-v1' });
  s.create(
    'Deployment',
    deployment('tls', s.ns, `${s.registry.host}/shop/tls:1.0`, { replicas: 2, container: always }),
  );
  await s.ready(2);
  const v2 = await pushImage(s.registry, 'shop/tls', '1.0', { seed: 'tls-v2' });
  t.ok(s.baseArgs.includes('--registry-ca'));
  const res = await s.run();
  t.equal(res.code, 0, res.stderr);
  t.equal(res.json.summary.restarted, 2);
  await s.ready(2);
  t.ok(s.live().every((p) => s.digestOf(p) === v2.digest));
});

t.test(
  'when the registry CA is not trusted then the registry is unreachable, pods kept, exit 1',
  async (t) => {
    if (!requireBin(t, 'openssl')) return;
    const s = await startScenario(t, { registry: { tls: true }, trustRegistry: false });
    if (!s) return;
    await pushImage(s.registry, 'shop/tls', '1.0', { seed: 'untrusted-v1' });
    s.create(
      'Deployment',
      deployment('tls', s.ns, `${s.registry.host}/shop/tls:1.0`, { replicas: 2, container: always }),
    );
    await s.ready(2);
    await pushImage(s.registry, 'shop/tls', '1.0', { seed: 'untrusted-v2' });
    const uids = s.uids();
    t.notOk(s.baseArgs.includes('--registry-ca'));

    const res = await s.run();
    t.equal(res.code, 1, 'TLS is verified by default: an unknown CA is a hard fault');
    t.equal(res.json.exitCode, 1);
    t.equal(res.json.pods.length, 2);
    for (const p of res.json.pods) {
      t.equal(p.verdict, 'skipped');
      t.equal(p.reason, 'registry-unreachable');
    }
    t.match(res.json.warnings.join('\n'), s.registry.host, 'the warning names the registry');
    t.match(res.json.warnings.join('\n'), /certificate|TLS|self.signed|issuer/i, 'and says it is about TLS');
    t.same(s.uids(), uids, 'nothing was evicted');
  },
);
