// The `status` use case: validates a schedule offline (--schedule), or reads the CronJob's schedule, next run
// times and the summary of its last finished run. It returns the report; the CLI adapter (lib/cli/status.ts) renders
// it and owns stdout and the exit code.

import type { StatusConfig } from '../config/config.ts';
import { createClients } from '../kube/api.ts';
import { loadKubeConfig } from '../kube/config.ts';
import { ConfigError } from '../shared/errors.ts';
import type { Logger } from '../shared/log.ts';
import { type CronJobApi, type JobPodApi, readCronJobFacts } from './cronjob.ts';
import type { CronJobReport, ScheduleReport, StatusReport } from './render.ts';
import { nextRuns, parseSchedule } from './schedule.ts';

export interface StatusDeps {
  logger: Logger;
  env: NodeJS.ProcessEnv;
  /** The clock next run times are counted from (tests pin it). */
  now?: () => Date;
  /** API clients; built from the kubeconfig when absent. */
  clients?: { batch: CronJobApi; core: JobPodApi; namespace: string };
}

/**
 * Reads the status report. Throws ConfigError for a bad schedule, time zone or kubeconfig, CronJobNotFoundError
 * (exit 1) when the CronJob is missing, KubeApiError when the API refuses a read.
 */
export async function readStatus(config: StatusConfig, deps: StatusDeps): Promise<StatusReport> {
  const now = deps.now?.() ?? new Date();
  return config.schedule !== undefined
    ? scheduleReport(config.schedule, config.timeZone, now, config.next)
    : await cronJobReport(config, deps, now);
}

/** The offline check of `--schedule` (+ `--time-zone`); throws ConfigError naming the expression and the fix. */
export function scheduleReport(
  expr: string,
  timeZone: string | undefined,
  now: Date,
  count: number,
): ScheduleReport {
  const parsed = parseSchedule(expr, timeZone);
  return {
    kind: 'Schedule',
    v: 1,
    schedule: parsed.expression,
    timeZone: parsed.timeZone,
    nextRuns: nextRuns(parsed, now, count).map((d) => d.toISOString()),
  };
}

async function cronJobReport(config: StatusConfig, deps: StatusDeps, now: Date): Promise<CronJobReport> {
  if (config.timeZone !== undefined) {
    throw new ConfigError('--time-zone applies to --schedule only; the CronJob carries its own time zone');
  }
  const clients = deps.clients ?? buildClients(config, deps.env);
  const namespace = config.namespace ?? clients.namespace;
  deps.logger.debug({ namespace, cronjob: config.cronjob }, 'reading the CronJob');
  const facts = await readCronJobFacts(clients.batch, clients.core, namespace, config.cronjob);
  let runs: string[] = [];
  let scheduleError: string | null = null;
  if (!facts.suspended) {
    try {
      runs = nextRuns(parseSchedule(facts.schedule, facts.timeZone ?? undefined), now, config.next).map((d) =>
        d.toISOString(),
      );
    } catch (e) {
      // The API server accepted it, so it is a form cron-parser or our stricter check does not know: report, not fail.
      scheduleError = (e as Error).message;
    }
  }
  return { kind: 'CronJobStatus', v: 1, ...facts, nextRuns: runs, scheduleError };
}

function buildClients(config: StatusConfig, env: NodeJS.ProcessEnv): NonNullable<StatusDeps['clients']> {
  const loaded = loadKubeConfig({
    ...(config.kubeconfig ? { kubeconfig: config.kubeconfig } : {}),
    ...(config.context ? { context: config.context } : {}),
    env,
  });
  const { batch, core } = createClients(loaded);
  return { batch, core, namespace: loaded.namespace };
}
