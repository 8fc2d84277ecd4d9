// The restart executor: evicts stale pods one per workload at a time, waits for each Ready replacement on the new
// digest, and stops touching a workload when a loop guard trips (old digest again, crash loop, timeout).

import type { V1Pod } from '@kubernetes/client-node';
import { shortDigest } from '../image/digest.ts';
import type { Evicter, KubeClients, PodWatcher } from '../kube/api.ts';
import { hasStatus, toKubeApiError } from '../kube/api.ts';
import { apiVersionForKind, type EventInput, recordEvent } from '../kube/events.ts';
import type { PodPlan, RestartOutcome, RestartResult, WorkloadRef } from '../model/plan.ts';
import { mapLimit } from '../shared/concurrency.ts';
import type { Logger } from '../shared/log.ts';
import { type Clock, realClock } from './clock.ts';
import { evictPod } from './eviction.ts';
import {
  type Assessment,
  assessReplacement,
  type ContainerChange,
  replacementSelector,
} from './replacement.ts';

export interface RestarterDeps {
  evicter: Evicter;
  /** The pod as it is now; undefined when it no longer exists. */
  readPod(namespace: string, name: string): Promise<V1Pod | undefined>;
  /** One listing of a namespace's pods (with the list's resourceVersion, to start a watch from). */
  listPods(
    namespace: string,
    labelSelector: string | undefined,
  ): Promise<{ items: V1Pod[]; resourceVersion?: string }>;
  /** Optional: without it, waiting polls listPods. */
  watchPods?: PodWatcher;
  /** Records an Event; must not reject (kube/events.ts recordEvent never does). */
  recordEvent(input: EventInput): Promise<unknown>;
  logger: Logger;
  clock?: Clock;
}

export interface ApplyOptions {
  /** Report every stale pod as `dry-run`; no API call at all. */
  dryRun?: boolean;
  /** Workloads restarted at the same time (default 4). Within one workload it is always one pod at a time. */
  parallelWorkloads?: number;
  /** How long to wait for a Ready replacement after an eviction (default 5 min). */
  podTimeoutMs?: number;
  /** How long to keep retrying an eviction a PodDisruptionBudget refuses (default: podTimeoutMs). */
  evictionTimeoutMs?: number;
  /** Wait between refused evictions when the server gives no Retry-After (default 5 s, as kubectl drain). */
  evictionRetryMs?: number;
  /** Re-list interval while waiting without a watch (default 2 s; with a live watch, a resync at 5x that). */
  pollIntervalMs?: number;
  /** Evictions allowed in the whole run; 0 or undefined means no cap (as --max-restarts documents). */
  maxRestarts?: number;
  /** Container restarts after which a replacement counts as crash-looping (default 3). */
  crashLoopRestarts?: number;
  /** Fired on SIGTERM: no new eviction starts; waits already running finish or time out. */
  signal?: AbortSignal;
}

/** Builds the executor's dependencies over real API clients. */
export function restarterDeps(
  clients: Pick<KubeClients, 'core' | 'watchPods'>,
  logger: Logger,
): RestarterDeps {
  const { core } = clients;
  return {
    evicter: core,
    async readPod(namespace, name) {
      try {
        return await core.readNamespacedPod({ namespace, name });
      } catch (err) {
        if (hasStatus(err, 404)) return undefined;
        throw toKubeApiError(err, `get pod ${namespace}/${name}`);
      }
    },
    async listPods(namespace, labelSelector) {
      try {
        const list = await core.listNamespacedPod({ namespace, labelSelector });
        return { items: list.items, resourceVersion: list.metadata?.resourceVersion };
      } catch (err) {
        throw toKubeApiError(err, `list pods in namespace ${namespace}`);
      }
    },
    watchPods: clients.watchPods,
    recordEvent: (input) => recordEvent(core, input, logger),
    logger,
  };
}

/**
 * Restarts the plan's stale pods safely and returns one result per pod, in input order. Never rejects for a pod's
 * failure: each failure is an outcome. Workloads run in parallel up to `parallelWorkloads`, their pods one at a time.
 */
