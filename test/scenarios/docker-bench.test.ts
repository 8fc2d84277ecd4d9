// Measures docker mode (a pull per unique tag through dockerd, and podman when present) against registry mode (a HEAD per unique tag) on the
// same 20 tags of the same registry. The timings are printed, not asserted; the digests both modes learn are.

import { performance } from 'node:perf_hooks';
import type { V1Pod } from '@kubernetes/client-node';
import t from 'tap';
import { candidates, type PlanContext, type TagState } from '../../lib/plan/planner.ts';
import { silentLogger } from '../../lib/shared/log.ts';
import { createDockerSource } from '../../lib/sources/docker.ts';
import type { DigestSource } from '../../lib/sources/source.ts';
import { runningPod } from '../harness/engine/fixtures.ts';
import { type Engine, requireRoot, startDockerd, startPodman } from '../harness/engine/index.ts';
import { pushImage, startRegistry } from '../harness/registry/index.ts';
import { haveBin, requireBin } from '../harness/require-bin.ts';

const REFS = 20;
const ctx: PlanContext = { optIn: false, compareConfigIds: true, now: new Date() };
const noSecrets = { forPod: async () => ({ secrets: [], warnings: [] }) };

async function timed(
  source: DigestSource,
  pods: V1Pod[],
): Promise<{ ms: number; states: Map<string, TagState> }> {
  const cands = candidates(pods, ctx);
  const byUid = new Map(pods.map((p) => [p.metadata?.uid ?? '', p]));
  const start = performance.now();
  const states = await source.resolve(cands, byUid);
  return { ms: Math.round(performance.now() - start), states };
}

const digests = (states: Map<string, TagState>) =>
  [...states].map(([k, s]) => [k, s.ok ? s.digest : `failed: ${s.message}`]).sort();

if (requireBin(t, 'docker-registry') && requireBin(t, 'dockerd') && requireRoot(t, 'running dockerd')) {
  t.test(
    `when ${REFS} unique tags are resolved then docker mode and registry mode learn the same digests`,
    async (t) => {
      const reg = await startRegistry();
      t.teardown(reg.stop);
      const engine = await startDockerd();
      t.teardown(engine.stop);
      const pods: V1Pod[] = [];
      for (let i = 0; i < REFS; i++) {
        const img = await pushImage(reg, `bench/app${i}`, 'v1', { seed: `bench-${i}` });
        pods.push(
          runningPod({
            name: `p${i}`,
            image: `${reg.host}/bench/app${i}:v1`,
            imageID: `docker-pullable://${reg.host}/bench/app${i}@${img.digest}`,
          }),
        );
      }

      let registrySource: DigestSource | undefined;
      try {
        const { createRegistrySource } = await import('../../lib/sources/registry.ts');
        registrySource = createRegistrySource(
          { insecureRegistry: [reg.host], registryTimeout: 10_000, registryConcurrency: 4 },
          { logger: silentLogger(), pullSecrets: noSecrets, userAgent: 'docker-bench' },
        );
      } catch (err) {
        t.comment(`registry mode unavailable for comparison: ${(err as Error).message}`);
      }

      const engines: Array<[string, () => Promise<Engine>]> = [['dockerd', startDockerd]];
      if (haveBin('podman')) engines.push(['podman', startPodman]);
      let reference: string[][] | undefined;
      for (const [name, start] of engines) {
        const engine = await start();
        t.teardown(engine.stop);
        const docker = createDockerSource(
          { dockerHost: engine.host, dockerTlsVerify: false, registryConcurrency: 4 },
          { logger: silentLogger(), pullSecrets: noSecrets },
        );
        const cold = await timed(docker, pods);
        const warm = await timed(docker, pods);
        t.equal(cold.states.size, REFS);
        t.ok(
          [...cold.states.values()].every((s) => s.ok),
          `docker mode on ${name} resolved every tag`,
        );
        t.same(
          digests(warm.states),
          digests(cold.states),
          'a second pull of unchanged tags gives the same digests',
        );
        if (reference) t.same(digests(cold.states), reference, `${name} learns the same digests as dockerd`);
        reference ??= digests(cold.states);
        t.comment(
          `docker mode (${name}, concurrency 4): ${REFS} refs cold ${cold.ms} ms, warm ${warm.ms} ms`,
        );
        t.comment(`docker mode stats (${name}, both runs): ${JSON.stringify(docker.stats())}`);
        await engine.stop();
      }

      if (registrySource) {
        const viaRegistry = await timed(registrySource, pods);
        t.same(digests(viaRegistry.states), reference, 'registry mode learns the same digests');
        t.comment(`registry mode (HEAD, concurrency 4): ${REFS} refs ${viaRegistry.ms} ms`);
        t.comment(`registry mode stats: ${JSON.stringify(registrySource.stats())}`);
        await registrySource.close();
      }
    },
  );
}
