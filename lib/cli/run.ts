// The CLI adapter of the run use case (lib/jobs/restart-stale.ts): it owns what belongs to the process — the
// SIGTERM/SIGINT handler, stdout (text or -o json), the run record in the termination log and the exit code.

import type { RunConfig } from '../config/config.ts';
import { type RestartStaleDeps, restartStale } from '../jobs/restart-stale.ts';
import { type RunReport, summarize, toText, writeJSONDocument } from '../report/output.ts';
import { TERMINATION_LOG, writeTerminationLog } from '../report/record.ts';
import type { Logger } from '../shared/log.ts';

export interface RunCommandDeps {
  logger: Logger;
  env: NodeJS.ProcessEnv;
  stdout: NodeJS.WritableStream;
  /** Aborts the run; by default a handler for SIGTERM/SIGINT installed for the duration of the call. */
  signal?: AbortSignal;
  now?: () => Date;
  /** A service-account directory for in-cluster config (tests; default the kubelet's mount). */
  serviceAccountDir?: string;
  connect?: RestartStaleDeps['connect'];
  version?: string;
}

/**
 * Aborts on the first SIGTERM or SIGINT for as long as it is installed (the kubelet sends SIGTERM, then SIGKILL after
 * the pod's grace period). Install it at the start of a command, before any API call, so that an interruption while
 * listing still ends in a report and a run record.
 */
export function terminationSignal(logger: () => Logger | undefined): {
  signal: AbortSignal;
  dispose(): void;
} {
  const ac = new AbortController();
  const onSignal = (sig: NodeJS.Signals) => {
    if (ac.signal.aborted) return;
    logger()?.warn({ signal: sig }, 'stopping: no new evictions; waits end and the report is written');
    ac.abort(new Error(`received ${sig}`));
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
  return {
    signal: ac.signal,
    dispose() {
      process.off('SIGTERM', onSignal);
      process.off('SIGINT', onSignal);
    },
  };
}

/** Where the run record goes: AUTO_UPDATER_TERMINATION_LOG, else the termination log when in a pod, else nowhere. */
function recordPath(env: NodeJS.ProcessEnv): string | undefined {
  return env.AUTO_UPDATER_TERMINATION_LOG ?? (env.KUBERNETES_SERVICE_HOST ? TERMINATION_LOG : undefined);
}

/** Leaves the run's summary where `status` reads it (lib/report/record.ts); never fails the run. */
export function recordRun(report: RunReport, env: NodeJS.ProcessEnv, logger: Logger): void {
  const path = recordPath(env);
  if (!path) return;
  const written = writeTerminationLog(
    {
      v: 1,
      finishedAt: report.finishedAt,
      exitCode: report.exitCode,
      dryRun: report.dryRun,
      mode: report.mode,
      ...(report.error !== undefined ? { error: report.error } : {}),
      summary: summarize(report.plan, report.results),
    },
    path,
  );
  if (!written) logger.debug({ path }, 'could not write the run record to the termination log');
}

/** Prints the report on stdout in the chosen format; resolves once the stream has taken it all. */
export async function printReport(
  report: RunReport,
  output: RunConfig['output'],
  stdout: NodeJS.WritableStream,
): Promise<void> {
  if (output === 'json') await writeJSONDocument(report, stdout);
  else stdout.write(toText(report));
}

/**
 * Runs the use case once and does the process's part: report on stdout, run record, exit code (0 or 1). A
 * configuration error (ConfigError) is thrown before anything is printed or recorded (exit 2 in main()).
 */
export async function runUpdater(config: RunConfig, deps: RunCommandDeps): Promise<number> {
  const term = deps.signal ? undefined : terminationSignal(() => deps.logger);
  try {
    const report = await restartStale(config, {
      logger: deps.logger,
      env: deps.env,
      signal: deps.signal ?? term!.signal,
      now: deps.now ?? (() => new Date()),
      ...(deps.serviceAccountDir ? { serviceAccountDir: deps.serviceAccountDir } : {}),
      ...(deps.connect ? { connect: deps.connect } : {}),
      ...(deps.version ? { version: deps.version } : {}),
    });
    // The record first: it is small and sync, and survives a reader of stdout that has gone away.
    recordRun(report, deps.env, deps.logger);
    await printReport(report, config.output, deps.stdout);
    return report.exitCode;
  } finally {
    term?.dispose();
  }
}