export async function applyPlan(
  stalePods: PodPlan[],
  deps: RestarterDeps,
  opts: ApplyOptions = {},
): Promise<RestartResult[]> {
  const pods = stalePods.filter((p) => p.verdict === 'stale');
  if (opts.dryRun) return pods.map(dryRunResult);

  const groups = groupByWorkload(pods);
  const results = new Map<PodPlan, RestartResult>();
  const run: RunState = { evictions: 0, opts, deps, clock: deps.clock ?? realClock };
  await mapLimit(groups, opts.parallelWorkloads ?? 4, async (group) => {
    for (const [pod, result] of await restartWorkload(group, run)) results.set(pod, result);
  });
  return pods.map((p) => results.get(p) as RestartResult);
}

interface RunState {
  /** Evictions started or done in this run (for maxRestarts). */
  evictions: number;
  opts: ApplyOptions;
  deps: RestarterDeps;
  clock: Clock;
}

interface WorkloadGroup {
  workload: WorkloadRef | undefined;
  pods: PodPlan[];
}

const collator = new Intl.Collator('en', { numeric: true });

// Deterministic: workloads by namespace/kind/name, pods by name with numeric order (web-2 before web-10).
function groupByWorkload(pods: PodPlan[]): WorkloadGroup[] {
  const byKey = new Map<string, WorkloadGroup>();
  for (const p of pods) {
    const key = p.workload ? `w:${p.workload.uid}` : `p:${p.uid}`;
    let g = byKey.get(key);
    if (!g) {
      g = { workload: p.workload, pods: [] };
      byKey.set(key, g);
    }
    g.pods.push(p);
  }
  const label = (g: WorkloadGroup) =>
    g.workload
      ? `${g.workload.namespace}/${g.workload.kind}/${g.workload.name}`
      : `${g.pods[0]?.namespace}/~/${g.pods[0]?.name}`;
  const groups = [...byKey.values()];
  for (const g of groups) g.pods.sort((a, b) => collator.compare(a.name, b.name));
  return groups.sort((a, b) => collator.compare(label(a), label(b)));
}

async function restartWorkload(group: WorkloadGroup, run: RunState): Promise<Map<PodPlan, RestartResult>> {
  const { deps, opts } = run;
  const out = new Map<PodPlan, RestartResult>();
  const w = group.workload;
  const log = deps.logger.child({ workload: w ? `${w.kind}/${w.namespace}/${w.name}` : undefined });
  let halted: string | undefined;
  for (const pod of group.pods) {
    const id = `${pod.namespace}/${pod.name}`;
    let result: RestartResult;
    if (halted) {
      result = outcome(pod, 'workload-halted', `not touched: ${halted}`);
    } else if (opts.signal?.aborted) {
      result = outcome(pod, 'interrupted', `not touched: the run was interrupted before pod ${id}'s turn`);
    } else if (!w) {
      // The planner skips bare pods; this is the last line of defence, because an evicted bare pod is gone forever.
      result = outcome(
        pod,
        'eviction-failed',
        `pod ${id} has no controller in the plan: a bare pod is never evicted`,
      );
    } else if (opts.maxRestarts && run.evictions >= opts.maxRestarts) {
      result = outcome(pod, 'max-restarts', `not touched: --max-restarts ${opts.maxRestarts} reached`);
    } else {
      const attempt = await restartPod(pod, w, run, log);
      result = attempt.result;
      if (attempt.halt) {
        halted = `an earlier pod of ${w.kind} ${w.namespace}/${w.name} ended ${result.outcome} (${pod.name})`;
        const involved = involvedObject(w);
        await deps.recordEvent({
          involved,
          reason: 'ImageUpdateHalted',
          message: `Stopped restarting pods of ${involved.kind} ${involved.name} for this run: ${result.message}`,
          type: 'Warning',
        });
      }
    }
    const fields = {
      pod: id,
      outcome: result.outcome,
      replacement: result.replacement,
      durationMs: result.durationMs,
    };
    if (result.outcome === 'restarted') log.info(fields, result.message);
    else log.warn(fields, result.message);
    out.set(pod, result);
  }
  return out;
}

interface Attempt {
  result: RestartResult;
  /** Stop touching the workload: its remaining stale pods are left alone this run. */
  halt: boolean;
}

