// Docker mode: learns what each candidate's tag points to now by re-pulling it through a Docker Engine API (dockerd,
// or Podman's compatible service) with the pods' pull secrets, then reading the image's RepoDigests and Id.
//
// Construction (lib/jobs/restart-stale.ts):
//   createDockerSource(config, deps): DockerSource            (a DigestSource)
//   config: Pick<RunConfig, 'dockerHost' | 'dockerTlsVerify' | 'dockerCertPath' | 'platform' | 'registryConcurrency'
//                          | 'dockerConfig'>
//   deps:   { logger, pullSecrets: { forPod(pod) } }   (PullSecretSource fits; the same deps registry mode takes)
//           optional: docker (a ready Dockerode, for tests), pullTimeoutMs.
// Credentials per image: the pod's pull secrets, then its ServiceAccount's, then --docker-config, matched per registry
// like the kubelet. Throws ConfigError at construction for an unusable --docker-host, --docker-cert-path or
// --docker-config; resolve() never throws for engine or registry faults.

import type { V1Pod } from '@kubernetes/client-node';
import Dockerode from 'dockerode';
import type { RunConfig } from '../config/config.ts';
import { effectiveTag, type ImageReference, repoKey } from '../image/reference.ts';
import type { PodPullSecrets } from '../kube/pull-secrets.ts';
import { type Candidate, candidateKey, type TagState } from '../model/candidate.ts';
import type { Credential } from '../registry/credentials.ts';
import { readDockerConfigFile } from '../registry/docker-config.ts';
import { type CredentialLookup, PodCredentials } from '../registry/pod-credentials.ts';
import { mapLimit } from '../shared/concurrency.ts';
import type { Logger } from '../shared/log.ts';
import { describeEndpoint, dockerodeOptions, isPlaintextTcp, parseDockerHost } from './docker-host.ts';
import {
  authConfigFor,
  classifyEngineError,
  type EngineFailure,
  formatRef,
  inspectImage,
  interrupted,
  pullImage,
} from './docker-pull.ts';
import { imagePlatform, tagStateFromImage } from './docker-state.ts';
import type { DigestSource } from './source.ts';

export type DockerSourceConfig = Pick<
  RunConfig,
  'dockerHost' | 'dockerTlsVerify' | 'dockerCertPath' | 'platform' | 'registryConcurrency' | 'dockerConfig'
> &
  // Optional for direct callers: absent means no (plain tcp:// is refused).
  Partial<Pick<RunConfig, 'dockerAllowPlaintext'>>;

/** What docker mode needs of a keyring: the credentials for an image, most specific first. */
export type { CredentialLookup } from '../registry/pod-credentials.ts';

export interface DockerSourceDeps {
  logger: Logger;
  /** The pull secrets a pod may use (its own, then its ServiceAccount's); PullSecretSource never rejects. */
  pullSecrets: { forPod(pod: V1Pod): Promise<PodPullSecrets> };
  /** A ready client (tests); default: built from config. */
  docker?: Dockerode;
  /** Gives up on one pull after this long; default 10 minutes (docker mode downloads whole images). */
  pullTimeoutMs?: number;
}

export interface DockerSource extends DigestSource {
  /** The engine's endpoint, for the startup log. */
  readonly endpoint: string;
}

const DEFAULT_PULL_TIMEOUT_MS = 10 * 60_000;

/** One unique tag to pull, with every candidate that asked for it. */
interface RefGroup {
  ref: ImageReference;
  /** `registry/repository` as the engine pulls it. */
  name: string;
  tag: string;
  candidates: Candidate[];
}

/** Docker mode's `stats` (the plan log line, `-o json`); docs/docker-mode.md explains each key. */
interface Counters {
  /** Unique `registry/repository:tag` references to check (one pull each, before credential retries). */
  refs: number;
  /** Pull requests sent to the engine: by tag, by digest, and retries with the next credential. */
  pulls: number;
  /** Pulls that failed (HTTP error or an error event in the stream); abandoned ones not included. */
  pullFailures: number;
  /** Image inspects after a good pull. */
  inspects: number;
  /** Pulls by digest to check a running digest the engine does not list for the tag. */
  digestPulls: number;
  /** Pulls in flight when the run was stopped, abandoned (request aborted, stream destroyed). */
  pullsAbandoned: number;
  /** References never pulled because the run was stopped first. */
  refsNotStarted: number;
}

