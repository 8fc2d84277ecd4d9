// Registry mode's digest source: asks each tag's registry (HEAD, one request per unique reference) with the
// credentials of the pod's pull secrets, plus an optional mounted docker config, matched the way kubelet does.

import { readFileSync } from 'node:fs';
import type { V1Pod } from '@kubernetes/client-node';
import type { RunConfig } from '../config/config.ts';
import type { PodPullSecrets } from '../kube/pull-secrets.ts';
import { type Candidate, candidateKey, type TagState } from '../model/candidate.ts';
import type { TagFailureReason } from '../model/plan.ts';
import { RegistryClient } from '../registry/client.ts';
import { readDockerConfigFile } from '../registry/docker-config.ts';
import { isIndexMediaType } from '../registry/media-types.ts';
import { type CredentialLookup, PodCredentials } from '../registry/pod-credentials.ts';
import type { ResolutionFailure } from '../registry/resolution.ts';
import { DigestResolver } from '../registry/resolver.ts';
import { mapLimit } from '../shared/concurrency.ts';
import { ConfigError } from '../shared/errors.ts';
import type { Logger } from '../shared/log.ts';
import type { DigestSource } from './source.ts';

export type RegistrySourceConfig = Pick<
  RunConfig,
  'insecureRegistry' | 'registryCa' | 'registryTimeout' | 'registryConcurrency' | 'dockerConfig'
>;

export interface RegistrySourceDeps {
  logger: Logger;
  /** The pull secrets a pod may use (pod's and its ServiceAccount's). */
  pullSecrets: { forPod(pod: V1Pod): Promise<PodPullSecrets> };
  userAgent: string;
}

/**
 * Maps a registry failure onto the planner's reasons: registry-level kinds (`unreachable`, `protocol`) become
 * `registry-unreachable`; every per-reference kind keeps its own name as the reason.
 */
export function failureState(f: ResolutionFailure): TagState {
  const reason: TagFailureReason =
    f.kind === 'unreachable' || f.kind === 'protocol' ? 'registry-unreachable' : f.kind;
  return { ok: false, reason, message: f.message };
}

/** Creates the registry digest source for one run; throws ConfigError for an unreadable CA or docker config. */
export function createRegistrySource(config: RegistrySourceConfig, deps: RegistrySourceDeps): DigestSource {
  let ca: Buffer | undefined;
  if (config.registryCa) {
    try {
      ca = readFileSync(config.registryCa);
    } catch (e) {
      throw new ConfigError(
        `--registry-ca: cannot read ${config.registryCa}: ${(e as NodeJS.ErrnoException).code}`,
        { cause: e },
      );
    }
  }
  const extra = readDockerConfigFile(config.dockerConfig);
  const log = deps.logger.child({ component: 'registry' });
  const client = new RegistryClient({
    insecureRegistries: config.insecureRegistry,
    ...(ca ? { ca } : {}),
    timeoutMs: config.registryTimeout,
    userAgent: deps.userAgent,
    concurrencyPerRegistry: config.registryConcurrency,
    logger: log,
  });
  const resolver = new DigestResolver(client, {
    concurrencyPerRegistry: config.registryConcurrency,
    logger: log,
  });
  const credentials = new PodCredentials<V1Pod>({
    secretsFor: (pod) => deps.pullSecrets.forPod(pod),
    fallback: extra,
    warn: (obj, msg) => log.warn(obj, msg),
  });

  // One TagState per registry answer (the resolver shares answers between pods): thousands of pods on a few
  // hundred tags then share a few hundred states.
  const states = new WeakMap<object, TagState>();
  const shared = (answer: object, make: () => TagState): TagState => {
    let st = states.get(answer);
    if (!st) {
      st = make();
      states.set(answer, st);
    }
    return st;
  };

  interface Group {
    ref: Candidate['ref'];
    lookup: Promise<CredentialLookup>;
    members: Candidate[];
  }

  // Work is done per group (same credentials, same reference), not per container: 5,000 pods on 500 tags make
  // 500 groups, so the run neither builds 5,000 keyrings nor keeps 5,000 promise chains alive across the waits.
  async function resolveGroup(g: Group, out: Map<string, TagState>): Promise<void> {
    const creds = (await g.lookup).lookup(g.ref);
    const r = await resolver.resolve(g.ref, creds);
    let withChildren: TagState | undefined;
    for (const c of g.members) {
      let st: TagState;
      if (!r.ok) st = shared(r, () => failureState(r));
      else if (isIndexMediaType(r.mediaType) && c.running.digest !== r.digest) {
        // Children are fetched only when they matter: the container does not run the index digest itself.
        if (!withChildren) {
          const kids = await resolver.indexChildren(g.ref, r.digest, creds);
          withChildren = kids.ok
            ? shared(kids, () => ({ ok: true, digest: r.digest, children: kids.children }))
            : shared(kids, () => failureState(kids));
        }
        st = withChildren;
      } else st = shared(r, () => ({ ok: true, digest: r.digest, children: [] }));
      out.set(candidateKey(c.podUid, c.container, c.init), st);
    }
  }

  return {
    async resolve(candidates, pods) {
      const groups = new Map<string, Group>();
      for (const c of candidates) {
        const pod = pods.get(c.podUid);
        const ck = pod ? PodCredentials.keyOf(pod) : '';
        const lookup = pod ? credentials.forPod(pod) : Promise.resolve(credentials.fallback);
        const gk = `${ck}\n${c.ref.canonical}`;
        let g = groups.get(gk);
        if (!g) {
          g = { ref: c.ref, lookup, members: [] };
          groups.set(gk, g);
        }
        g.members.push(c);
      }
      const out = new Map<string, TagState>();
      await mapLimit([...groups.values()], 64, (g) => resolveGroup(g, out));
      for (const f of resolver.faults())
        log.warn({ registry: f.registry, kind: f.kind, status: f.status }, f.message);
      return out;
    },
    stats: () => ({ ...client.stats, faultedRegistries: resolver.faults().length }),
    hadHardFault: () => resolver.faults().length > 0,
    faults: () => resolver.faults().map((f) => `registry ${f.registry}: ${f.message}`),
    close: async () => client.close(),
  };
}
