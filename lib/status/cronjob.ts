// Reads what `status` reports from the cluster: the CronJob, its newest finished Job and that Job's pod's
// termination message. Needs only get cronjobs, list jobs and list pods in the CronJob's namespace.

import type { BatchV1Api, CoreV1Api, V1Job, V1Pod } from '@kubernetes/client-node';
import { hasStatus, toKubeApiError } from '../kube/api.ts';
import { controllerOf } from '../model/owners.ts';
import { parseRunRecord, type RunRecord } from '../report/record.ts';
import { EXIT, UpdaterError } from '../shared/errors.ts';

/** The reads `status` makes; narrow so tests can pass plain objects. */
export type CronJobApi = Pick<BatchV1Api, 'readNamespacedCronJob' | 'listNamespacedJob'>;
export type JobPodApi = Pick<CoreV1Api, 'listNamespacedPod'>;

export interface LastRun {
  job: string;
  /** The pod whose termination message was read; null when the Job's pods are gone. */
  pod: string | null;
  /** From the Job's conditions: Complete → succeeded, Failed → failed. */
  result: 'succeeded' | 'failed';
  /** When the Job finished (completionTime or the condition's transition time). */
  finishedAt: string | null;
  /** Why a failed Job failed (its Failed condition's reason, e.g. BackoffLimitExceeded, PodFailurePolicy). */
  reason: string | null;
  /** The run record the updater wrote; null when the message is missing or is not one (e.g. log tail of a crash). */
  record: RunRecord | null;
  /** The raw termination message when it is not a run record (first 500 characters). */
  message: string | null;
}

export interface CronJobFacts {
  namespace: string;
  name: string;
  schedule: string;
  timeZone: string | null;
  suspended: boolean;
  lastScheduleTime: string | null;
  lastSuccessfulTime: string | null;
  activeJobs: string[];
  lastRun: LastRun | null;
}

/** Thrown when the CronJob does not exist: a runtime failure (exit 1), with how to find the right name. */
export class CronJobNotFoundError extends UpdaterError {
  constructor(namespace: string, name: string, options?: ErrorOptions) {
    super(
      'ENOTFOUND',
      `CronJob ${namespace}/${name} not found. Find the updater's CronJob with "kubectl get cronjobs -A" and pass ` +
        '--cronjob <name> -n <namespace> (a Helm release names it after the release).',
      EXIT.failure,
      options,
    );
  }
}

const RBAC_HINT =
  'status needs get on cronjobs and list on jobs and pods (batch and core API groups) in that namespace';

function iso(t: Date | string | undefined | null): string | null {
  if (t === undefined || t === null) return null;
  const d = t instanceof Date ? t : new Date(t);
  return Number.isNaN(d.getTime()) ? null : d.toISOString();
}

function wrap(err: unknown, what: string): Error {
  const e = toKubeApiError(err, what);
  if (e.status === 403) e.message += ` (${RBAC_HINT})`;
  return e;
}

/**
 * Reads the CronJob and its last finished run. Throws CronJobNotFoundError for a missing CronJob and
 * KubeApiError (with the RBAC it needs on 403) for any other failed call.
 */
export async function readCronJobFacts(
  batch: CronJobApi,
  core: JobPodApi,
  namespace: string,
  name: string,
): Promise<CronJobFacts> {
  let cj: Awaited<ReturnType<CronJobApi['readNamespacedCronJob']>>;
  try {
    cj = await batch.readNamespacedCronJob({ namespace, name });
  } catch (err) {
    if (hasStatus(err, 404)) throw new CronJobNotFoundError(namespace, name, { cause: err });
    throw wrap(err, `get cronjob ${namespace}/${name}`);
  }
  const uid = cj.metadata?.uid;
  const jobs = uid ? await ownedJobs(batch, namespace, name, uid) : [];
  const finished = jobs
    .map((job) => ({ job, end: finishedAt(job) }))
    .filter((x) => x.end !== undefined)
    .sort((a, b) => b.end!.time.localeCompare(a.end!.time) || created(b.job).localeCompare(created(a.job)));
  const newest = finished[0];
  return {
    namespace,
    name,
    schedule: cj.spec?.schedule ?? '',
    timeZone: cj.spec?.timeZone ?? null,
    suspended: cj.spec?.suspend === true,
    lastScheduleTime: iso(cj.status?.lastScheduleTime),
    lastSuccessfulTime: iso(cj.status?.lastSuccessfulTime),
    activeJobs: (cj.status?.active ?? []).map((r) => r.name ?? '').filter((n) => n !== ''),
    lastRun: newest ? await lastRun(core, namespace, newest.job, newest.end!) : null,
  };
}

