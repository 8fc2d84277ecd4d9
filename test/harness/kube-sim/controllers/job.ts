// The Job controller: runs pods from the template up to parallelism until `completions` succeed, counts failures
// against backoffLimit, honours suspend and ttlSecondsAfterFinished, and sets the Complete/Failed conditions.

import type { KObject } from '../store.ts';
import { controllerUid, K, splitKey } from './cache.ts';
import type { Controller, Ctx } from './context.ts';
import { createPod, podFromTemplate } from './pod-template.ts';
import { type Condition, getCondition, isoSeconds, isPodReady, setCondition, writeStatus } from './util.ts';

/** Pod annotation holding the 1-based attempt number the Job controller gave the pod (for jobOutcome hooks). */
export const ATTEMPT_ANNOTATION = 'sim.k8s-auto-updater.io/attempt';

/** Whether a Job has finished (Complete or Failed True). */
export function jobFinished(job: KObject): 'Complete' | 'Failed' | undefined {
  for (const t of ['Complete', 'Failed'] as const) {
    if (getCondition(job.status?.conditions, t)?.status === 'True') return t;
  }
  return undefined;
}

export class JobController implements Controller {
  readonly enqueue: (key: string) => void;
  private readonly ctx: Ctx;
  /** Per job uid: the pods already counted as succeeded or failed (the real one uses tracking finalizers). */
  private readonly counted = new Map<string, Set<string>>();

  constructor(ctx: Ctx) {
    this.ctx = ctx;
    this.enqueue = ctx.rt.queue('job', (k) => this.reconcile(k));
  }

  /** Routes a pod change to its owning Job. */
  podChanged(pod: KObject): void {
    const uid = controllerUid(pod);
    if (!uid) return;
    const owner = this.ctx.cache.byUID(uid);
    if (owner?.key === K.jobs) this.enqueue(`${owner.obj.metadata.namespace}/${owner.obj.metadata.name}`);
  }

  /** Forgets per-job bookkeeping for a Job that is gone. */
  jobRemoved(job: KObject): void {
    this.counted.delete(job.metadata.uid!);
  }

