// Digest mode end to end: every pod-level and container-level skip verdict, judged by a real run against a real
// registry whose tag has moved, so each skipped pod would otherwise have been restarted.

import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import t from 'tap';
import { runUpdater } from '../../lib/cli/run.ts';
import { mergeOptions, toRunConfig } from '../../lib/config/config.ts';
import { silentLogger } from '../../lib/shared/log.ts';
import { SIM_ANNOTATIONS } from '../harness/kube-sim/controllers/index.ts';
import { barePod, deployment, job, runningPod } from '../harness/kube-sim/fixtures.ts';
import type { KObject } from '../harness/kube-sim/store.ts';
import { pushImage } from '../harness/registry/index.ts';
import { isReadyPod, jsonPods, startScenario } from './scenario.ts';

const ENABLED = 'k8s-auto-updater.io/enabled';
const always = { imagePullPolicy: 'Always' as const };

t.test('when the tag moved then every pod that must not be evicted is skipped with its reason', async (t) => {
  const s = await startScenario(t);
  if (!s) return;
  const v1 = await pushImage(s.registry, 'shop/web', '1.0', { format: 'oci', seed: 'verdicts-v1' });
  const image = `${s.registry.host}/shop/web:1.0`;
  const mk = (name: string, opts: Parameters<typeof deployment>[3] = {}) =>
    s.create('Deployment', deployment(name, s.ns, image, { container: always, ...opts }));

  mk('control');
  s.create('Deployment', deployment('pinned', s.ns, `${s.registry.host}/shop/web@${v1.digest}`));
  mk('nodigest', { podAnnotations: { [SIM_ANNOTATIONS.runtime]: 'docker-no-digest' } });
  mk('bareid', { podAnnotations: { [SIM_ANNOTATIONS.runtime]: 'bare' } });
  s.create('Deployment', deployment('missing', s.ns, `${s.registry.host}/shop/missing:1.0`));
  mk('unready', { podAnnotations: { [SIM_ANNOTATIONS.neverReady]: 'true' } });
  mk('podout', { podAnnotations: { [ENABLED]: 'false' } });
  mk('deployout', { annotations: { [ENABLED]: 'FALSE ' } });
  mk('updater');
  s.create('Pod', barePod('lonely', s.ns, image, { container: always }));
  s.cluster.store.create('batch/jobs', job('migrate', s.ns, image, { container: always }));
  const node = s.cluster.store.get('/nodes', undefined, 'node-a') as KObject;
  runningPod(s.cluster.store, 'static-web-node-a', s.ns, image, `${s.registry.host}/shop/web@${v1.digest}`, {
    annotations: { 'kubernetes.io/config.mirror': 'abc123', 'kubernetes.io/config.source': 'file' },
    owner: node,
    imagePullPolicy: 'Always',
  });

  await s.until((pods) => {
    const named = (p: string) => pods.filter((x) => x.metadata.name!.startsWith(`${p}-`));
    const ready = ['control', 'pinned', 'nodigest', 'bareid', 'podout', 'deployout', 'updater'].every(
      (p) => named(p).length === 1 && named(p).every(isReadyPod),
    );
    const missing = named('missing')[0]?.status?.containerStatuses?.[0]?.state?.waiting?.reason;
    const unready = named('unready')[0];
    const migrate = named('migrate')[0]?.status?.phase;
    return (
      ready &&
      isReadyPod(pods.find((p) => p.metadata.name === 'lonely') ?? { metadata: {} }) &&
      /ErrImagePull|ImagePullBackOff/.test(missing ?? '') &&
      unready?.status?.phase === 'Running' &&
      (migrate === 'Running' || migrate === 'Succeeded')
    );
  });
  const updaterPod = s.live().find((p) => p.metadata.name!.startsWith('updater-'))!;
  await pushImage(s.registry, 'shop/web', '1.0', { format: 'oci', seed: 'verdicts-v2' });
  const before = new Map(s.live().map((p) => [p.metadata.name!, p.metadata.uid!]));

  const res = await s.run([], { POD_NAME: updaterPod.metadata.name!, POD_NAMESPACE: s.ns });
  t.equal(res.code, 0, res.stderr);
  t.equal(res.json.exitCode, 0);
  const expect: Record<string, string> = {
    pinned: 'digest-pinned',
    nodigest: 'no-repo-digest',
    bareid: 'no-repo-digest',
    missing: 'pending',
    unready: 'not-ready',
    podout: 'opted-out',
    deployout: 'opted-out',
    updater: 'self',
    lonely: 'bare-pod',
    migrate: 'job-pod',
    'static-web-node-a': 'mirror-pod',
  };
  for (const [prefix, reason] of Object.entries(expect)) {
    const [p, ...rest] = jsonPods(res.json, prefix);
    t.equal(rest.length, 0, `one pod for ${prefix}`);
    t.equal(p?.verdict, 'skipped', `${prefix} is skipped`);
    t.equal(p?.reason, reason, `${prefix}: ${reason}`);
    t.equal(p?.restart, null, `${prefix} has no restart`);
  }
  t.equal(jsonPods(res.json, 'pinned')[0].containers[0].reason, 'digest-pinned');
  const nd = jsonPods(res.json, 'nodigest')[0].containers[0];
  t.equal(nd.runningDigest, null, 'a docker:// image ID is not a manifest digest');
  t.match(jsonPods(res.json, 'updater')[0].message, /own pod/);

  const control = jsonPods(res.json, 'control')[0];
  t.equal(control.verdict, 'stale', 'the control Deployment shows the tag really moved');
  t.equal(control.restart.outcome, 'restarted');
  t.same(res.json.summary, {
    pods: 12,
    current: 0,
    stale: 1,
    skipped: 11,
    restarted: 1,
    failed: 0,
  });

  // Only the control pod was evicted: every skipped pod, the bare one above all, still exists unchanged.
  const after = new Map(s.live().map((p) => [p.metadata.name!, p.metadata.uid!]));
  for (const [name, uid] of before) {
    if (name.startsWith('control-')) t.notOk(after.has(name), 'the control pod was evicted');
    else t.equal(after.get(name), uid, `${name} untouched`);
  }
  const lonely = s.pod('lonely');
  t.ok(lonely && !lonely.metadata.deletionTimestamp, 'the bare pod still exists after a real run');
});

