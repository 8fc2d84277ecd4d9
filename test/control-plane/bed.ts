// The real-control-plane test bed: one real kube-apiserver, etcd, controllers and scheduler with the node agent per
// test file (started once, ~10 s), a real registry, and a namespace per subtest. Tests skip when the binaries are
// not built (`node scripts/control-plane.ts build`), and fail instead under CI_REQUIRE_INTEGRATION=1.

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Test } from 'tap';
import {
  type ControlPlane,
  controlPlaneBinaries,
  startControlPlane,
} from '../harness/control-plane/index.ts';
import type { AgentOptions } from '../harness/node-agent/agent.ts';
import type { Json } from '../harness/node-agent/api.ts';
import { type Registry, startRegistry } from '../harness/registry/index.ts';
import { requireBin } from '../harness/require-bin.ts';
import { type RunOutput, runCli } from '../scenarios/scenario.ts';

export interface Bed {
  cp: ControlPlane;
  registry: Registry;
  /** A fresh namespace (with its default ServiceAccount) for one subtest. */
  namespace(name: string, labels?: Record<string, string>): Promise<Ns>;
}

export interface Ns {
  name: string;
  /** Creates an object (any kind the paths table knows) in this namespace; resolves to what the API stored. */
  create(obj: Json): Promise<Json>;
  get(kind: string, name: string): Promise<Json | undefined>;
  list(kind: string): Promise<Json[]>;
  /** Pods that are not terminating. */
  live(): Promise<Json[]>;
  /** Waits until `count` pods are Running and Ready and none terminates. */
  ready(count: number, timeoutMs?: number): Promise<Json[]>;
  /** Waits until the predicate holds for the live pods. */
  until(what: string, predicate: (pods: Json[]) => boolean, timeoutMs?: number): Promise<Json[]>;
  /** Runs the CLI in-process against the real API server (`run -n <ns> -o json …` plus args). */
  run(args?: string[], opts?: { kubeconfig?: string; env?: NodeJS.ProcessEnv }): Promise<RunOutput>;
  /** The running digest of a pod's container, from its imageID. */
  digestOf(pod: Json, container?: string): string | undefined;
  /** Events in the namespace with this reason. */
  events(reason: string): Promise<Json[]>;
}

const PATHS: Record<string, string> = {
  Pod: '/api/v1/namespaces/{ns}/pods',
  Secret: '/api/v1/namespaces/{ns}/secrets',
  ServiceAccount: '/api/v1/namespaces/{ns}/serviceaccounts',
  Event: '/api/v1/namespaces/{ns}/events',
  Deployment: '/apis/apps/v1/namespaces/{ns}/deployments',
  ReplicaSet: '/apis/apps/v1/namespaces/{ns}/replicasets',
  StatefulSet: '/apis/apps/v1/namespaces/{ns}/statefulsets',
  DaemonSet: '/apis/apps/v1/namespaces/{ns}/daemonsets',
  Job: '/apis/batch/v1/namespaces/{ns}/jobs',
  CronJob: '/apis/batch/v1/namespaces/{ns}/cronjobs',
  PodDisruptionBudget: '/apis/policy/v1/namespaces/{ns}/poddisruptionbudgets',
  Role: '/apis/rbac.authorization.k8s.io/v1/namespaces/{ns}/roles',
  RoleBinding: '/apis/rbac.authorization.k8s.io/v1/namespaces/{ns}/rolebindings',
};

