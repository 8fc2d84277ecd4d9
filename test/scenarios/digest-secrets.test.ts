// Digest mode end to end, credential hygiene: registry passwords and their base64 forms never reach stdout or the
// logs (even at trace level, even when they fail), and a credential is never sent to a registry it is not keyed for.

import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Test } from 'tap';
import t from 'tap';
import { deployment, pullSecret } from '../harness/kube-sim/fixtures.ts';
import { pushImage, startFaultProxy, startRegistry } from '../harness/registry/index.ts';
import { requireBin } from '../harness/require-bin.ts';
import type { RunOutput } from './scenario.ts';
import { startScenario } from './scenario.ts';

const always = { imagePullPolicy: 'Always' as const };
const PASSWORD = 'S3cr3t-Pa55-w0rd';

function assertNoSecret(t: Test, run: RunOutput, secrets: string[], label: string): void {
  const all = `${run.stdout}\n${run.stderr}`;
  t.ok(run.stderr.length > 0, `${label}: there are logs to check`);
  for (const s of secrets) t.notOk(all.includes(s), `${label}: ${s.slice(0, 4)}… appears nowhere`);
  t.notMatch(all, /eyJ[\w-]{10,}\.[\w-]{10,}/, `${label}: no bearer token (JWT) appears`);
}

for (const auth of ['basic', 'bearer'] as const) {
  t.test(`when a ${auth} registry is used at trace level then no credential is printed`, async (t) => {
    if (!requireBin(t, auth === 'basic' ? 'htpasswd' : 'openssl')) return;
    const s = await startScenario(t, { registry: { auth, users: { carol: PASSWORD } } });
    if (!s) return;
    const b64 = Buffer.from(`carol:${PASSWORD}`).toString('base64');
    const secrets = [PASSWORD, b64, Buffer.from(PASSWORD).toString('base64')];
    s.create('Secret', pullSecret('regcred', s.ns, s.registry.host, 'carol', PASSWORD));
    await pushImage(s.registry, 'shop/quiet', '1.0', { seed: `${auth}-q1` });
    s.create(
      'Deployment',
      deployment('quiet', s.ns, `${s.registry.host}/shop/quiet:1.0`, {
        replicas: 2,
        container: always,
        imagePullSecrets: ['regcred'],
      }),
    );
    await s.ready(2);
    await pushImage(s.registry, 'shop/quiet', '1.0', { seed: `${auth}-q2` });

    const trace = ['--log-level', 'trace', '--log-format', 'json'];
    const res = await s.run(trace);
    t.equal(res.code, 0, res.stderr.slice(-2000));
    t.equal(res.json.summary.restarted, 2, 'the credentials were really used');
    t.match(
      res.stderr,
      /"level":20,[^\n]*registry request/,
      'the most verbose lines (each registry request) were written',
    );
    assertNoSecret(t, res, secrets, 'successful run');

    const text = await s.run([...trace, '--dry-run', '-o', 'text']);
    assertNoSecret(t, text, secrets, 'text output');

    // A failing credential is where clients tend to echo what they sent.
    s.cluster.store.update(
      '/secrets',
      pullSecret('regcred', s.ns, s.registry.host, 'carol', `${PASSWORD}-old`),
    );
    const wrong = await s.run(trace);
    t.ok(wrong.json.pods.every((p: { reason: string }) => p.reason === 'unauthorized'));
    assertNoSecret(t, wrong, [...secrets, `${PASSWORD}-old`], 'wrong password');

    // A mounted docker config, good and broken.
    const file = join(s.cluster.dir, 'config.json');
    writeFileSync(file, JSON.stringify({ auths: { [s.registry.host]: { auth: b64 } } }));
    const dc = await s.run([...trace, '--dry-run', '--docker-config', file]);
    t.equal(dc.code, 0);
    assertNoSecret(t, dc, secrets, '--docker-config');
    writeFileSync(file, `{"auths":{"${s.registry.host}":{"auth":"${b64}", "password":"${PASSWORD}"`);
    const broken = await s.run([...trace, '--docker-config', file]);
    t.equal(broken.code, 2, 'an unparsable docker config is a configuration error');
    assertNoSecret(t, broken, secrets, 'broken --docker-config');
  });
}

t.test("when a pod's secret is for registry A then registry B never receives it", async (t) => {
  if (!requireBin(t, 'htpasswd')) return;
  const s = await startScenario(t, { registry: { auth: 'basic' } });
  if (!s) return;
  const b = await startRegistry({});
  t.teardown(() => b.stop());
  const proxyB = await startFaultProxy(b);
  t.teardown(() => proxyB.stop());
  const { username, password } = s.registry.credentials!;
  s.create('Secret', pullSecret('regcred', s.ns, s.registry.host, username, password));
  await pushImage(s.registry, 'shop/front', '1.0', { seed: 'front-v1' });
  await pushImage(b, 'shop/side', '1.0', { seed: 'side-v1' });
  s.create(
    'Deployment',
    deployment('mixed', s.ns, `${s.registry.host}/shop/front:1.0`, {
      container: always,
      containers: [{ name: 'side', image: `${proxyB.host}/shop/side:1.0`, imagePullPolicy: 'Always' }],
      imagePullSecrets: ['regcred'],
    }),
  );
  await s.ready(1);
  await pushImage(s.registry, 'shop/front', '1.0', { seed: 'front-v2' });
  await pushImage(b, 'shop/side', '1.0', { seed: 'side-v2' });
  proxyB.resetCounts();

  const res = await s.run(['--insecure-registry', proxyB.host, '--log-level', 'trace']);
  t.equal(res.code, 0, res.stderr.slice(-2000));
  t.same(
    res.json.pods[0].containers.map((c: { name: string; verdict: string }) => [c.name, c.verdict]),
    [
      ['app', 'stale'],
      ['side', 'stale'],
    ],
    'both registries were asked',
  );
  // The updater: its /v2/ probe and one HEAD; the kubelet: one HEAD pulling the replacement's image.
  t.same(
    proxyB.log().map((e) => [e.method, e.path]),
    [
      ['GET', '/v2/'],
      ['HEAD', '/v2/shop/side/manifests/1.0'],
      ['HEAD', '/v2/shop/side/manifests/1.0'],
    ],
    'the updater asked registry B once',
  );
  t.same(
    proxyB.log().filter((e) => e.authorization !== undefined),
    [],
    'registry B never saw an Authorization header',
  );
  t.equal(res.json.summary.restarted, 1);
});
