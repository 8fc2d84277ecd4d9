// One run of the updater: observe (pods, workloads, current digests) → plan (pure) → apply (evict safely) → report.
// Returns the exit code: 0 success or nothing to do, 1 runtime failure or partial run, 2 configuration error.

import { performance } from 'node:perf_hooks';
import type { V1Pod } from '@kubernetes/client-node';
import { applyPlan, restarterDeps } from '../apply/restarter.ts';
import type { RunConfig } from '../config/config.ts';
import { createClients } from '../kube/api.ts';
import { loadKubeConfig, selfPod } from '../kube/config.ts';
import { listPods } from '../kube/pods.ts';
import { PullSecretSource } from '../kube/pull-secrets.ts';
import { resolveWorkloads } from '../kube/workloads.ts';
import type { RestartResult } from '../model/plan.ts';
import { buildPlan, candidates, type PlanContext } from '../plan/planner.ts';
import { type RunReport, summarize, toText, writeJSONDocument } from '../report/output.ts';
import { TERMINATION_LOG, writeTerminationLog } from '../report/record.ts';
import { EXIT } from '../shared/errors.ts';
import type { Logger } from '../shared/log.ts';
import { createRegistrySource } from '../sources/registry.ts';
import type { DigestSource } from '../sources/source.ts';

export interface RunDeps {
  logger: Logger;
  env: NodeJS.ProcessEnv;
  stdout: NodeJS.WritableStream;
  /** Fired on SIGTERM/SIGINT by default; tests pass their own. */
  signal?: AbortSignal;
  now?: () => Date;
  /** Overrides for tests: a service-account directory for in-cluster config. */
  serviceAccountDir?: string;
  version?: string;
}

