// The scenario bed on the real control plane (test/harness/control-plane/): the same interface the scenario suites
// use on the simulator, so one test body runs on both. One control plane per test process (started on first use,
// ~10 s, stopped when tap ends); a namespace and a registry per scenario. Reads are synchronous from a watch-fed
// cache of the namespace's pods and events (re-listed after every run, so a run's effects are visible at once);
// creates are sent in order and awaited by the next ready()/until()/run().

import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import tap, { type Test } from 'tap';
import { type ControlPlane, startControlPlane } from '../harness/control-plane/index.ts';
import type { RegistryConfig } from '../harness/kube-sim/controllers/image-pull.ts';
import { RUNTIME_ANNOTATION } from '../harness/kube-sim/controllers/nodes.ts';
import type { KObject } from '../harness/kube-sim/store.ts';
import type { Json } from '../harness/node-agent/api.ts';
import { startRegistry } from '../harness/registry/index.ts';
import { type CommonScenario, runCli, type ScenarioOptions } from './scenario.ts';

const PATHS: Record<string, string> = {
  Deployment: '/apis/apps/v1/namespaces/{ns}/deployments',
  StatefulSet: '/apis/apps/v1/namespaces/{ns}/statefulsets',
  DaemonSet: '/apis/apps/v1/namespaces/{ns}/daemonsets',
  ReplicaSet: '/apis/apps/v1/namespaces/{ns}/replicasets',
  Pod: '/api/v1/namespaces/{ns}/pods',
  Secret: '/api/v1/namespaces/{ns}/secrets',
  ServiceAccount: '/api/v1/namespaces/{ns}/serviceaccounts',
  PodDisruptionBudget: '/apis/policy/v1/namespaces/{ns}/poddisruptionbudgets',
  Role: '/apis/rbac.authorization.k8s.io/v1/namespaces/{ns}/roles',
  RoleBinding: '/apis/rbac.authorization.k8s.io/v1/namespaces/{ns}/rolebindings',
};

/** Registry trust of the shared node agent: hosts are added as scenarios start their registries. */
const trusted: Record<string, RegistryConfig> = {};
let shared: Promise<ControlPlane> | undefined;
let counter = 0;

