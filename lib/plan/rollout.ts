// Rollout health, computed the way kubectl's `rollout status` does, from a workload object alone (pure): the
// predicate the rollout wait polls or watches, and the reason it gives up early.

import type { RolloutHealth, UpdateKind } from '../model/update.ts';

// biome-ignore lint/suspicious/noExplicitAny: API objects are open JSON read field by field.
type Obj = Record<string, any>;

const progressing = (message: string): RolloutHealth => ({ state: 'progressing', message });
const done = (message: string): RolloutHealth => ({ state: 'done', message });
const failed = (message: string): RolloutHealth => ({ state: 'failed', message });

/** Where a workload's rollout stands. */
export function rolloutHealth(kind: UpdateKind, obj: Obj): RolloutHealth {
  const name = `${kind} ${obj?.metadata?.namespace}/${obj?.metadata?.name}`;
  const generation = Number(obj?.metadata?.generation ?? 0);
  const observed = Number(obj?.status?.observedGeneration ?? 0);
  if (kind === 'CronJob') return done(`${name}: the next Job uses the new template`);
  if (observed < generation)
    return progressing(`${name}: waiting for the controller to observe generation ${generation}`);
  const s = obj?.status ?? {};
  if (kind === 'Deployment') {
    const cond = (s.conditions ?? []).find((c: Obj) => c.type === 'Progressing');
    if (cond?.reason === 'ProgressDeadlineExceeded') {
      return failed(`${name}: progress deadline exceeded (${cond.message ?? 'no progress'})`);
    }
    const want = Number(obj?.spec?.replicas ?? 1);
    const updated = Number(s.updatedReplicas ?? 0);
    const replicas = Number(s.replicas ?? 0);
    const available = Number(s.availableReplicas ?? 0);
    const line = `${updated}/${want} updated, ${available} available`;
    if (updated < want) return progressing(`${name}: ${line}`);
    if (replicas > updated)
      return progressing(`${name}: ${line}, ${replicas - updated} old replicas pending termination`);
    if (available < updated) return progressing(`${name}: ${line}`);
    return done(`${name}: ${line}`);
  }
  if (kind === 'StatefulSet') {
    const strategy = obj?.spec?.updateStrategy?.type ?? 'RollingUpdate';
    if (strategy === 'OnDelete')
      return done(`${name}: updateStrategy OnDelete: pods change only when deleted`);
    const want = Number(obj?.spec?.replicas ?? 1);
    const partition = Number(obj?.spec?.updateStrategy?.rollingUpdate?.partition ?? 0);
    const ready = Number(s.readyReplicas ?? 0);
    const updated = Number(s.updatedReplicas ?? 0);
    const line = `${updated}/${want} updated, ${ready} ready`;
    if (partition > 0) {
      // Only the ordinals at or above the partition move.
      if (updated < want - partition) return progressing(`${name}: ${line} (partition ${partition})`);
      return ready < want
        ? progressing(`${name}: ${line}`)
        : done(`${name}: ${line} (partition ${partition})`);
    }
    if (ready < want || updated < want) return progressing(`${name}: ${line}`);
    if (s.updateRevision !== undefined && s.currentRevision !== s.updateRevision) {
      return progressing(`${name}: ${line}, revision ${s.currentRevision} → ${s.updateRevision}`);
    }
    return done(`${name}: ${line}`);
  }
  // DaemonSet
  const strategy = obj?.spec?.updateStrategy?.type ?? 'RollingUpdate';
  if (strategy === 'OnDelete') return done(`${name}: updateStrategy OnDelete: pods change only when deleted`);
  const desired = Number(s.desiredNumberScheduled ?? 0);
  const updated = Number(s.updatedNumberScheduled ?? 0);
  const available = Number(s.numberAvailable ?? 0);
  const line = `${updated}/${desired} updated, ${available} available`;
  return updated < desired || available < desired
    ? progressing(`${name}: ${line}`)
    : done(`${name}: ${line}`);
}

/** True for the update strategies a rollout wait cannot wait for (reported as `on-delete`). */
export function isOnDelete(kind: UpdateKind, obj: Obj): boolean {
  return (kind === 'StatefulSet' || kind === 'DaemonSet') && obj?.spec?.updateStrategy?.type === 'OnDelete';
}

/**
 * A new pod of the rollout crash-looping or unable to pull its image (`CrashLoopBackOff` with at least `restarts`
 * restarts, `ErrImagePull`/`ImagePullBackOff`/`InvalidImageName`): the rollout is failed before its deadline.
 * Returns the message, or undefined.
 */
export function brokenPod(pods: readonly Obj[], restarts = 2): string | undefined {
  for (const p of pods) {
    for (const c of [...(p?.status?.initContainerStatuses ?? []), ...(p?.status?.containerStatuses ?? [])]) {
      const reason = c?.state?.waiting?.reason;
      if (reason === 'CrashLoopBackOff' && Number(c.restartCount ?? 0) >= restarts) {
        return `pod ${p.metadata.name} container ${c.name} is crash-looping (${c.restartCount} restarts)`;
      }
      if (reason === 'ErrImagePull' || reason === 'ImagePullBackOff' || reason === 'InvalidImageName') {
        return `pod ${p.metadata.name} container ${c.name} cannot start: ${reason}${c.state.waiting.message ? ` (${c.state.waiting.message})` : ''}`;
      }
    }
  }
  return undefined;
}