/** Builds the docker-mode digest source; throws ConfigError for an unusable endpoint or certificate directory. */
export function createDockerSource(config: DockerSourceConfig, deps: DockerSourceDeps): DockerSource {
  const conn = parseDockerHost(config);
  const extraCredentials = readDockerConfigFile(config.dockerConfig);
  const docker = deps.docker ?? new Dockerode(dockerodeOptions(conn));
  const endpoint = describeEndpoint(conn);
  const log = deps.logger.child({ mode: 'docker', engine: endpoint });
  if (isPlaintextTcp(conn)) {
    log.warn(
      { option: '--docker-allow-plaintext' },
      "Docker engine over plain tcp://: the pods' pull secrets cross the network in clear (X-Registry-Auth)",
    );
  }
  const concurrency = Math.max(1, config.registryConcurrency || 1);
  const pullTimeoutMs = deps.pullTimeoutMs ?? DEFAULT_PULL_TIMEOUT_MS;
  const counters: Counters = {
    refs: 0,
    pulls: 0,
    pullFailures: 0,
    inspects: 0,
    digestPulls: 0,
    pullsAbandoned: 0,
    refsNotStarted: 0,
  };
  const faults: string[] = [];

  // The pod's own secrets first, like the kubelet; the mounted config is a fallback. Warnings name secrets only.
  const podCredentials = new PodCredentials<V1Pod>({
    secretsFor: (pod) => deps.pullSecrets.forPod(pod),
    fallback: extraCredentials,
    warn: (obj, msg) => log.warn(obj, msg),
  });
  let engineDown: EngineFailure | undefined;

  // A stopped run is partial: one fault line (exit 1) saying how many tags were left unchecked and why.
  const noteInterrupted = (signal: AbortSignal, out: ReadonlyMap<string, TagState>): void => {
    const unchecked = new Set([...out.values()].filter((s) => !s.ok && s.reason === 'interrupted')).size;
    if (unchecked === 0 && counters.refsNotStarted === 0) return;
    const why = signal.reason instanceof Error ? signal.reason.message : 'stopped';
    const line = `docker mode stopped (${why}): ${counters.pullsAbandoned} pull(s) abandoned, ${counters.refsNotStarted} tag(s) not started; their pods are kept`;
    if (!faults.includes(line)) faults.push(line);
    log.warn(
      { pullsAbandoned: counters.pullsAbandoned, refsNotStarted: counters.refsNotStarted },
      'docker mode stopped: unchecked tags keep their pods',
    );
  };

  // Records a hard fault (one line each for the report); the first engine-unreachable one stops all later calls.
  const engineFailed = (f: EngineFailure): EngineFailure => {
    if (f.kind === 'engine-unreachable') {
      if (engineDown) return engineDown;
      // Later tags fail with this message too, so it names the engine rather than the tag that found it down.
      engineDown = { ...f, message: `Docker engine unreachable at ${endpoint}: ${f.message}` };
      faults.push(engineDown.message);
      log.error(
        { err: f.message },
        'Docker engine unreachable: every remaining tag stays unknown (pods kept)',
      );
      return engineDown;
    }
    if (!faults.includes(f.message)) faults.push(f.message);
    return f;
  };

  // One pull attempt; counts it and records hard faults. Hard: the engine or the registry as a whole failed.
  const pull = async (
    name: string,
    reference: string,
    cred: Credential | undefined,
    registry: string,
    signal: AbortSignal | undefined,
  ): Promise<{ ok: true; digestLine: string | undefined } | EngineFailure> => {
    if (engineDown) return engineDown;
    if (signal?.aborted) return interrupted(`pull of ${formatRef(name, reference)}`, signal);
    counters.pulls++;
    const r = await pullImage(docker, {
      name,
      reference,
      auth: cred && authConfigFor(cred, registry),
      platform: config.platform,
      signal,
      timeoutMs: pullTimeoutMs,
    });
    if (r.ok) return r;
    if (r.kind === 'interrupted') {
      counters.pullsAbandoned++;
      return r;
    }
    counters.pullFailures++;
    if (r.kind === 'engine-unreachable' || r.kind === 'registry-unreachable' || r.kind === 'rate-limited') {
      return engineFailed(r);
    }
    return r;
  };

  const inspect = async (name: string, signal: AbortSignal | undefined) => {
    if (engineDown) return engineDown;
    if (signal?.aborted) return interrupted(`inspect of ${name}`, signal);
    counters.inspects++;
    const r = await inspectImage(docker, name, signal);
    return r.ok || r.kind === 'interrupted' ? r : engineFailed(r);
  };

  // Tries the credentials in order (anonymous when there are none) until one pulls, like the kubelet. Moves on only
  // after a soft failure: a registry that is down or rate-limiting is not asked again with other credentials.
  const pullWithCredentials = async (
    group: RefGroup,
    reference: string,
    creds: readonly (Credential | undefined)[],
    signal: AbortSignal | undefined,
  ): Promise<{ ok: true; digestLine: string | undefined; cred: Credential | undefined } | EngineFailure> => {
    const failures: EngineFailure[] = [];
    for (const cred of creds) {
      const r = await pull(group.name, reference, cred, group.ref.registry, signal);
      if (r.ok) return { ...r, cred };
      failures.push(r);
      log.debug(
        { image: formatRef(group.name, reference), credential: cred?.source ?? 'anonymous', reason: r.kind },
        'pull attempt failed',
      );
      if (r.kind !== 'unauthorized' && r.kind !== 'not-found') return r;
    }
    // With several credentials a 404 is the registry's real answer; a 401 only says that credential was wrong.
    const best = failures.find((f) => f.kind === 'not-found') ?? failures[failures.length - 1];
    if (best && creds.length > 1) {
      return { ...best, message: `${best.message} (tried ${creds.length} credentials)` };
    }
    return best ?? { ok: false, kind: 'registry-unreachable', message: 'no pull attempted' };
  };

  const resolveGroup = async (
    group: RefGroup,
    creds: readonly (Credential | undefined)[],
    out: Map<string, TagState>,
    signal: AbortSignal | undefined,
  ): Promise<void> => {
    const image = formatRef(group.name, group.tag);
    const setAll = (state: TagState) => {
      for (const c of group.candidates) out.set(candidateKey(c.podUid, c.container, c.init), state);
    };
    if (signal?.aborted) {
      // Not started: a stopping run begins no new download.
      counters.refsNotStarted++;
      return setAll(failedState(interrupted(`pull of ${image}`, signal)));
    }
    const pulled = await pullWithCredentials(group, group.tag, creds, signal);
    if (!pulled.ok && pulled.kind === 'interrupted') {
      log.info({ image }, 'pull abandoned: the run is stopping; its pods are kept');
      return setAll(failedState(pulled));
    }
    if (!pulled.ok) {
      log.warn({ image, reason: pulled.kind, err: pulled.message }, 'pull failed: its pods are kept');
      return setAll(failedState(pulled));
    }
    const inspected = await inspect(image, signal);
    if (!inspected.ok) {
      log.warn({ image, err: inspected.message }, 'inspect after pull failed: its pods are kept');
      return setAll(failedState(inspected));
    }
    const state = tagStateFromImage(group.ref, inspected.image, pulled.digestLine);
    log.debug(
      {
        image,
        state: state.ok ? { digest: state.digest, children: state.children, id: state.configIds } : state,
      },
      'tag resolved through the engine',
    );
    if (!state.ok) return setAll(state);

    // A running digest the engine does not list may still be this tag's image for this platform: dockerd lists only
    // the index digest of a multi-arch tag, never the platform manifest a containerd or CRI-O node reports.
    const checked = new Map<string, Promise<TagState>>();
    for (const c of group.candidates) {
      const running = c.running.digest;
      let s: TagState = state;
      if (running !== undefined && running !== state.digest && !state.children.includes(running)) {
        let p = checked.get(running);
        if (!p) {
          p = confirmDigest(group, running, state, inspected.image, pulled.cred, signal);
          checked.set(running, p);
        }
        s = await p;
      }
      out.set(candidateKey(c.podUid, c.container, c.init), s);
    }
  };

  // Pulls the running digest by digest and compares image Ids: the same Id means the same image the tag gives this
  // platform now (accepted); another Id for the same platform means stale; a manifest for another platform cannot
  // be judged from this engine (kept). A manifest the registry no longer has is not part of the tag: stale.
  const confirmDigest = async (
    group: RefGroup,
    running: string,
    state: Extract<TagState, { ok: true }>,
    tagImage: { Id: string; Os: string; Architecture: string; Variant?: string },
    cred: Credential | undefined,
    signal: AbortSignal | undefined,
  ): Promise<TagState> => {
    const name = formatRef(group.name, running);
    counters.digestPulls++;
    const pulled = await pull(group.name, running, cred, group.ref.registry, signal);
    if (!pulled.ok) {
      if (pulled.kind === 'not-found') return state;
      return failedState({
        ...pulled,
        message: `could not check whether running digest ${running} belongs to ${formatRef(group.name, group.tag)}: ${pulled.message}`,
      });
    }
    const inspected = await inspect(name, signal);
    if (!inspected.ok) return failedState(inspected);
    if (inspected.image.Id === tagImage.Id) return { ...state, children: [...state.children, running] };
    const have = imagePlatform(inspected.image);
    const want = imagePlatform(tagImage);
    if (have !== want) {
      return {
        ok: false,
        reason: 'not-found',
        message: `running digest ${running} is a ${have} image and this engine pulls ${want}: docker mode can only judge pods of the engine's platform`,
      };
    }
    return state;
  };

  return {
    endpoint,

    async resolve(candidates, pods, options) {
      const out = new Map<string, TagState>();
      if (candidates.length === 0) return out;
      const signal = options?.signal;
      if (signal?.aborted) {
        // Stopped before the first call: the engine is not asked at all.
        const state = failedState(interrupted('docker mode', signal));
        for (const c of candidates) out.set(candidateKey(c.podUid, c.container, c.init), state);
        counters.refsNotStarted += groupByRef(candidates).length;
        noteInterrupted(signal, out);
        return out;
      }
      const version = await docker.version().catch((err: unknown) => classifyEngineError(err, 'version'));
      if ('ok' in version) {
        const state = failedState(engineFailed({ ...version, kind: 'engine-unreachable' }));
        for (const c of candidates) out.set(candidateKey(c.podUid, c.container, c.init), state);
        return out;
      }
      log.info(
        {
          version: version.Version,
          apiVersion: version.ApiVersion,
          platform: config.platform ?? `${version.Os}/${version.Arch}`,
        },
        'docker mode: pulling tags through the engine',
      );
      const groups = groupByRef(candidates);
      counters.refs += groups.length;
      const keyrings = new Map<string, Promise<CredentialLookup | undefined>>();
      const keyringOf = (uid: string): Promise<CredentialLookup | undefined> => {
        let k = keyrings.get(uid);
        if (!k) {
          const pod = pods.get(uid);
          k = pod ? podCredentials.forPod(pod) : Promise.resolve(undefined);
          keyrings.set(uid, k);
        }
        return k;
      };
      await mapLimit(groups, concurrency, async (group) => {
        // A stopping run reads no more secrets either: resolveGroup marks the group interrupted.
        const creds = signal?.aborted ? [] : await credentialsFor(group, keyringOf);
        await resolveGroup(group, creds.length > 0 ? creds : [undefined], out, signal);
      });
      if (signal?.aborted) noteInterrupted(signal, out);
      return out;
    },

    stats() {
      return { ...counters };
    },

    hadHardFault() {
      return faults.length > 0;
    },

    faults() {
      return [...faults];
    },

    async close() {
      // dockerode keeps no connection open between calls.
    },
  };
}