function controlPlane(): Promise<ControlPlane> {
  shared ??= (async () => {
    const dir = mkdtempSync(join(tmpdir(), 'scenario-cp-'));
    const cp = await startControlPlane({
      dir,
      agent: { readyDelayMs: 50, terminationDelayMs: 50, registries: trusted },
    });
    tap.teardown(async () => {
      const errors = cp.agent?.errors ?? [];
      await cp.stop();
      rmSync(dir, { recursive: true, force: true });
      if (errors.length > 0) tap.fail(`the node agent reported errors: ${errors.join('; ')}`);
    });
    return cp;
  })();
  return shared;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const rvOf = (o: Json) => Number(o?.metadata?.resourceVersion ?? 0);
const isReady = (p: KObject) =>
  p.status?.phase === 'Running' &&
  (p.status?.conditions ?? []).some((c: KObject) => c.type === 'Ready' && c.status === 'True');

/** A namespaced collection mirrored by list-then-watch, re-listed on demand; newer resourceVersions win. */
class Mirror {
  readonly items = new Map<string, Json>();
  private readonly stop: () => void;
  private readonly cp: ControlPlane;
  private readonly path: string;
  constructor(cp: ControlPlane, path: string) {
    this.cp = cp;
    this.path = path;
    this.stop = cp.api.listWatch(path, (e) => this.apply(e.type, e.object));
  }
  private apply(type: string, o: Json) {
    const key = o.metadata.name as string;
    const cur = this.items.get(key);
    if (cur && cur.metadata.uid === o.metadata.uid && rvOf(cur) > rvOf(o)) return;
    if (type === 'DELETED') {
      if (!cur || cur.metadata.uid === o.metadata.uid) this.items.delete(key);
    } else this.items.set(key, o);
  }
  async relist(): Promise<void> {
    const list = await this.cp.api.must('GET', this.path);
    const seen = new Set<string>();
    for (const o of list.items ?? []) {
      seen.add(o.metadata.name);
      this.apply('MODIFIED', o);
    }
    for (const key of [...this.items.keys()]) if (!seen.has(key)) this.items.delete(key);
  }
  close() {
    this.stop();
  }
}

export async function startRealScenario(t: Test, opts: ScenarioOptions = {}): Promise<CommonScenario> {
  const cp = await controlPlane();
  const registry = await startRegistry(opts.registry ?? {});
  t.teardown(() => registry.stop());
  if (registry.caPem) trusted[registry.host] = { tls: true, ca: registry.caPem };
  const ns = `${opts.ns ?? 'shop'}-${++counter}`;
  await cp.api.must('POST', '/api/v1/namespaces', {
    apiVersion: 'v1',
    kind: 'Namespace',
    metadata: { name: ns },
  });
  for (
    let i = 0;
    (await cp.api.request('GET', `/api/v1/namespaces/${ns}/serviceaccounts/default`)).status !== 200;
    i++
  ) {
    if (i > 200) throw new Error(`no default ServiceAccount in ${ns} after 20 s`);
    await sleep(100);
  }
  const pods = new Mirror(cp, `/api/v1/namespaces/${ns}/pods`);
  const events = new Mirror(cp, `/api/v1/namespaces/${ns}/events`);
  const dir = mkdtempSync(join(tmpdir(), 'scenario-'));
  t.teardown(async () => {
    pods.close();
    events.close();
    rmSync(dir, { recursive: true, force: true });
    await cp.api.request('DELETE', `/api/v1/namespaces/${ns}`);
  });
  let pending: Promise<unknown> = Promise.resolve();
  const settle = async () => {
    await pending;
  };
  const caFile = registry.caPem ? join(dir, 'registry-ca.pem') : undefined;
  if (caFile && registry.caPem) writeFileSync(caFile, registry.caPem);
  const tlsArgs =
    opts.trustRegistry === false
      ? []
      : caFile
        ? ['--registry-ca', caFile]
        : ['--insecure-registry', registry.host];
  const baseArgs = [
    'run',
    '--kubeconfig',
    cp.kubeconfigPath,
    '-n',
    ns,
    '-o',
    'json',
    '--log-level',
    'warn',
    '--pod-timeout',
    '30s',
    ...tlsArgs,
  ];
  const terminating = (p: KObject) => !!p.metadata.deletionTimestamp;
  const list = () =>
    [...pods.items.values()].sort((a, b) => a.metadata.name.localeCompare(b.metadata.name)) as KObject[];
  const until = async (what: string, predicate: (all: KObject[]) => boolean, timeoutMs: number) => {
    await settle();
    const deadline = Date.now() + timeoutMs;
    while (!predicate(list())) {
      if (Date.now() > deadline) {
        await pods.relist();
        if (predicate(list())) return;
        const seen = list().map(
          (p) => `${p.metadata.name}:${p.status?.phase}${terminating(p) ? '(terminating)' : ''}`,
        );
        throw new Error(`${what} in ${ns}: not after ${timeoutMs} ms; pods: ${seen.join(', ')}`);
      }
      await sleep(25);
    }
  };
  const runtime = opts.controllers?.runtime;
  const s: CommonScenario = {
    backend: 'real',
    registry,
    ns,
    baseArgs,
    async run(args = [], env = {}) {
      await settle();
      const out = await runCli([...baseArgs, ...args], env);
      await Promise.all([pods.relist(), events.relist()]);
      return out;
    },
    create(kind, obj) {
      const path = PATHS[kind];
      if (!path) throw new Error(`real scenario: no API path for ${kind}`);
      obj.metadata.namespace ??= ns;
      if (runtime) {
        const meta = kind === 'Pod' ? obj.metadata : obj.spec?.template?.metadata;
        if (meta) meta.annotations = { ...(meta.annotations ?? {}), [RUNTIME_ANNOTATION]: runtime };
      }
      const body = {
        apiVersion: obj.apiVersion ?? (kind === 'Pod' || kind === 'Secret' ? 'v1' : undefined),
        kind,
        ...obj,
      };
      pending = pending.then(() => cp.api.must('POST', path.replace('{ns}', ns), body));
      return obj;
    },
    ready: (count, timeoutMs = 30_000) =>
      until(
        `${count ?? 'all'} Ready pods`,
        (all) =>
          !all.some(terminating) && (count === undefined || all.length === count) && all.every(isReady),
        timeoutMs,
      ),
    pods: list,
    live: () => list().filter((p) => !terminating(p)),
    uids: () =>
      s
        .live()
        .map((p) => p.metadata.uid!)
        .sort(),
    until: (predicate, timeoutMs = 30_000) =>
      until('the condition', (all) => predicate(all.filter((p) => !terminating(p))), timeoutMs),
    pod: (name) => pods.items.get(name) as KObject | undefined,
    digestOf(pod, container) {
      const st = (pod.status?.containerStatuses ?? []).find(
        (c: KObject) => container === undefined || c.name === container,
      );
      const id: string | undefined = st?.imageID;
      const at = id?.lastIndexOf('@') ?? -1;
      return id && at >= 0 ? id.slice(at + 1) : undefined;
    },
    events: (reason) =>
      [...events.items.values()].filter((e) => reason === undefined || e.reason === reason) as KObject[],
  };
  return s;
}