function created(job: V1Job): string {
  return iso(job.metadata?.creationTimestamp) ?? '';
}

async function ownedJobs(
  batch: CronJobApi,
  namespace: string,
  cronjob: string,
  uid: string,
): Promise<V1Job[]> {
  const out: V1Job[] = [];
  let cont: string | undefined;
  do {
    let page: Awaited<ReturnType<CronJobApi['listNamespacedJob']>>;
    try {
      page = await batch.listNamespacedJob({ namespace, limit: 500, ...(cont ? { _continue: cont } : {}) });
    } catch (err) {
      throw wrap(err, `list jobs of cronjob ${namespace}/${cronjob}`);
    }
    // Owner uid, not name: a deleted and re-created CronJob must not claim its predecessor's Jobs.
    for (const job of page.items) {
      const owner = controllerOf(job);
      if (owner?.uid === uid && owner.kind === 'CronJob') out.push(job);
    }
    cont = page.metadata?._continue || undefined;
  } while (cont);
  return out;
}

interface End {
  time: string;
  result: 'succeeded' | 'failed';
  reason: string | null;
}

function finishedAt(job: V1Job): End | undefined {
  for (const c of job.status?.conditions ?? []) {
    if (c.status !== 'True') continue;
    if (c.type === 'Complete' || c.type === 'Failed') {
      const time = iso(job.status?.completionTime) ?? iso(c.lastTransitionTime) ?? created(job);
      return {
        time,
        result: c.type === 'Complete' ? 'succeeded' : 'failed',
        reason: c.type === 'Failed' ? (c.reason ?? null) : null,
      };
    }
  }
  return undefined;
}

async function lastRun(core: JobPodApi, namespace: string, job: V1Job, end: End): Promise<LastRun> {
  const jobName = job.metadata?.name ?? '';
  const pod = await newestTerminatedPod(core, namespace, jobName);
  const message = pod ? terminationMessage(pod) : undefined;
  const record = parseRunRecord(message) ?? null;
  return {
    job: jobName,
    pod: pod?.metadata?.name ?? null,
    result: end.result,
    finishedAt: end.time,
    reason: end.reason,
    record,
    message: record || !message ? null : message.slice(0, 500),
  };
}

async function newestTerminatedPod(
  core: JobPodApi,
  namespace: string,
  job: string,
): Promise<V1Pod | undefined> {
  // batch.kubernetes.io/job-name since Kubernetes 1.27; the bare job-name label on older Jobs.
  for (const label of ['batch.kubernetes.io/job-name', 'job-name']) {
    let pods: V1Pod[];
    try {
      pods = (await core.listNamespacedPod({ namespace, labelSelector: `${label}=${job}` })).items;
    } catch (err) {
      throw wrap(err, `list pods of job ${namespace}/${job}`);
    }
    const done = pods
      .map((p) => ({ p, at: iso(terminated(p)?.finishedAt) ?? '' }))
      .filter((x) => terminated(x.p) !== undefined)
      .sort((a, b) => b.at.localeCompare(a.at));
    if (done[0]) return done[0].p;
    if (pods.length > 0) return undefined;
  }
  return undefined;
}

function terminated(pod: V1Pod) {
  return pod.status?.containerStatuses?.[0]?.state?.terminated;
}

function terminationMessage(pod: V1Pod): string | undefined {
  return terminated(pod)?.message ?? undefined;
}