t.test('when a pod is terminating then it is skipped even though it runs the old digest', async (t) => {
  const s = await startScenario(t, { controllers: { terminationDelayMs: 60_000 } });
  if (!s) return;
  const v1 = await pushImage(s.registry, 'shop/term', '1.0', { seed: 'term-v1' });
  s.create(
    'Deployment',
    deployment('term', s.ns, `${s.registry.host}/shop/term:1.0`, {
      container: always,
      podSpec: { terminationGracePeriodSeconds: 60 },
    }),
  );
  await s.ready(1);
  const old = s.live()[0]!;
  const v2 = await pushImage(s.registry, 'shop/term', '1.0', { seed: 'term-v2' });
  s.cluster.store.delete('/pods', s.ns, old.metadata.name!);
  await s.until(
    (pods) => pods.length === 1 && isReadyPod(pods[0]!) && pods[0]!.metadata.uid !== old.metadata.uid,
  );

  const res = await s.run();
  t.equal(res.code, 0, res.stderr);
  const term = res.json.pods.find((p: { name: string }) => p.name === old.metadata.name);
  t.equal(term?.verdict, 'skipped');
  t.equal(term?.reason, 'terminating');
  t.equal(s.digestOf(old), v1.digest, 'the terminating pod runs the old digest');
  const fresh = res.json.pods.find((p: { name: string }) => p.name !== old.metadata.name);
  t.equal(fresh.verdict, 'current');
  t.equal(fresh.containers[0].currentDigest, v2.digest);
  t.equal(res.json.summary.restarted, 0);
});

t.test(
  'when the pull policy is IfNotPresent then a restart would reuse the cached old image, so the pod is skipped',
  async (t) => {
    const s = await startScenario(t, { controllers: { nodes: ['node-a'] } });
    if (!s) return;
    const v1 = await pushImage(s.registry, 'shop/cache', '2.1', { seed: 'cache-v1' });
    const image = `${s.registry.host}/shop/cache:2.1`;
    s.create(
      'Deployment',
      deployment('explicit', s.ns, image, { container: { imagePullPolicy: 'IfNotPresent' } }),
    );
    s.create('Deployment', deployment('implied', s.ns, image));
    await s.ready(2);
    const v2 = await pushImage(s.registry, 'shop/cache', '2.1', { seed: 'cache-v2' });
    const uids = s.uids();

    const res = await s.run();
    t.equal(res.code, 0, res.stderr);
    for (const name of ['explicit', 'implied']) {
      const [p] = jsonPods(res.json, name);
      t.equal(p.verdict, 'skipped');
      t.equal(p.reason, 'pull-policy-cache', `${name}: pull-policy-cache`);
      t.match(p.containers[0].message, /imagePullPolicy: Always/, 'the message says the fix');
      t.equal(p.containers[0].runningDigest, v1.digest);
    }
    t.same(s.uids(), uids, 'nothing was evicted');
    t.equal(res.json.stats.heads, 0, 'no registry request for a pod that cannot be helped');

    // Evicting would not have helped: the node's cached v1 bytes come back.
    const victim = s.live().find((p) => p.metadata.name!.startsWith('explicit-'))!;
    s.cluster.store.delete('/pods', s.ns, victim.metadata.name!);
    await s.ready(2);
    const replacement = s.live().find((p) => p.metadata.name!.startsWith('explicit-'))!;
    t.not(replacement.metadata.uid, victim.metadata.uid, 'a replacement was created');
    t.equal(s.digestOf(replacement), v1.digest, 'the replacement still runs the cached old digest');
    t.not(v1.digest, v2.digest);
  },
);

