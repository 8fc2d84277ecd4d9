// Docker mode end to end on real engines: a private dockerd and a private Podman API service pull from the real
// registry, and the real planner judges plain pod objects with the states the docker source returns.

import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import type { V1Pod, V1Secret } from '@kubernetes/client-node';
import Dockerode from 'dockerode';
import { pino } from 'pino';
import t from 'tap';
import type { PodPlan } from '../../lib/model/plan.ts';
import {
  buildPlan,
  candidateKey,
  candidates,
  type PlanContext,
  type TagState,
} from '../../lib/plan/planner.ts';
import { type Logger, REDACT_PATHS, silentLogger } from '../../lib/shared/log.ts';
import { createDockerSource } from '../../lib/sources/docker.ts';
import { pullImage } from '../../lib/sources/docker-pull.ts';
import { dockerConfigSecret, runningPod, secretTable } from '../harness/engine/fixtures.ts';
import { type Engine, engineTls, requireRoot, startDockerd, startPodman } from '../harness/engine/index.ts';
import { pushImage, type Registry, startFaultProxy, startRegistry } from '../harness/registry/index.ts';
import { requireBin } from '../harness/require-bin.ts';

const ctx: PlanContext = { optIn: false, compareConfigIds: true, now: new Date('2026-11-21T10:00:00Z') };

/** Resolves the pods' candidates through the engine and plans them with the real planner. */
async function judge(
  engine: Engine,
  pods: V1Pod[],
  secrets: V1Secret[] = [],
  logger: Logger = silentLogger(),
) {
  const source = createDockerSource(
    { dockerHost: engine.host, dockerTlsVerify: false, registryConcurrency: 4 },
    { logger, pullSecrets: secretTable(secrets) },
  );
  const cands = candidates(pods, ctx);
  const tags = await source.resolve(cands, new Map(pods.map((p) => [p.metadata?.uid ?? '', p])));
  const plan = buildPlan(pods, ctx, tags);
  const byName = (name: string): PodPlan => {
    const p = plan.pods.find((x) => x.name === name);
    if (!p) throw new Error(`no plan for ${name}`);
    return p;
  };
  const state = (name: string): TagState | undefined => tags.get(candidateKey(`uid-${name}`, 'app', false));
  await source.close();
  return { plan, byName, state, source, candidates: cands };
}

const pullable = (reg: Registry, repo: string, digest: string) =>
  `docker-pullable://${reg.host}/${repo}@${digest}`;

const engines: Array<[string, () => Promise<Engine>]> = [
  ['dockerd', startDockerd],
  ['podman', startPodman],
];

