// The run use case: observe (pods, workloads, current digests) → plan (pure) → apply (evict safely) → a RunReport.
// It takes its clients (through a factory), logger, abort signal and clock, and returns the report with its exit
// code. It never throws for cluster or registry faults, nor when interrupted: those become the report's `error` and
// exit 1, so the adapter can still print the document and leave the run record. Only a configuration error (bad
// kubeconfig, unusable CA / docker config / Docker endpoint) is thrown, before the first API call: exit 2.
// Process signals, stdout, the termination log and the process exit code belong to the adapter (lib/cli/run.ts).

import { performance } from 'node:perf_hooks';
import type { V1Pod } from '@kubernetes/client-node';
import { applyPlan, restarterDeps } from '../apply/restarter.ts';
import type { RunConfig } from '../config/config.ts';
import { createClients, type KubeClients } from '../kube/api.ts';
import { type LoadedKubeConfig, loadKubeConfig, selfPod } from '../kube/config.ts';
import { listPods } from '../kube/pods.ts';
import { PullSecretSource } from '../kube/pull-secrets.ts';
import { resolveWorkloads } from '../kube/workloads.ts';
import type { Plan, RestartResult } from '../model/plan.ts';
import { buildPlan, candidates, type PlanContext } from '../plan/planner.ts';
import { type RunReport, summarize } from '../report/output.ts';
import { ConfigError, EXIT } from '../shared/errors.ts';
import type { Logger } from '../shared/log.ts';
import { createRegistrySource } from '../sources/registry.ts';
import type { DigestSource } from '../sources/source.ts';

export interface RestartStaleDeps {
  logger: Logger;
  /** The process environment: in-cluster detection (KUBERNETES_SERVICE_HOST) and the updater's own pod. */
  env: NodeJS.ProcessEnv;
  /** Aborted on SIGTERM/SIGINT (by the adapter): no new evictions, waits end, the report is still returned. */
  signal: AbortSignal;
  /** The clock the plan and the report are stamped with. */
  now: () => Date;
  /** Builds the API clients from the loaded kubeconfig (default: the REST clients); tests pass fakes. */
  connect?: (loaded: LoadedKubeConfig, opts: { userAgent: string }) => KubeClients;
  /** A service-account directory for in-cluster config (default /var/run/secrets/kubernetes.io/serviceaccount). */
  serviceAccountDir?: string;
  version?: string;
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

function memory() {
  const m = process.memoryUsage();
  const mb = (n: number) => Math.round(n / 1048576);
  return {
    rssMb: mb(m.rss),
    heapUsedMb: mb(m.heapUsed),
    heapTotalMb: mb(m.heapTotal),
    externalMb: mb(m.external),
  };
}

/** Why the signal fired, for the report: "received SIGTERM" unless the adapter gave no reason. */
function abortReason(signal: AbortSignal): string {
  const r: unknown = signal.reason;
  return r instanceof Error ? r.message : typeof r === 'string' ? r : 'aborted';
}

class Interrupted extends Error {}

/** Settles with the promise, or rejects with Interrupted as soon as the signal fires (the work is left behind). */
function unlessAborted<T>(work: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) {
    work.catch(() => {});
    return Promise.reject(new Interrupted(abortReason(signal)));
  }
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => {
      work.catch(() => {});
      reject(new Interrupted(abortReason(signal)));
    };
    signal.addEventListener('abort', onAbort, { once: true });
    work.then(
      (v) => {
        signal.removeEventListener('abort', onAbort);
        resolve(v);
      },
      (e: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(e);
      },
    );
  });
}

function emptyPlan(at: Date): Plan {
  return { generatedAt: at.toISOString(), pods: [], summary: { pods: 0, current: 0, stale: 0, skipped: 0 } };
}

/**
 * Runs the updater once with a validated config and returns its report. Throws only ConfigError, and only before the
 * first API call; every later fault (API refused or down, registry, interruption) is the report's `error`, exit 1.
 */