  private reconcile(key: string): void {
    const { store, cache, rt } = this.ctx;
    const [ns, name] = splitKey(key);
    const job = cache.get(K.jobs, ns, name);
    if (!job || job.metadata.deletionTimestamp) return;
    const nowMs = rt.now();
    const now = isoSeconds(nowMs);
    const finished = jobFinished(job);
    if (finished) {
      this.scheduleTtl(key, job, nowMs);
      return;
    }
    const uid = job.metadata.uid!;
    let counted = this.counted.get(uid);
    if (!counted) {
      counted = new Set();
      this.counted.set(uid, counted);
    }
    const prev = job.status ?? {};
    let succeeded: number = prev.succeeded ?? 0;
    let failed: number = prev.failed ?? 0;
    const pods = cache.ownedBy(uid, K.pods);
    const active: KObject[] = [];
    for (const p of pods) {
      const phase = p.status?.phase;
      const podUid = p.metadata.uid!;
      if (phase === 'Succeeded' || phase === 'Failed' || p.metadata.deletionTimestamp) {
        if (!counted.has(podUid)) {
          counted.add(podUid);
          if (phase === 'Succeeded') succeeded++;
          else failed++;
        }
        continue;
      }
      active.push(p);
    }
    // With restartPolicy OnFailure, container restarts count against the backoff limit too.
    const restarts = active.reduce(
      (n, p) =>
        n +
        (p.status?.containerStatuses ?? []).reduce((m: number, c: KObject) => m + (c.restartCount ?? 0), 0),
      0,
    );
    const parallelism: number = job.spec?.parallelism ?? 1;
    const completions: number | null = job.spec?.completions === undefined ? 1 : job.spec.completions;
    const backoffLimit: number = job.spec?.backoffLimit ?? 6;
    const suspended = !!job.spec?.suspend;
    let conditions: Condition[] = prev.conditions ? structuredClone(prev.conditions) : [];
    const status: Record<string, unknown> = {};
    let done: 'Complete' | 'Failed' | undefined;
    if (failed + restarts > backoffLimit) {
      done = 'Failed';
      conditions = setCondition(
        conditions,
        {
          type: 'Failed',
          status: 'True',
          reason: 'BackoffLimitExceeded',
          message: 'Job has reached the specified backoff limit',
          lastProbeTime: now,
        },
        now,
      );
    } else if (completions !== null ? succeeded >= completions : succeeded > 0 && active.length === 0) {
      done = 'Complete';
      conditions = setCondition(conditions, { type: 'Complete', status: 'True', lastProbeTime: now }, now);
    }
    if (done || suspended) {
      // Pods the Job itself stops (suspend, finish) are not failures.
      for (const p of active) {
        counted.add(p.metadata.uid!);
        store.delete(K.pods, ns, p.metadata.name!);
      }
    } else {
      const remaining = completions === null ? parallelism : completions - succeeded;
      const want = Math.max(0, Math.min(parallelism, remaining));
      for (let i = active.length; i < want; i++) {
        const attempt = succeeded + failed + i + 1;
        const pod = podFromTemplate(job.spec?.template, job, {
          generateName: `${name}-`,
          labels: {
            'batch.kubernetes.io/job-name': name,
            'job-name': name,
            'batch.kubernetes.io/controller-uid': uid,
            'controller-uid': uid,
          },
          annotations: { [ATTEMPT_ANNOTATION]: String(attempt) },
        });
        // Job templates must not restart Always (the API server rejects that); Never is the usual choice.
        if (!pod.spec.restartPolicy || pod.spec.restartPolicy === 'Always') pod.spec.restartPolicy = 'Never';
        createPod(this.ctx, pod);
      }
    }
    const wasSuspended = getCondition(conditions, 'Suspended');
    if (suspended) {
      conditions = setCondition(
        conditions,
        {
          type: 'Suspended',
          status: 'True',
          reason: 'JobSuspended',
          message: 'Job suspended',
          lastProbeTime: now,
        },
        now,
      );
    } else if (wasSuspended?.status === 'True') {
      conditions = setCondition(
        conditions,
        {
          type: 'Suspended',
          status: 'False',
          reason: 'JobResumed',
          message: 'Job resumed',
          lastProbeTime: now,
        },
        now,
      );
    }
    const nowActive =
      done || suspended
        ? 0
        : cache
            .ownedBy(uid, K.pods)
            .filter(
              (p) => !p.metadata.deletionTimestamp && !['Succeeded', 'Failed'].includes(p.status?.phase),
            ).length;
    if (prev.startTime) status.startTime = prev.startTime;
    else if (!suspended) status.startTime = now;
    if (nowActive) status.active = nowActive;
    status.succeeded = succeeded;
    status.failed = failed;
    status.ready = active.filter(isPodReady).length;
    status.terminating = pods.filter((p) => p.metadata.deletionTimestamp).length;
    if (done === 'Complete') status.completionTime = prev.completionTime ?? now;
    if (conditions.length) status.conditions = conditions;
    writeStatus(store, K.jobs, job, status);
    if (done) this.scheduleTtl(key, cache.get(K.jobs, ns, name) ?? job, nowMs);
  }

  private scheduleTtl(key: string, job: KObject, nowMs: number): void {
    const ttl = job.spec?.ttlSecondsAfterFinished;
    if (ttl === undefined || ttl === null) return;
    const c = getCondition(job.status?.conditions, jobFinished(job) ?? 'Complete');
    const at = Date.parse(c?.lastTransitionTime ?? '') + ttl * 1000;
    if (Number.isNaN(at)) return;
    if (at <= nowMs) {
      const [ns, name] = splitKey(key);
      this.ctx.store.delete(K.jobs, ns, name, { propagationPolicy: 'Background' });
      return;
    }
    this.ctx.rt.wakeUp(`job-ttl|${key}`, at - nowMs + 5, () => this.enqueue(key));
  }
}
