// SIGTERM during docker mode on real engines: a pull stuck on a slow registry (the fault proxy holds every blob) is
// abandoned as soon as the run's signal aborts, the remaining tags are never pulled, and every pod is kept as
// `interrupted`, well inside the chart's grace period.

import { setTimeout as sleep } from 'node:timers/promises';
import type { V1Pod } from '@kubernetes/client-node';
import t from 'tap';
import { buildPlan, candidateKey, candidates, type PlanContext } from '../../lib/plan/planner.ts';
import { silentLogger } from '../../lib/shared/log.ts';
import { createDockerSource } from '../../lib/sources/docker.ts';
import { runningPod } from '../harness/engine/fixtures.ts';
import { type Engine, requireRoot, startDockerd, startPodman } from '../harness/engine/index.ts';
import { pushImage, startFaultProxy, startRegistry } from '../harness/registry/index.ts';
import { requireBin } from '../harness/require-bin.ts';

const ctx: PlanContext = { optIn: false, compareConfigIds: true, now: new Date('2026-11-21T10:00:00Z') };
const OLD = `sha256:${'0'.repeat(64)}`;
// The abandoned pull must end this soon after the signal (the chart's grace period is far longer).
const PROMPT_MS = 3000;

const engines: Array<[string, () => Promise<Engine>]> = [
  ['dockerd', startDockerd],
  ['podman', startPodman],
];

if (requireBin(t, 'docker-registry') && requireRoot(t, 'running dockerd and podman')) {
  for (const [bin, start] of engines) {
    if (!requireBin(t, bin)) continue;
    t.test(
      `when the run is stopped mid-pull on ${bin} then the pull is abandoned promptly, no other tag is pulled and every pod is kept as interrupted`,
      async (t) => {
        const reg = await startRegistry();
        t.teardown(reg.stop);
        const proxy = await startFaultProxy(reg);
        t.teardown(proxy.stop);
        const engine = await start();
        t.teardown(engine.stop);
        const repos = ['slow-a', 'slow-b', 'slow-c', 'slow-d'];
        for (const repo of repos) await pushImage(reg, repo, 'v1', { seed: `${repo}-${bin}` });
        const pods: V1Pod[] = repos.map((repo) =>
          runningPod({
            name: repo,
            image: `${proxy.host}/${repo}:v1`,
            imageID: `docker-pullable://${proxy.host}/${repo}@${OLD}`,
          }),
        );
        // Every blob (config and layers) is held for 10 s, far past the signal: the pull hangs mid-download. (Longer
        // holds only keep the proxy's timers, and so this test process, alive after the test.)
        proxy.set({ match: /\/blobs\//, latencyMs: 10_000 });
        const source = createDockerSource(
          { dockerHost: engine.host, dockerTlsVerify: false, registryConcurrency: 1 },
          { logger: silentLogger(), pullSecrets: { forPod: async () => ({ secrets: [], warnings: [] }) } },
        );
        const cands = candidates(pods, ctx);
        t.equal(cands.length, 4);
        const ac = new AbortController();
        const resolving = source.resolve(cands, new Map(pods.map((p) => [p.metadata?.uid ?? '', p])), {
          signal: ac.signal,
        });

        // Wait until the engine is downloading the first image's blobs, then stop the run.
        const deadline = Date.now() + 30_000;
        while (!proxy.log().some((e) => e.path.includes('/blobs/')) && Date.now() < deadline) await sleep(50);
        t.ok(
          proxy.log().some((e) => e.path.includes('/slow-a/blobs/')),
          'the first pull reached the blobs',
        );
        const stoppedAt = Date.now();
        ac.abort(new Error('received SIGTERM'));
        const tags = await resolving;
        const took = Date.now() - stoppedAt;
        t.ok(took < PROMPT_MS, `resolve returned ${took} ms after the signal (bound ${PROMPT_MS} ms)`);

        t.equal(tags.size, 4);
        for (const repo of repos) {
          t.match(
            tags.get(candidateKey(`uid-${repo}`, 'app', false)),
            { ok: false, reason: 'interrupted', message: /abandoned \(received SIGTERM\)/ },
            `${repo} is interrupted`,
          );
        }
        const plan = buildPlan(pods, ctx, tags);
        t.equal(plan.pods.length, 4);
        t.same(
          plan.pods.map((p) => [p.name, p.verdict, p.reason]),
          repos.map((r) => [r, 'skipped', 'interrupted']),
          'every pod is kept',
        );
        t.same(source.stats(), {
          refs: 4,
          pulls: 1,
          pullFailures: 0,
          inspects: 0,
          digestPulls: 0,
          pullsAbandoned: 1,
          refsNotStarted: 3,
        });
        t.equal(source.hadHardFault(), true, 'a stopped run is partial (exit 1)');
        t.match(source.faults(), [
          /^docker mode stopped \(received SIGTERM\): 1 pull\(s\) abandoned, 3 tag\(s\) not started/,
        ]);
        // Nothing of the other images was ever asked for, even a while after the signal.
        await sleep(500);
        t.same(
          proxy.log().filter((e) => !e.path.includes('/slow-a/') && e.path !== '/v2/'),
          [],
          'no request for the tags that were not started',
        );
        await source.close();
      },
    );
  }
}
