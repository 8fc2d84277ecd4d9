// The seam between the modes: a digest source learns what each candidate container's tag points to now.
// Registry mode asks registries (HEAD); docker mode re-pulls through a Docker Engine. Planning and applying are shared.

import type { V1Pod } from '@kubernetes/client-node';
import type { Candidate, TagState } from '../model/candidate.ts';
import type { Logger } from '../shared/log.ts';

export interface DigestSource {
  /**
   * Resolves the candidates' tags. Returns a TagState per candidateKey(podUid, container, init); a candidate left
   * out is kept by the planner (unknown means keep). Never throws for registry or engine faults: they become
   * `{ ok: false }` states; throws only for programming or configuration errors. Once `signal` aborts (SIGTERM),
   * a source starts no new request and may abandon those in flight: their tags are `interrupted`.
   */
  resolve(
    candidates: readonly Candidate[],
    pods: ReadonlyMap<string, V1Pod>,
    options?: ResolveOptions,
  ): Promise<Map<string, TagState>>;
  /** Counters for the summary and the benchmark (requests, pulls, tokens …). */
  stats(): Record<string, number>;
  /** Whether any fault of the kind that makes the run partial (exit 1) happened: unreachable, 5xx, 429, engine down. */
  hadHardFault(): boolean;
  /** One line per hard fault (registry or engine), for the report's warnings. */
  faults(): string[];
  close(): Promise<void>;
}

export interface ResolveOptions {
  /** The run's stop signal. */
  signal?: AbortSignal | undefined;
}

export interface SourceDeps {
  logger: Logger;
}
