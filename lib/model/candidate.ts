// What the planner asks digest sources about and what they answer: a candidate container (a tag whose current digest
// is needed) and the tag's state. Plain data shared by lib/plan and lib/sources, so neither imports the other.

import type { ImageReference } from '../image/reference.ts';
import type { TagFailureReason } from './plan.ts';

/** What a tag points to now, as learned from the registry (or Docker). */
export type TagState =
  | {
      ok: true;
      digest: string;
      /** Child manifest digests when the tag is a multi-arch index (may be empty when not fetched). */
      children: string[];
      /** Docker mode: image IDs (config digests) the tag maps to now, compared with `docker://sha256:…` imageIDs. */
      configIds?: string[];
    }
  | {
      ok: false;
      reason: TagFailureReason;
      message: string;
    };

/** A container that needs the registry's answer before it can be judged. */
export interface Candidate {
  podUid: string;
  container: string;
  init: boolean;
  ref: ImageReference;
  /** What the container runs: a manifest digest, or (docker mode) an image config ID. */
  running: { digest: string; configId?: undefined } | { digest?: undefined; configId: string };
}

/** Key under which a candidate's TagState is looked up. */
export function candidateKey(podUid: string, container: string, init: boolean): string {
  return `${podUid}/${init ? 'init:' : ''}${container}`;
}