function terminationSignal(logger: Logger): { signal: AbortSignal; dispose(): void } {
  const ac = new AbortController();
  const onSignal = (sig: NodeJS.Signals) => {
    if (ac.signal.aborted) return;
    logger.warn({ signal: sig }, 'stopping: no new evictions; in-flight waits finish or time out');
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

/** Leaves the run's summary where `status` reads it (lib/report/record.ts); never fails the run. */
function recordRun(report: RunReport, env: NodeJS.ProcessEnv, logger: Logger): void {
  const path =
    env.AUTO_UPDATER_TERMINATION_LOG ?? (env.KUBERNETES_SERVICE_HOST ? TERMINATION_LOG : undefined);
  if (!path) return;
  const written = writeTerminationLog(
    {
      v: 1,
      finishedAt: report.finishedAt,
      exitCode: report.exitCode,
      dryRun: report.dryRun,
      mode: report.mode,
      summary: summarize(report.plan, report.results),
    },
    path,
  );
  if (!written) logger.debug({ path }, 'could not write the run record to the termination log');
}

async function createSource(
  config: RunConfig,
  deps: { logger: Logger; pullSecrets: PullSecretSource; userAgent: string },
): Promise<DigestSource> {
  if (config.mode === 'docker') {
    const { createDockerSource } = await import('../sources/docker.ts');
    return createDockerSource(config, deps);
  }
  return createRegistrySource(config, deps);
}

/** Runs the updater once with a validated config; never throws for cluster or registry faults (they set exit 1). */
export async function runUpdater(config: RunConfig, deps: RunDeps): Promise<number> {
  const { logger } = deps;
  const now = deps.now ?? (() => new Date());
  const started = performance.now();
  const elapsed = () => Math.round(performance.now() - started);
  const memory = () => {
    const m = process.memoryUsage();
    const mb = (n: number) => Math.round(n / 1048576);
    return {
      rssMb: mb(m.rss),
      heapUsedMb: mb(m.heapUsed),
      heapTotalMb: mb(m.heapTotal),
      externalMb: mb(m.external),
    };
  };
  const loaded = loadKubeConfig({
    ...(config.kubeconfig ? { kubeconfig: config.kubeconfig } : {}),
    ...(config.context ? { context: config.context } : {}),
    ...(deps.serviceAccountDir ? { serviceAccountDir: deps.serviceAccountDir } : {}),
    env: deps.env,
  });
  const userAgent = `k8s-auto-updater/${deps.version ?? 'dev'}`;
  const clients = createClients(loaded, { userAgent });
  // A regex filters the list of all namespaces; without any choice, the job's (or context's) own namespace.
  const namespaces: string[] | 'all' =
    config.allNamespaces || config.namespaceRegex
      ? 'all'
      : config.namespace.length
        ? config.namespace
        : [loaded.namespace];
  const scope = config.namespaceRegex
    ? `namespaces matching /${config.namespaceRegex}/`
    : namespaces === 'all'
      ? 'all namespaces'
      : `namespace ${namespaces.join(', ')}`;
  logger.info(
    {
      mode: config.mode,
      dryRun: config.dryRun,
      scope,
      selector: config.selector,
      optIn: config.optIn,
      kubeconfig: loaded.source === 'in-cluster' ? 'in-cluster' : loaded.origin,
      maxRestarts: config.maxRestarts,
      parallelWorkloads: config.parallelWorkloads,
    },
    'run starting',
  );

  // Built before the first API call: an unusable --docker-config, --registry-ca or Docker endpoint is a configuration
  // error (exit 2) with nothing done, as docs/output.md promises.
  const pullSecrets = new PullSecretSource(clients.core, logger);
  const source = await createSource(config, { logger, pullSecrets, userAgent });
  let pods: V1Pod[];
  let workloads: Awaited<ReturnType<typeof resolveWorkloads>>;
  try {
    pods = await listPods(clients.core, {
      namespaces,
      ...(config.namespaceRegex ? { namespaceRegex: new RegExp(`^(?:${config.namespaceRegex})$`) } : {}),
      ...(config.selector ? { labelSelector: config.selector } : {}),
      project: true,
    });
    workloads = await resolveWorkloads(pods, clients.apps, { log: logger });
  } catch (err) {
    await source.close();
    throw err;
  }
  const self = selfPod(loaded, deps.env);
  const ctx: PlanContext = {
    optIn: config.optIn,
    ...(self ? { self } : {}),
    workloads: workloads.refs,
    workloadAnnotations: workloads.annotations,
    compareConfigIds: config.mode === 'docker',
    now: now(),
  };
  const todo = candidates(pods, ctx);
  logger.info(
    { pods: pods.length, candidates: todo.length, elapsedMs: elapsed(), ...memory() },
    'pods and workloads read',
  );

  let results: RestartResult[] = [];
  let plan: ReturnType<typeof buildPlan>;
  const term = deps.signal ? undefined : terminationSignal(logger);
  const signal = deps.signal ?? term!.signal;
  try {
    const podsByUid = new Map(pods.map((p) => [p.metadata?.uid ?? '', p]));
    const tags = await source.resolve(todo, podsByUid);
    plan = buildPlan(pods, ctx, tags);
    logger.info({ ...plan.summary, stats: source.stats(), elapsedMs: elapsed(), ...memory() }, 'plan built');
    const stale = plan.pods.filter((p) => p.verdict === 'stale');
    if (stale.length > 0) {
      const rdeps = restarterDeps(clients, logger);
      if (!config.events) rdeps.recordEvent = async () => false;
      results = await applyPlan(stale, rdeps, {
        dryRun: config.dryRun,
        parallelWorkloads: config.parallelWorkloads,
        podTimeoutMs: config.podTimeout,
        evictionTimeoutMs: config.evictionTimeout,
        maxRestarts: config.maxRestarts,
        signal,
      });
    }
  } finally {
    term?.dispose();
    await source.close();
  }

  const summary = summarize(plan, results);
  const interrupted = results.some((r) => r.outcome === 'interrupted');
  // A workload the API would not let us read (e.g. RBAC without apps get) leaves its pods unjudged: a partial run,
  // like a failed registry, so the CronJob does not look healthy while it can never update them.
  const unreadable = plan.pods.some((p) => p.reason === 'owner-unreadable');
  const exitCode =
    summary.failed > 0 || source.hadHardFault() || interrupted || unreadable ? EXIT.failure : EXIT.ok;
  const report: RunReport = {
    mode: config.mode,
    dryRun: config.dryRun,
    plan,
    results,
    finishedAt: now().toISOString(),
    exitCode,
    stats: source.stats(),
    warnings: [...workloads.warnings, ...source.faults()],
  };
  if (config.output === 'json') await writeJSONDocument(report, deps.stdout);
  else deps.stdout.write(toText(report));
  recordRun(report, deps.env, logger);
  logger.info(
    {
      ...summary,
      exitCode,
      stats: report.stats,
      elapsedMs: elapsed(),
      ...memory(),
      peakRssMb: Math.round(process.resourceUsage().maxRSS / 1024),
    },
    'run finished',
  );
  return exitCode;
}
