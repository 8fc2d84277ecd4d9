// A digest-mode scenario bed: a real registry (any harness variant), the Kubernetes API simulator with controllers and a
// kubelet pulling from that registry, and the updater's real CLI run in-process against it.

import { writeFileSync } from 'node:fs';
import { Writable } from 'node:stream';
import type { Test } from 'tap';
import { main } from '../../lib/cli/main.ts';
import { builtBinaries as controlPlaneBinaries } from '../harness/control-plane/binaries.ts';
import type { ControllerOptions } from '../harness/kube-sim/controllers/index.ts';
import { type Cluster, startCluster } from '../harness/kube-sim/index.ts';
import type { KObject } from '../harness/kube-sim/store.ts';
import { type Registry, type RegistryOptions, startRegistry } from '../harness/registry/index.ts';
import { requireBin } from '../harness/require-bin.ts';

export interface RunOutput {
  code: number;
  stdout: string;
  stderr: string;
  /** The -o json document, when the run printed one. */
  // biome-ignore lint/suspicious/noExplicitAny: the JSON document is checked field by field in tests.
  json: any;
}

/** What a scenario suite may use on either backend (the simulator or the real control plane). */
export interface CommonScenario {
  backend: Backend;
  registry: Registry;
  ns: string;
  /** Runs the CLI (`run`) against the cluster with -o json; extra args appended. */
  run(args?: string[], env?: NodeJS.ProcessEnv): Promise<RunOutput>;
  /** Creates an object through the store (as an admin would). */
  create(kind: string, obj: KObject): KObject;
  /**
   * Waits until every pod of the namespace is Running and Ready (and there are `count` of them, if given), and no
   * evicted pod is still terminating, so pods() then shows only the live ones.
   */
  ready(count?: number, timeoutMs?: number): Promise<void>;
  pods(): KObject[];
  /** The namespace's pods that are not terminating. */
  live(): KObject[];
  /** Sorted uids of the live pods (compare before/after a run). */
  uids(): string[];
  /** One pod from the store by name. */
  pod(name: string): KObject | undefined;
  /** The pod's (first container's) running digest from its status imageID. */
  digestOf(pod: KObject, container?: string): string | undefined;
  /** Waits until predicate(live pods of the namespace) holds, busy or not; rejects after timeoutMs (default 15 s). */
  until(predicate: (pods: KObject[]) => boolean, timeoutMs?: number): Promise<void>;
  /** The arguments every run() gets before its own: kubeconfig, namespace, -o json, registry trust. */
  baseArgs: string[];
  /** The namespace's Events, optionally only those with this reason. */
  events(reason?: string): KObject[];
}

/** The simulator scenario: the common interface plus direct access to the simulated cluster. */
export interface Scenario extends CommonScenario {
  cluster: Cluster;
}

export type Backend = 'sim' | 'real';

/**
 * The backends a backend-neutral suite runs on: the simulator, and the real control plane when its binaries are
 * built (`node scripts/control-plane.ts build`) or required (CI_REQUIRE_INTEGRATION=1, where a missing build fails).
 */
export function backends(): Backend[] {
  const real = controlPlaneBinaries() !== undefined || process.env.CI_REQUIRE_INTEGRATION === '1';
  return real ? ['sim', 'real'] : ['sim'];
}

/** A scenario on the given backend (undefined: skipped for a missing binary). */
export async function startAnyScenario(
  t: Test,
  backend: Backend,
  opts: ScenarioOptions = {},
): Promise<CommonScenario | undefined> {
  if (backend === 'sim') return startScenario(t, opts);
  if (!requireBin(t, 'docker-registry')) return undefined;
  if (!controlPlaneBinaries()) {
    t.fail('the control plane is not built: run `node scripts/control-plane.ts build`');
    return undefined;
  }
  const { startRealScenario } = await import('./real-scenario.ts');
  return startRealScenario(t, opts);
}

export interface ScenarioOptions {
  registry?: RegistryOptions;
  controllers?: ControllerOptions;
  ns?: string;
  /** false: run() gets no --registry-ca / --insecure-registry for the scenario's registry (default true). */
  trustRegistry?: boolean;
}

const KEYS: Record<string, string> = {
  Deployment: 'apps/deployments',
  StatefulSet: 'apps/statefulsets',
  DaemonSet: 'apps/daemonsets',
  ReplicaSet: 'apps/replicasets',
  Pod: '/pods',
  Secret: '/secrets',
  ServiceAccount: '/serviceaccounts',
  PodDisruptionBudget: 'policy/poddisruptionbudgets',
  Namespace: '/namespaces',
  Role: 'rbac.authorization.k8s.io/roles',
  RoleBinding: 'rbac.authorization.k8s.io/rolebindings',
};

/** A writable that keeps what it is given (the CLI's stdout/stderr in tests). */
export function sink(): { stream: Writable; text(): string } {
  const chunks: Buffer[] = [];
  return {
    stream: new Writable({
      write(chunk, _enc, cb) {
        chunks.push(Buffer.from(chunk));
        cb();
      },
    }),
    text: () => Buffer.concat(chunks).toString('utf8'),
  };
}