// Every failure halts the workload except a pod that vanished or was replaced on its own: that says nothing about
// its siblings.
async function restartPod(pod: PodPlan, w: WorkloadRef, run: RunState, log: Logger): Promise<Attempt> {
  const { deps, opts, clock } = run;
  const started = clock.now();
  const id = `${pod.namespace}/${pod.name}`;
  const done = (
    o: RestartOutcome,
    message: string,
    replacement?: string,
    halt = o !== 'restarted',
  ): Attempt => ({
    result: { ...outcome(pod, o, message, replacement), durationMs: clock.now() - started },
    halt,
  });

  // Reserve the eviction before any await so parallel workloads cannot overshoot maxRestarts.
  run.evictions++;
  let evicted = false;
  try {
    let current: V1Pod | undefined;
    let before: Set<string>;
    let snapshot: { items: V1Pod[]; resourceVersion?: string };
    let selector: string | undefined;
    try {
      current = await deps.readPod(pod.namespace, pod.name);
      if (!current || current.metadata?.uid !== pod.uid) {
        return done(
          'eviction-failed',
          `pod ${id} was deleted or replaced before its turn: not evicted`,
          undefined,
          false,
        );
      }
      selector = replacementSelector(current.metadata?.labels);
      snapshot = await deps.listPods(pod.namespace, selector);
      before = new Set([pod.uid]);
      for (const p of snapshot.items) {
        const owner = p.metadata?.ownerReferences?.find((o) => o.controller === true);
        if (owner?.uid === w.uid && p.metadata?.uid) before.add(p.metadata.uid);
      }
    } catch (err) {
      return done(
        'eviction-failed',
        `could not read pod ${id} before evicting it: ${(err as Error).message}`,
      );
    }

    const ev = await evictPod(deps.evicter, pod, {
      deadlineMs: opts.evictionTimeoutMs ?? opts.podTimeoutMs ?? 300_000,
      retryIntervalMs: opts.evictionRetryMs,
      signal: opts.signal,
      clock,
      onRetry: (r) =>
        log.info(
          { pod: id, attempt: r.attempt, status: r.status, waitMs: r.waitMs },
          `eviction refused, retrying: ${r.message}`,
        ),
    });
    if (!ev.ok)
      return done(ev.outcome, ev.message, undefined, ev.outcome !== 'interrupted' && ev.status !== 409);
    evicted = true;

    const a = await waitForReplacement(pod, { before, snapshot, selector }, run, log);
    switch (a.state) {
      case 'restarted': {
        const message = `pod ${id} restarted: replacement ${a.replacement} is Ready; ${describeChanges(a.changes)}`;
        await deps.recordEvent({
          involved: involvedObject(w),
          reason: 'ImageUpdated',
          message: `Restarted pod ${pod.name} (replacement ${a.replacement}): ${describeChanges(a.changes)}`,
          type: 'Normal',
        });
        return done('restarted', message, a.replacement);
      }
      case 'same-digest': {
        const old = a.changes.filter((c) => c.kind === 'old').map((c) => `${c.name} ${shortDigest(c.to)}`);
        return done(
          'replacement-same-digest',
          `replacement ${a.replacement} of pod ${id} is Ready but still runs the old digest (${old.join(', ')}): ` +
            'the node reused its cached image or the tag moved back',
          a.replacement,
        );
      }
      case 'crash-loop':
        return done(
          'replacement-crash-loop',
          `replacement ${a.replacement} of pod ${id} crash-loops: ${a.detail}`,
          a.replacement,
        );
      default: {
        const seen =
          a.seen.length > 0 ? `replacement ${a.seen.join(', ')} not Ready` : 'no replacement pod seen';
        const secs = Math.round((opts.podTimeoutMs ?? 300_000) / 1000);
        return done(
          'replacement-timeout',
          `pod ${id} evicted, but no Ready replacement within ${secs}s (${seen})`,
          a.seen[0],
        );
      }
    }
  } finally {
    if (!evicted) run.evictions--;
  }
}

interface WaitStart {
  before: ReadonlySet<string>;
  snapshot: { items: V1Pod[]; resourceVersion?: string };
  selector: string | undefined;
}