t.test('when --opt-in is given then only annotated pods and workloads are considered', async (t) => {
  const s = await startScenario(t);
  if (!s) return;
  await pushImage(s.registry, 'shop/opt', '1.0', { seed: 'opt-v1' });
  const image = `${s.registry.host}/shop/opt:1.0`;
  s.create('Deployment', deployment('plain', s.ns, image, { container: always }));
  s.create(
    'Deployment',
    deployment('wlin', s.ns, image, { container: always, annotations: { [ENABLED]: 'true' } }),
  );
  s.create(
    'Deployment',
    deployment('podin', s.ns, image, { container: always, podAnnotations: { [ENABLED]: 'true' } }),
  );
  s.create(
    'Deployment',
    deployment('both', s.ns, image, {
      container: always,
      annotations: { [ENABLED]: 'true' },
      podAnnotations: { [ENABLED]: 'false' },
    }),
  );
  await s.ready(4);
  const v2 = await pushImage(s.registry, 'shop/opt', '1.0', { seed: 'opt-v2' });
  const plainUid = s.live().find((p) => p.metadata.name!.startsWith('plain-'))!.metadata.uid;

  const without = await s.run(['--dry-run']);
  t.equal(without.code, 0, without.stderr);
  t.equal(without.json.summary.stale, 3, 'without --opt-in every pod not opted out is considered');
  t.equal(jsonPods(without.json, 'both')[0].reason, 'opted-out', 'false wins over true');
  t.equal(without.json.summary.stale + without.json.summary.skipped, 4);

  const res = await s.run(['--opt-in']);
  t.equal(res.code, 0, res.stderr);
  t.equal(jsonPods(res.json, 'plain')[0].reason, 'not-opted-in');
  t.match(jsonPods(res.json, 'plain')[0].message, /k8s-auto-updater\.io\/enabled=true/);
  t.equal(jsonPods(res.json, 'both')[0].reason, 'opted-out', 'false on the pod beats true on the Deployment');
  for (const name of ['wlin', 'podin']) {
    const p = jsonPods(res.json, name)[0];
    t.equal(p.verdict, 'stale', `${name} opted in`);
    t.equal(p.restart?.outcome, 'restarted');
  }
  t.equal(res.json.summary.restarted, 2);
  await s.ready(4);
  t.ok(
    s.live().some((p) => p.metadata.uid === plainUid),
    'the pod that did not opt in was not evicted',
  );
  for (const name of ['wlin', 'podin']) {
    const p = s.live().find((x) => x.metadata.name!.startsWith(`${name}-`))!;
    t.equal(s.digestOf(p), v2.digest, `${name} runs the new digest`);
  }
});

t.test(
  'when running in-cluster then its own pod (HOSTNAME) is skipped and its namespace is the default',
  async (t) => {
    const s = await startScenario(t);
    if (!s) return;
    await pushImage(s.registry, 'shop/self', '1.0', { seed: 'self-v1' });
    const image = `${s.registry.host}/shop/self:1.0`;
    s.create('Deployment', deployment('updater', s.ns, image, { container: always }));
    s.create('Deployment', deployment('other', s.ns, image, { container: always }));
    await s.ready(2);
    await pushImage(s.registry, 'shop/self', '1.0', { seed: 'self-v2' });
    const me = s.live().find((p) => p.metadata.name!.startsWith('updater-'))!;

    // The files the kubelet mounts into the updater's pod, and the environment it gets.
    const saDir = mkdtempSync(join(tmpdir(), 'sa-'));
    t.teardown(() => rmSync(saDir, { recursive: true, force: true }));
    writeFileSync(join(saDir, 'token'), s.cluster.adminToken);
    writeFileSync(join(saDir, 'ca.crt'), s.cluster.caPem);
    writeFileSync(join(saDir, 'namespace'), `${s.ns}\n`);
    const url = new URL(s.cluster.url);
    const env = {
      KUBERNETES_SERVICE_HOST: url.hostname,
      KUBERNETES_SERVICE_PORT: url.port,
      HOSTNAME: me.metadata.name!,
    };
    const config = toRunConfig(
      mergeOptions('run', { insecureRegistry: [s.registry.host], output: 'json', podTimeout: '20s' }, {}),
    );
    const out: Buffer[] = [];
    const stdout = new Writable({
      write(c, _e, cb) {
        out.push(Buffer.from(c));
        cb();
      },
    });
    const code = await runUpdater(config, {
      logger: silentLogger(),
      env,
      stdout,
      serviceAccountDir: saDir,
      signal: new AbortController().signal,
    });
    t.equal(code, 0);
    const json = JSON.parse(Buffer.concat(out).toString('utf8'));
    t.equal(json.summary.pods, 2, 'the service account namespace was checked');
    const self = jsonPods(json, 'updater')[0];
    t.equal(self.reason, 'self', 'HOSTNAME names the own pod in-cluster');
    t.equal(jsonPods(json, 'other')[0].restart?.outcome, 'restarted');
    t.ok(
      s.live().some((p) => p.metadata.uid === me.metadata.uid),
      'the updater did not evict itself',
    );
  },
);