function failedState(f: EngineFailure): TagState {
  const reason = f.kind === 'engine-unreachable' ? 'registry-unreachable' : f.kind;
  return { ok: false, reason, message: f.message };
}

/** Candidates grouped by the tag the engine must pull (implicit :latest made explicit), in first-seen order. */
function groupByRef(candidates: readonly Candidate[]): RefGroup[] {
  const groups = new Map<string, RefGroup>();
  for (const c of candidates) {
    const name = repoKey(c.ref);
    const tag = effectiveTag(c.ref);
    const key = `${name}:${tag}`;
    let g = groups.get(key);
    if (!g) {
      g = { ref: c.ref, name, tag, candidates: [] };
      groups.set(key, g);
    }
    g.candidates.push(c);
  }
  return [...groups.values()];
}

// Every credential any of the group's pods may use for this image, in pod order then keyring order, each once.
// matches() is checked again so that a lookup returning a credential keyed for another registry cannot leak it.
async function credentialsFor(
  group: RefGroup,
  keyringOf: (uid: string) => Promise<CredentialLookup | undefined>,
): Promise<Credential[]> {
  const seen = new Set<string>();
  const out: Credential[] = [];
  for (const uid of new Set(group.candidates.map((c) => c.podUid))) {
    const keyring = await keyringOf(uid);
    for (const cred of keyring?.lookup(group.ref) ?? []) {
      if (seen.has(cred.identity) || !cred.matches(group.ref)) continue;
      seen.add(cred.identity);
      out.push(cred);
    }
  }
  return out;
}