// Watches when it can (woken by each event), re-lists on a timer as a fallback, and gives up at the deadline.
// The abort signal is deliberately not honoured here: a pod already evicted deserves its replacement check.
async function waitForReplacement(
  pod: PodPlan,
  start: WaitStart,
  run: RunState,
  log: Logger,
): Promise<Assessment> {
  const { deps, opts, clock } = run;
  const deadline = clock.now() + (opts.podTimeoutMs ?? 300_000);
  const poll = opts.pollIntervalMs ?? 2000;
  const input = { plan: pod, before: start.before, crashLoopRestarts: opts.crashLoopRestarts ?? 3 };
  const pods = new Map<string, V1Pod>();
  for (const p of start.snapshot.items) if (p.metadata?.uid) pods.set(p.metadata.uid, p);

  let dirty = false;
  let wake: () => void = () => {};
  let watchAlive = false;
  let handle: { abort(): void } | undefined;
  if (deps.watchPods && start.snapshot.resourceVersion) {
    try {
      watchAlive = true;
      handle = await deps.watchPods(
        pod.namespace,
        { labelSelector: start.selector, resourceVersion: start.snapshot.resourceVersion },
        (type, p) => {
          const uid = p?.metadata?.uid;
          if (!uid) return;
          if (type === 'DELETED') pods.delete(uid);
          else if (type === 'ADDED' || type === 'MODIFIED') pods.set(uid, p);
          else return;
          dirty = true;
          wake();
        },
        (err) => {
          watchAlive = false;
          if (err) log.debug({ pod: pod.name, err: String(err) }, 'pod watch ended; polling instead');
          wake();
        },
      );
    } catch (err) {
      watchAlive = false;
      log.debug({ pod: pod.name, err: String(err) }, 'pod watch could not start; polling instead');
    }
  }

  try {
    for (;;) {
      dirty = false;
      const a = assessReplacement(pods.values(), input);
      if (a.state !== 'waiting') return a;
      const left = deadline - clock.now();
      if (left <= 0) return a;
      if (dirty) continue;
      const stop = new AbortController();
      const woken = new Promise<'event'>((resolve) => {
        wake = () => resolve('event');
      });
      const why = await Promise.race([
        woken,
        clock.sleep(Math.min(watchAlive ? poll * 5 : poll, left), stop.signal).then(() => 'timer' as const),
      ]);
      stop.abort();
      wake = () => {};
      if (why === 'timer' || !watchAlive) {
        try {
          const list = await deps.listPods(pod.namespace, start.selector);
          pods.clear();
          for (const p of list.items) if (p.metadata?.uid) pods.set(p.metadata.uid, p);
        } catch (err) {
          log.debug(
            { pod: pod.name, err: (err as Error).message },
            'listing pods while waiting failed; retrying',
          );
        }
      }
    }
  } finally {
    handle?.abort();
  }
}

function outcome(pod: PodPlan, o: RestartOutcome, message: string, replacement?: string): RestartResult {
  return {
    namespace: pod.namespace,
    name: pod.name,
    ...(pod.workload ? { workload: pod.workload } : {}),
    outcome: o,
    message,
    ...(replacement ? { replacement } : {}),
    durationMs: 0,
  };
}

function dryRunResult(pod: PodPlan): RestartResult {
  const changes = pod.containers
    .filter((c) => c.verdict === 'stale')
    .map((c) => `${c.name} ${shortDigest(c.runningDigest)} → ${shortDigest(c.currentDigest)}`);
  return outcome(pod, 'dry-run', `would evict pod ${pod.namespace}/${pod.name}: ${changes.join(', ')}`);
}

// Events go on the top-level workload (the Deployment), where `kubectl describe` users look.
function involvedObject(w: WorkloadRef): EventInput['involved'] {
  const top = w.top ?? { kind: w.kind, name: w.name, uid: w.uid };
  return {
    kind: top.kind,
    name: top.name,
    namespace: w.namespace,
    uid: top.uid,
    apiVersion: apiVersionForKind(top.kind),
  };
}

function describeChanges(changes: ContainerChange[]): string {
  return changes
    .map((c) => {
      const note =
        c.kind === 'other'
          ? ' (not the digest planned: the tag moved again)'
          : c.kind === 'unknown'
            ? ' (unverified: no repo digest reported)'
            : '';
      return `${c.name} ${shortDigest(c.from)} → ${shortDigest(c.to)}${note}`;
    })
    .join(', ');
}
