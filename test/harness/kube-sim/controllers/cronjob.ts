// The CronJob controller: creates `<cronjob>-<scheduled unix minutes>` Jobs on the cron schedule (cron-parser,
// spec.timeZone), honouring suspend, concurrencyPolicy, startingDeadlineSeconds and the history limits, and keeps
// status.active / lastScheduleTime / lastSuccessfulTime. Time is injectable: tick(date) evaluates "as of" date.

import { CronExpressionParser } from 'cron-parser';
import { type KObject, StoreError } from '../store.ts';
import { controllerUid, K, splitKey } from './cache.ts';
import type { Controller, Ctx } from './context.ts';
import { jobFinished } from './job.ts';
import { getCondition, isoSeconds, ownerRef, writeStatus } from './util.ts';

const SCHEDULED_AT = 'batch.kubernetes.io/cronjob-scheduled-timestamp';
// Without a real clock to follow, re-check at least this often (a background timer, never blocks settle()).
const MAX_SLEEP_MS = 30_000;

/** The latest schedule time in (after, at], or undefined; throws on an invalid schedule. */
export function lastScheduleBetween(
  schedule: string,
  timeZone: string | undefined,
  after: number,
  at: number,
): number | undefined {
  let expr = schedule.trim();
  let tz = timeZone;
  const m = /^(?:CRON_TZ|TZ)=(\S+)\s+(.*)$/.exec(expr);
  if (m) {
    tz = m[1];
    expr = m[2]!;
  }
  const it = CronExpressionParser.parse(expr, { currentDate: new Date(at + 1), tz: tz ?? 'UTC' });
  const t = it.prev().getTime();
  return t > after ? t : undefined;
}

function nextSchedule(schedule: string, timeZone: string | undefined, from: number): number | undefined {
  try {
    let expr = schedule.trim();
    let tz = timeZone;
    const m = /^(?:CRON_TZ|TZ)=(\S+)\s+(.*)$/.exec(expr);
    if (m) {
      tz = m[1];
      expr = m[2]!;
    }
    return CronExpressionParser.parse(expr, { currentDate: new Date(from), tz: tz ?? 'UTC' })
      .next()
      .getTime();
  } catch {
    return undefined;
  }
}

/** When a Job was scheduled for (its annotation, else its start), in ms: the order history limits trim in. */
function scheduledAt(j: KObject): number {
  const t = Date.parse(
    j.metadata.annotations?.[SCHEDULED_AT] ?? j.status?.startTime ?? j.metadata.creationTimestamp ?? '',
  );
  return Number.isNaN(t) ? 0 : t;
}

export class CronJobController implements Controller {
  readonly enqueue: (key: string) => void;
  private readonly ctx: Ctx;

  constructor(ctx: Ctx) {
    this.ctx = ctx;
    this.enqueue = ctx.rt.queue('cronjob', (k) => this.sync(k, ctx.rt.now()));
  }

  /** Routes a Job change to its owning CronJob. */
  jobChanged(job: KObject): void {
    const uid = controllerUid(job);
    if (!uid) return;
    const owner = this.ctx.cache.byUID(uid);
    if (owner?.key === K.cronjobs) this.enqueue(`${owner.obj.metadata.namespace}/${owner.obj.metadata.name}`);
  }

  /** Evaluates every CronJob as of `date` (default: the controllers' clock), creating the Jobs that are due. */
  tick(date?: Date): void {
    const at = date ? date.getTime() : this.ctx.rt.now();
    for (const cj of this.ctx.cache.list(K.cronjobs))
      this.sync(`${cj.metadata.namespace}/${cj.metadata.name}`, at);
  }