export async function restartStale(config: RunConfig, deps: RestartStaleDeps): Promise<RunReport> {
  const { logger, signal, now } = deps;
  const started = performance.now();
  const elapsed = () => Math.round(performance.now() - started);

  // Setup: only configuration can fail here (ConfigError, exit 2, nothing done, nothing printed).
  const loaded = loadKubeConfig({
    ...(config.kubeconfig ? { kubeconfig: config.kubeconfig } : {}),
    ...(config.context ? { context: config.context } : {}),
    ...(deps.serviceAccountDir ? { serviceAccountDir: deps.serviceAccountDir } : {}),
    env: deps.env,
  });
  const userAgent = `k8s-auto-updater/${deps.version ?? 'dev'}`;
  const clients = (deps.connect ?? createClients)(loaded, { userAgent });
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
  // error (exit 2) with nothing done, as docs/output.md promises. Any other failure to build it is a runtime fault.
  const pullSecrets = new PullSecretSource(clients.core, logger);
  let source: DigestSource | undefined;
  let phase = 'preparing the digest source';
  let plan: Plan | undefined;
  let results: RestartResult[] = [];
  let warnings: string[] = [];
  let error: string | undefined;
  try {
    source = await createSource(config, { logger, pullSecrets, userAgent });
    phase = 'listing pods';
    const pods: V1Pod[] = await unlessAborted(
      listPods(clients.core, {
        namespaces,
        ...(config.namespaceRegex ? { namespaceRegex: new RegExp(`^(?:${config.namespaceRegex})$`) } : {}),
        ...(config.selector ? { labelSelector: config.selector } : {}),
        project: true,
      }),
      signal,
    );
    phase = `reading the workloads of ${pods.length} pods`;
    const workloads = await unlessAborted(resolveWorkloads(pods, clients.apps, { log: logger }), signal);
    warnings = [...workloads.warnings];
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

    phase = `resolving the current digests of ${todo.length} containers`;
    const podsByUid = new Map(pods.map((p) => [p.metadata?.uid ?? '', p]));
    const tags = await unlessAborted(source.resolve(todo, podsByUid), signal);
    plan = buildPlan(pods, ctx, tags);
    logger.info({ ...plan.summary, stats: source.stats(), elapsedMs: elapsed(), ...memory() }, 'plan built');
    const stale = plan.pods.filter((p) => p.verdict === 'stale');
    if (stale.length > 0) {
      phase = `restarting ${stale.length} stale pods`;
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
  } catch (err) {
    if (err instanceof ConfigError && source === undefined) {
      clients.close();
      throw err;
    }
    if (err instanceof Interrupted) {
      error = `interrupted (${err.message}) while ${phase}: nothing more was done`;
      logger.warn({ phase }, error);
    } else {
      error = `${phase} failed: ${(err as Error)?.message ?? String(err)}`;
      logger.error({ err, phase }, error);
    }
  } finally {
    await source?.close().catch((err: unknown) => logger.debug({ err }, 'closing the digest source failed'));
    clients.close();
  }

  const finalPlan = plan ?? emptyPlan(now());
  const summary = summarize(finalPlan, results);
  const interrupted = results.some((r) => r.outcome === 'interrupted');
  // A workload the API would not let us read (e.g. RBAC without apps get) leaves its pods unjudged: a partial run,
  // like a failed registry, so the CronJob does not look healthy while it can never update them.
  const unreadable = finalPlan.pods.some((p) => p.reason === 'owner-unreadable');
  const exitCode =
    error !== undefined || summary.failed > 0 || source?.hadHardFault() || interrupted || unreadable
      ? EXIT.failure
      : EXIT.ok;
  const report: RunReport = {
    mode: config.mode,
    dryRun: config.dryRun,
    plan: finalPlan,
    results,
    finishedAt: now().toISOString(),
    exitCode,
    ...(error !== undefined ? { error } : {}),
    stats: source?.stats() ?? {},
    warnings: [...warnings, ...(source?.faults() ?? [])],
  };
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
  return report;
}