/** Runs the CLI in-process with argv and env; captures stdout and stderr. */
export async function runCli(argv: string[], env: NodeJS.ProcessEnv = {}): Promise<RunOutput> {
  const out = sink();
  const err = sink();
  const code = await main(argv, { ...env }, { stdout: out.stream, stderr: err.stream });
  const stdout = out.text();
  let json: unknown;
  try {
    json = JSON.parse(stdout);
  } catch {
    json = undefined;
  }
  return { code, stdout, stderr: err.text(), json };
}

/**
 * Starts a registry and a simulated cluster whose kubelet pulls from it; returns undefined (test skipped) when the
 * registry binary is missing. Everything is stopped at the end of the test.
 */
export async function startScenario(t: Test, opts: ScenarioOptions = {}): Promise<Scenario | undefined> {
  if (!requireBin(t, 'docker-registry')) return undefined;
  const registry = await startRegistry(opts.registry ?? {});
  t.teardown(() => registry.stop());
  const regOpts = registry.caPem ? { [registry.host]: { tls: true, ca: registry.caPem } } : {};
  const cluster = await startCluster({
    controllers: { readyDelayMs: 10, registries: regOpts, ...(opts.controllers ?? {}) },
  });
  t.teardown(() => cluster.stop());
  const ns = opts.ns ?? 'shop';
  cluster.store.create('/namespaces', { metadata: { name: ns } });
  // Every real namespace has its default ServiceAccount (the updater reads it for pull secrets).
  cluster.store.create('/serviceaccounts', { metadata: { name: 'default', namespace: ns } });
  const tlsArgs =
    opts.trustRegistry === false
      ? []
      : registry.caPem
        ? ['--registry-ca', writeCa(cluster, registry.caPem)]
        : ['--insecure-registry', registry.host];
  const baseArgs = [
    'run',
    '--kubeconfig',
    cluster.kubeconfigPath,
    '-n',
    ns,
    '-o',
    'json',
    '--log-level',
    'warn',
    '--pod-timeout',
    '20s',
    ...tlsArgs,
  ];
  const terminating = (p: KObject) => !!p.metadata.deletionTimestamp;

  const s: Scenario = {
    backend: 'sim',
    cluster,
    registry,
    ns,
    baseArgs,
    run: (args = [], env = {}) => runCli([...baseArgs, ...args], env),
    create(kind, obj) {
      const key = KEYS[kind];
      if (!key) throw new Error(`scenario: no store key for ${kind}`);
      obj.metadata.namespace ??= ns;
      return cluster.store.create(key, obj);
    },
    async ready(count, timeoutMs = 15_000) {
      await cluster.controllers!.waitFor((st) => {
        const all = st.listRefs('/pods', ns);
        if (all.some(terminating)) return false;
        const pods = all;
        if (count !== undefined && pods.length !== count) return false;
        return pods.every(
          (p) =>
            p.status?.phase === 'Running' &&
            p.status?.conditions?.some((c: KObject) => c.type === 'Ready' && c.status === 'True'),
        );
      }, timeoutMs);
    },
    pods: () => cluster.store.list('/pods', ns),
    live: () => cluster.store.list('/pods', ns).filter((p) => !terminating(p)),
    uids: () =>
      s
        .live()
        .map((p) => p.metadata.uid!)
        .sort(),
    until: (predicate, timeoutMs = 15_000) =>
      cluster.controllers!.waitFor(
        (st) => predicate(st.listRefs('/pods', ns).filter((p) => !terminating(p))),
        timeoutMs,
      ),
    pod: (name) => cluster.store.list('/pods', ns).find((p) => p.metadata.name === name),
    events: (reason) =>
      cluster.store.list('/events', ns).filter((e) => reason === undefined || e.reason === reason),
    digestOf(pod, container) {
      const st = (pod.status?.containerStatuses ?? []).find(
        (c: KObject) => container === undefined || c.name === container,
      );
      const id: string | undefined = st?.imageID;
      const at = id?.lastIndexOf('@') ?? -1;
      return id && at >= 0 ? id.slice(at + 1) : undefined;
    },
  };
  return s;
}

function writeCa(cluster: Cluster, pem: string): string {
  const path = `${cluster.dir}/registry-ca.pem`;
  writeFileSync(path, pem);
  return path;
}

/** A pod of the -o json document by exact name, or the pods whose name starts with `<prefix>-` (workload pods). */
// biome-ignore lint/suspicious/noExplicitAny: the JSON document is checked field by field in tests.
export function jsonPods(json: any, prefix: string): any[] {
  // biome-ignore lint/suspicious/noExplicitAny: as above.
  return (json?.pods ?? []).filter((p: any) => p.name === prefix || p.name.startsWith(`${prefix}-`));
}

/** Whether a pod is Running and Ready. */
export function isReadyPod(p: KObject): boolean {
  return (
    p.status?.phase === 'Running' &&
    (p.status?.conditions ?? []).some((c: KObject) => c.type === 'Ready' && c.status === 'True')
  );
}