  private sync(key: string, nowMs: number): void {
    const { store, cache, rt } = this.ctx;
    const [ns, name] = splitKey(key);
    const cj = cache.get(K.cronjobs, ns, name);
    if (!cj || cj.metadata.deletionTimestamp) return;
    const jobs = cache.ownedBy(cj.metadata.uid!, K.jobs).filter((j) => !j.metadata.deletionTimestamp);
    const active = jobs.filter((j) => !jobFinished(j));
    const status: Record<string, unknown> = {};
    const prev = cj.status ?? {};
    let lastSchedule: string | undefined = prev.lastScheduleTime;
    let lastSuccess: string | undefined = prev.lastSuccessfulTime;
    for (const j of jobs) {
      if (jobFinished(j) === 'Complete') {
        const t =
          j.status?.completionTime ?? getCondition(j.status?.conditions, 'Complete')?.lastTransitionTime;
        if (t && (!lastSuccess || t > lastSuccess)) lastSuccess = t;
      }
    }
    this.cleanupHistory(cj, jobs);

    if (!cj.spec?.suspend && cj.spec?.schedule) {
      const earliestBase = Date.parse(
        lastSchedule ?? cj.metadata.creationTimestamp ?? new Date(nowMs).toISOString(),
      );
      const deadline: number | undefined = cj.spec.startingDeadlineSeconds ?? undefined;
      const earliest =
        deadline !== undefined ? Math.max(earliestBase, nowMs - deadline * 1000) : earliestBase;
      let due: number | undefined;
      try {
        due = lastScheduleBetween(cj.spec.schedule, cj.spec.timeZone, earliest, nowMs);
      } catch {
        due = undefined; // an unparseable schedule never runs (the real controller records a warning event)
      }
      const policy = cj.spec.concurrencyPolicy ?? 'Allow';
      if (due !== undefined && !(policy === 'Forbid' && active.length > 0)) {
        if (policy === 'Replace') {
          for (const j of active)
            store.delete(K.jobs, ns, j.metadata.name!, { propagationPolicy: 'Background' });
        }
        this.createJob(cj, due);
        lastSchedule = isoSeconds(due);
      }
    }
    const nowActive = cache
      .ownedBy(cj.metadata.uid!, K.jobs)
      .filter((j) => !j.metadata.deletionTimestamp && !jobFinished(j))
      .sort((a, b) => (a.metadata.name ?? '').localeCompare(b.metadata.name ?? ''));
    if (nowActive.length) {
      status.active = nowActive.map((j) => ({
        apiVersion: 'batch/v1',
        kind: 'Job',
        name: j.metadata.name,
        namespace: j.metadata.namespace,
        uid: j.metadata.uid,
      }));
    }
    if (lastSchedule) status.lastScheduleTime = lastSchedule;
    if (lastSuccess) status.lastSuccessfulTime = lastSuccess;
    writeStatus(store, K.cronjobs, cache.get(K.cronjobs, ns, name) ?? cj, status);
    const next = cj.spec?.schedule ? nextSchedule(cj.spec.schedule, cj.spec.timeZone, nowMs) : undefined;
    const sleep = next === undefined ? MAX_SLEEP_MS : Math.min(MAX_SLEEP_MS, Math.max(10, next - nowMs + 10));
    rt.wakeUp(`cronjob|${key}`, sleep, () => this.enqueue(key));
  }

  private createJob(cj: KObject, scheduled: number): KObject | undefined {
    const tmpl = cj.spec?.jobTemplate ?? {};
    const name = `${cj.metadata.name}-${Math.floor(scheduled / 60_000)}`;
    try {
      return this.ctx.store.create(K.jobs, {
        metadata: {
          name,
          namespace: cj.metadata.namespace,
          labels: { ...(tmpl.metadata?.labels ?? {}) },
          annotations: {
            ...(tmpl.metadata?.annotations ?? {}),
            [SCHEDULED_AT]: new Date(scheduled).toISOString(),
          },
          ownerReferences: [ownerRef(cj)],
        },
        spec: structuredClone(tmpl.spec ?? {}),
      });
    } catch (e) {
      // The Job for this schedule time exists already: it was created before, as the real controller assumes.
      if (e instanceof StoreError && e.code === 409) return undefined;
      throw e;
    }
  }

  private cleanupHistory(cj: KObject, jobs: KObject[]): void {
    const limits = {
      Complete: cj.spec?.successfulJobsHistoryLimit ?? 3,
      Failed: cj.spec?.failedJobsHistoryLimit ?? 1,
    };
    for (const kind of ['Complete', 'Failed'] as const) {
      const done = jobs
        .filter((j) => jobFinished(j) === kind)
        .sort((a, b) => scheduledAt(a) - scheduledAt(b));
      for (const j of done.slice(0, Math.max(0, done.length - limits[kind]))) {
        this.ctx.store.delete(K.jobs, j.metadata.namespace, j.metadata.name!, {
          propagationPolicy: 'Background',
        });
      }
    }
  }
}