function pathOf(kind: string, ns: string): string {
  const p = PATHS[kind];
  if (!p) throw new Error(`bed: no API path for ${kind}`);
  return p.replace('{ns}', encodeURIComponent(ns));
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function isReady(p: Json): boolean {
  return (
    p.status?.phase === 'Running' &&
    (p.status?.conditions ?? []).some((c: Json) => c.type === 'Ready' && c.status === 'True')
  );
}

/** Starts the bed for a test file (undefined: skipped); everything stops at the end of `t`. */
export async function startBed(
  t: Test,
  agent: Omit<AgentOptions, 'server' | 'caPem' | 'token'> = {},
): Promise<Bed | undefined> {
  if (!requireBin(t, 'docker-registry')) return undefined;
  if (!controlPlaneBinaries()) {
    const reason = 'the control plane is not built (node scripts/control-plane.ts build)';
    if (process.env.CI_REQUIRE_INTEGRATION === '1')
      t.fail(`${reason}: required with CI_REQUIRE_INTEGRATION=1`);
    else t.skip(`${reason}: skipping`, () => {});
    return undefined;
  }
  const registry = await startRegistry();
  t.teardown(() => registry.stop());
  const dir = mkdtempSync(join(tmpdir(), 'k8s-auto-updater-cp-'));
  const cp = await startControlPlane({
    dir,
    agent: { readyDelayMs: 200, terminationDelayMs: 100, ...agent },
  });
  t.teardown(async () => {
    const errors = cp.agent?.errors ?? [];
    await cp.stop();
    rmSync(dir, { recursive: true, force: true });
    if (errors.length > 0) t.fail(`the node agent reported errors: ${errors.join('; ')}`);
  });
  return {
    cp,
    registry,
    async namespace(name, labels = {}) {
      await cp.api.must('POST', '/api/v1/namespaces', {
        apiVersion: 'v1',
        kind: 'Namespace',
        metadata: { name, labels },
      });
      // The ServiceAccount controller creates `default`; the updater reads it for pull secrets, pods need it.
      for (
        let i = 0;
        (await cp.api.request('GET', `/api/v1/namespaces/${name}/serviceaccounts/default`)).status !== 200;
        i++
      ) {
        if (i > 200) throw new Error(`no default ServiceAccount in ${name} after 20 s`);
        await sleep(100);
      }
      return nsHandle(cp, registry, name);
    },
  };
}

function nsHandle(cp: ControlPlane, registry: Registry, name: string): Ns {
  const terminating = (p: Json) => !!p.metadata.deletionTimestamp;
  const h: Ns = {
    name,
    create: (obj) =>
      cp.api.must('POST', pathOf(obj.kind, name), { ...obj, metadata: { ...obj.metadata, namespace: name } }),
    async get(kind, n) {
      const r = await cp.api.request('GET', `${pathOf(kind, name)}/${encodeURIComponent(n)}`);
      return r.status === 200 ? r.json : undefined;
    },
    list: async (kind) => (await cp.api.must('GET', pathOf(kind, name))).items ?? [],
    live: async () => (await h.list('Pod')).filter((p) => !terminating(p)),
    async until(what, predicate, timeoutMs = 30_000) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const all = await h.list('Pod');
        const live = all.filter((p) => !terminating(p));
        if (predicate(live)) return live;
        if (Date.now() > deadline) {
          const seen = all.map(
            (p) => `${p.metadata.name}:${p.status?.phase}${terminating(p) ? '(terminating)' : ''}`,
          );
          throw new Error(`${what}: not after ${timeoutMs} ms; pods: ${seen.join(', ')}`);
        }
        await sleep(100);
      }
    },
    async ready(count, timeoutMs = 30_000) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const all = await h.list('Pod');
        if (all.length === count && all.every((p) => !terminating(p) && isReady(p))) return all;
        if (Date.now() > deadline) {
          const seen = all.map(
            (p) => `${p.metadata.name}:${p.status?.phase}${terminating(p) ? '(terminating)' : ''}`,
          );
          throw new Error(
            `${count} Ready pods in ${name}: not after ${timeoutMs} ms; pods: ${seen.join(', ')}`,
          );
        }
        await sleep(100);
      }
    },
    run(args = [], opts = {}) {
      const base = ['run', '--kubeconfig', opts.kubeconfig ?? cp.kubeconfigPath, '-n', name, '-o', 'json'];
      const rest = ['--log-level', 'warn', '--pod-timeout', '30s', '--insecure-registry', registry.host];
      return runCli([...base, ...rest, ...args], opts.env ?? {});
    },
    digestOf(pod, container) {
      const st = (pod.status?.containerStatuses ?? []).find(
        (c: Json) => container === undefined || c.name === container,
      );
      const id: string | undefined = st?.imageID;
      const at = id?.lastIndexOf('@') ?? -1;
      return id && at >= 0 ? id.slice(at + 1) : undefined;
    },
    events: async (reason) => (await h.list('Event')).filter((e) => e.reason === reason),
  };
  return h;
}

/** Writes a kubeconfig for a ServiceAccount's token (a TokenRequest, what its pods get) and returns its path. */
export async function serviceAccountKubeconfig(bed: Bed, ns: string, sa: string): Promise<string> {
  const token = await bed.cp.serviceAccountToken(ns, sa);
  return bed.cp.kubeconfig({ token, namespace: ns, name: `${ns}-${sa}` });
}