if (requireBin(t, 'docker-registry') && requireRoot(t, 'running dockerd and podman')) {
  for (const [bin, start] of engines) {
    if (!requireBin(t, bin)) continue;
    t.test(`on ${bin}`, async (t) => {
      const reg = await startRegistry();
      t.teardown(reg.stop);
      const engine = await start();
      t.teardown(engine.stop);

      t.test('when the tag is unchanged then a pod on its digest is current', async (t) => {
        const v1 = await pushImage(reg, 'same', 'v1', { seed: 'same-1' });
        const r = await judge(engine, [
          runningPod({ name: 'a', image: `${reg.host}/same:v1`, imageID: pullable(reg, 'same', v1.digest) }),
        ]);
        t.equal(r.byName('a').verdict, 'current');
        t.match(r.state('a'), { ok: true, digest: v1.digest, configIds: [v1.configDigest] });
        t.match(r.source.stats(), { refs: 1, pulls: 1, pullFailures: 0, inspects: 1, digestPulls: 0 });
        t.equal(r.source.hadHardFault(), false);
      });

      t.test(
        'when the tag moved then the pod on the old digest is stale and one on the new is current',
        async (t) => {
          const old = await pushImage(reg, 'moving', 'v1', { seed: 'moving-1' });
          const before = await judge(engine, [
            runningPod({
              name: 'a',
              image: `${reg.host}/moving:v1`,
              imageID: pullable(reg, 'moving', old.digest),
            }),
          ]);
          t.equal(
            before.byName('a').verdict,
            'current',
            'the node has the old image and the tag still points to it',
          );

          const moved = await pushImage(reg, 'moving', 'v1', { seed: 'moving-2' });
          t.not(moved.digest, old.digest);
          const after = await judge(engine, [
            runningPod({
              name: 'a',
              image: `${reg.host}/moving:v1`,
              imageID: pullable(reg, 'moving', old.digest),
            }),
            runningPod({
              name: 'b',
              image: `${reg.host}/moving:v1`,
              imageID: pullable(reg, 'moving', moved.digest),
            }),
          ]);
          t.match(after.state('a'), { ok: true, digest: moved.digest, configIds: [moved.configDigest] });
          t.equal(after.byName('a').verdict, 'stale');
          t.equal(after.byName('a').reason, 'digest-changed');
          t.equal(after.byName('b').verdict, 'current');
          t.equal(after.source.stats().refs, 1, 'two pods on one tag: one pull of the tag');
        },
      );

      t.test(
        'when a docker:// image ID is compared then the old ID is stale and the new one current',
        async (t) => {
          const old = await pushImage(reg, 'ids', 'v1', { seed: 'ids-1' });
          await judge(engine, [
            runningPod({
              name: 'warm',
              image: `${reg.host}/ids:v1`,
              imageID: `docker://${old.configDigest}`,
            }),
          ]);
          const moved = await pushImage(reg, 'ids', 'v1', { seed: 'ids-2' });
          const r = await judge(engine, [
            runningPod({ name: 'a', image: `${reg.host}/ids:v1`, imageID: `docker://${old.configDigest}` }),
            runningPod({ name: 'b', image: `${reg.host}/ids:v1`, imageID: `docker://${moved.configDigest}` }),
          ]);
          t.equal(r.byName('a').verdict, 'stale');
          t.equal(r.byName('b').verdict, 'current');
        },
      );

      t.test('when the tag does not exist then the pod is kept as not-found', async (t) => {
        await pushImage(reg, 'gone', 'v1', { seed: 'gone-1' });
        const r = await judge(engine, [
          runningPod({
            name: 'a',
            image: `${reg.host}/gone:nope`,
            imageID: pullable(reg, 'gone', `sha256:${'1'.repeat(64)}`),
          }),
        ]);
        t.equal(r.byName('a').verdict, 'skipped');
        t.equal(r.byName('a').reason, 'not-found');
        t.match(r.source.stats(), { pulls: 1, pullFailures: 1, inspects: 0 });
        t.equal(r.source.hadHardFault(), false, 'a missing tag concerns one reference only');
      });

      t.test(
        'when the tag is multi-arch then the index digest and the platform digest are both current',
        async (t) => {
          const idx = await pushImage(reg, 'multi', 'v1', { format: 'oci-index', seed: 'multi-1' });
          const amd64 = idx.children?.find((c) => c.platform.architecture === 'amd64');
          const arm64 = idx.children?.find((c) => c.platform.architecture === 'arm64');
          if (!amd64 || !arm64) throw new Error('pushImage gave no amd64/arm64 children');
          const r = await judge(engine, [
            runningPod({
              name: 'index',
              image: `${reg.host}/multi:v1`,
              imageID: pullable(reg, 'multi', idx.digest),
            }),
            runningPod({
              name: 'child',
              image: `${reg.host}/multi:v1`,
              imageID: pullable(reg, 'multi', amd64.digest),
            }),
            runningPod({
              name: 'other',
              image: `${reg.host}/multi:v1`,
              imageID: pullable(reg, 'multi', arm64.digest),
            }),
          ]);
          const listed = r.state('index');
          if (engine.kind === 'dockerd') {
            t.match(
              listed,
              { ok: true, digest: idx.digest, children: [] },
              'dockerd lists only the index digest',
            );
          } else {
            t.match(
              listed,
              { ok: true, children: [amd64.digest] },
              'podman lists index and platform digests',
            );
            t.equal((listed as { digest: string }).digest, idx.digest);
          }
          t.equal(r.byName('index').verdict, 'current');
          t.equal(r.byName('child').verdict, 'current');
          t.equal(
            r.byName('other').verdict,
            'skipped',
            "another platform's manifest cannot be judged here: kept",
          );
          t.match(r.byName('other').containers[0]?.message, /linux\/arm64 image/);
        },
      );

      t.test('when the index moved then a pod on the old platform manifest is stale', async (t) => {
        const old = await pushImage(reg, 'multimove', 'v1', { format: 'docker-list', seed: 'mm-1' });
        const oldAmd64 = old.children?.find((c) => c.platform.architecture === 'amd64');
        if (!oldAmd64) throw new Error('no amd64 child');
        await pushImage(reg, 'multimove', 'v1', { format: 'docker-list', seed: 'mm-2' });
        const r = await judge(engine, [
          runningPod({
            name: 'a',
            image: `${reg.host}/multimove:v1`,
            imageID: pullable(reg, 'multimove', oldAmd64.digest),
          }),
          runningPod({
            name: 'b',
            image: `${reg.host}/multimove:v1`,
            imageID: pullable(reg, 'multimove', old.digest),
          }),
        ]);
        t.equal(r.byName('a').verdict, 'stale');
        t.equal(r.byName('b').verdict, 'stale');
      });

      t.test('when the engine is down then every pod is kept and the run is partial', async (t) => {
        await pushImage(reg, 'down', 'v1', { seed: 'down-1' });
        await pushImage(reg, 'down', 'v2', { seed: 'down-2' });
        const pods = [
          runningPod({
            name: 'a',
            image: `${reg.host}/down:v1`,
            imageID: pullable(reg, 'down', `sha256:${'2'.repeat(64)}`),
          }),
          runningPod({
            name: 'b',
            image: `${reg.host}/down:v2`,
            imageID: pullable(reg, 'down', `sha256:${'3'.repeat(64)}`),
          }),
        ];
        const stopped = await start();
        await stopped.stop();
        const r = await judge(stopped, pods);
        for (const name of ['a', 'b']) {
          t.equal(r.byName(name).verdict, 'skipped');
          t.equal(r.byName(name).reason, 'registry-unreachable');
          t.match(r.byName(name).containers[0]?.message, /Docker engine unreachable/);
        }
        t.equal(r.source.hadHardFault(), true);
        t.equal(r.source.faults().length, 1);
        t.equal(r.source.stats().pulls, 0, 'no pull is attempted once the engine does not answer');
      });
    });
  }

  for (const [bin, start] of engines) {
    if (!requireBin(t, bin)) continue;
    t.test(`with credentials on ${bin}`, async (t) => {
      const reg = await startRegistry({ auth: 'basic' });
      t.teardown(reg.stop);
      const creds = reg.credentials;
      if (!creds) throw new Error('basic registry without credentials');
      const engine = await start();
      t.teardown(engine.stop);
      const image = await pushImage(reg, 'private', 'v1', { seed: 'private-1' });
      const good = dockerConfigSecret('good', reg.host, creds.username, creds.password);
      const bad = dockerConfigSecret('bad', reg.host, creds.username, 'wrong-password');
      const pod = (name: string, secrets: string[]) =>
        runningPod({
          name,
          image: `${reg.host}/private:v1`,
          imageID: pullable(reg, 'private', image.digest),
          pullSecrets: secrets,
        });

      t.test('when the pull secret is right then the pod is current', async (t) => {
        const r = await judge(engine, [pod('a', ['good'])], [good]);
        t.equal(r.byName('a').verdict, 'current');
      });

      t.test(
        'when the password is wrong then the pod is kept as unauthorized, even with the image cached',
        async (t) => {
          // The engine still has private:v1 from the test above: only the pull's own outcome may decide.
          const r = await judge(engine, [pod('a', ['bad'])], [bad]);
          t.equal(r.byName('a').verdict, 'skipped');
          t.equal(r.byName('a').reason, 'unauthorized');
          t.equal(r.source.stats().inspects, 0);
          t.equal(r.source.hadHardFault(), false);
        },
      );

      t.test('when there is no pull secret then the anonymous pull is unauthorized', async (t) => {
        const r = await judge(engine, [pod('a', [])]);
        t.equal(r.byName('a').reason, 'unauthorized');
      });

      t.test('when pods on one tag carry different secrets then the first that works is used', async (t) => {
        // Debug logs of a run with a wrong and a right password must hold neither.
        let logged = '';
        const sink = new Writable({
          write(chunk, _enc, cb) {
            logged += chunk.toString();
            cb();
          },
        });
        const logger = pino({ level: 'debug', redact: { paths: REDACT_PATHS, censor: '[redacted]' } }, sink);
        const r = await judge(engine, [pod('a', ['bad']), pod('b', ['good'])], [bad, good], logger);
        t.equal(r.byName('a').verdict, 'current');
        t.equal(r.byName('b').verdict, 'current');
        t.match(r.source.stats(), { refs: 1, pulls: 2, pullFailures: 1 });
        t.match(logged, /pull attempt failed/, 'the debug log was captured');
        for (const secret of [
          creds.password,
          'wrong-password',
          Buffer.from(`${creds.username}:${creds.password}`).toString('base64'),
        ]) {
          t.notOk(logged.includes(secret), 'no credential in the logs');
        }
      });
    });

    t.test(`when a secret is keyed for another registry on ${bin} then it is never sent`, async (t) => {
      const reg = await startRegistry();
      t.teardown(reg.stop);
      const proxy = await startFaultProxy(reg);
      t.teardown(proxy.stop);
      const engine = await start();
      t.teardown(engine.stop);
      const image = await pushImage(reg, 'open', 'v1', { seed: 'open-1' });
      const elsewhere = dockerConfigSecret('elsewhere', '127.0.0.1:1', 'alice', 'alice-secret');
      const r = await judge(
        engine,
        [
          runningPod({
            name: 'a',
            image: `${proxy.host}/open:v1`,
            imageID: `docker-pullable://${proxy.host}/open@${image.digest}`,
            pullSecrets: ['elsewhere'],
          }),
        ],
        [elsewhere],
      );
      t.equal(r.byName('a').verdict, 'current');
      t.ok(proxy.log().length > 0, 'the engine pulled through the proxy');
      t.same(
        proxy.log().filter((e) => e.authorization !== undefined),
        [],
        'no request carried an Authorization header',
      );
    });
  }

  if (requireBin(t, 'podman')) {
    t.test('when podman fails a pull it answers 200 and the error is only inside the stream', async (t) => {
      const reg = await startRegistry();
      t.teardown(reg.stop);
      const engine = await startPodman();
      t.teardown(engine.stop);
      const docker = new Dockerode({ socketPath: engine.socketPath });
      // The precondition that makes the stream check necessary: dockerode itself sees no error.
      const stream = await docker.pull(`${reg.host}/absent:v1`);
      const followed = await new Promise<unknown>((resolve) =>
        docker.modem.followProgress(stream, (err: unknown) => resolve(err)),
      );
      t.equal(followed, null, 'followProgress reports success');
      const r = await pullImage(docker, { name: `${reg.host}/absent`, reference: 'v1' });
      t.match(r, { ok: false, kind: 'not-found', message: /manifest unknown/ });
    });
  }
  if (requireBin(t, 'dockerd') && requireBin(t, 'openssl')) {
    t.test(
      'when dockerd is reached over tcp with TLS then the client certificate directory is used',
      async (t) => {
        const reg = await startRegistry();
        t.teardown(reg.stop);
        const tls = engineTls();
        const engine = await startDockerd({
          tls: { caPem: tls.caPem, certPem: tls.serverCertPem, keyPem: tls.serverKeyPem },
        });
        t.teardown(engine.stop);
        const certDir = (ca: string) => {
          const dir = mkdtempSync(join(tmpdir(), 'docker-certs-'));
          t.teardown(() => rmSync(dir, { recursive: true, force: true }));
          writeFileSync(join(dir, 'ca.pem'), ca);
          writeFileSync(join(dir, 'cert.pem'), tls.clientCertPem);
          writeFileSync(join(dir, 'key.pem'), tls.clientKeyPem);
          return dir;
        };
        const image = await pushImage(reg, 'tls', 'v1', { seed: 'tls-1' });
        const pods = [
          runningPod({ name: 'a', image: `${reg.host}/tls:v1`, imageID: pullable(reg, 'tls', image.digest) }),
        ];
        const byUid = new Map(pods.map((p) => [p.metadata?.uid ?? '', p]));
        const resolveWith = async (dir: string) => {
          const source = createDockerSource(
            {
              dockerHost: engine.tcpHost ?? '',
              dockerTlsVerify: true,
              dockerCertPath: dir,
              registryConcurrency: 1,
            },
            { logger: silentLogger(), pullSecrets: secretTable([]) },
          );
          const states = await source.resolve(candidates(pods, ctx), byUid);
          return { state: states.get(candidateKey('uid-a', 'app', false)), hard: source.hadHardFault() };
        };

        t.match(await resolveWith(certDir(tls.caPem)), {
          state: { ok: true, digest: image.digest },
          hard: false,
        });
        const stranger = engineTls();
        t.match(
          await resolveWith(certDir(stranger.caPem)),
          {
            state: { ok: false, reason: 'registry-unreachable', message: /Docker engine unreachable/ },
            hard: true,
          },
          'an engine certificate the CA did not sign is refused',
        );
      },
    );
  }
}
