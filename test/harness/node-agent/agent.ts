// The node agent: the kubelet of the real control plane's test bed, talking to the cluster only through the API.
// Built from the simulator's kubelet pieces (image cache and puller, imageID formats, pod status rendering, the
// scripted behaviours and the Node shape): it registers nodes (labels kubernetes.io/arch and os; heartbeats through
// node Leases and status), and for the pods the real scheduler binds to its nodes pulls each container's image from
// the real registry honouring imagePullPolicy with a per-node image cache, writes pod status as a kubelet would
// (imageID in the node's runtime format, Ready after a delay, scripted crash loops), runs Job pods to success or
// failure (or as a local process through `execute`, with the pod's real ServiceAccount token), and finishes the
// deletion of terminating pods after their (capped) grace period, as the kubelet's status manager does.

import { containerEnv, type PodBehaviour, podBehaviour } from '../kube-sim/controllers/behaviour.ts';
import { type CachedImage, ImageCache } from '../kube-sim/controllers/image-cache.ts';
import { PullError, type PullerOptions } from '../kube-sim/controllers/image-pull.ts';
import {
  containerIdScheme,
  formatImageID,
  formatStatusImage,
  normalized,
  parseImage,
  RUNTIME_FORMATS,
  type RuntimeFormat,
} from '../kube-sim/controllers/image-ref.ts';
import { type NodeSpec, nodeObject, nodeStatus, RUNTIME_ANNOTATION } from '../kube-sim/controllers/nodes.ts';
import { type ContainerRun, hex64, nowIso, type PodRun, podStatus } from '../kube-sim/controllers/pod-run.ts';
import { Api, type Json } from './api.ts';

export type { PodBehaviour };

export interface AgentOptions {
  server: string;
  caPem: string;
  /** A token allowed to manage nodes, leases and pod status, read secrets and jobs, and delete pods. */
  token: string;
  /** The nodes this agent runs; default node-a and node-b. */
  nodes?: Array<string | NodeSpec>;
  /** Default imageID format; default containerd. */
  runtime?: RuntimeFormat;
  /** Start → Ready; default 100 ms. */
  readyDelayMs?: number;
  /** deletionTimestamp → deletion finished, capped by the pod's grace period; default 100 ms. */
  terminationDelayMs?: number;
  /** How long run-to-completion containers run before they exit; default 100 ms. */
  runDurationMs?: number;
  /** Start → crash for crash-looping containers; default 50 ms. */
  crashAfterMs?: number;
  /** First crash-loop back-off, doubled per restart up to 5 s; default 200 ms. */
  crashBackoffMs?: number;
  /** Where digests come from (see the simulator's kubelet): default 'auto' (loopback registries are pulled). */
  imageSource?: 'auto' | 'registry' | 'synthetic';
  /** Per registry host: tls and CA; loopback hosts are plain http, like a runtime that lists them as insecure. */
  registries?: PullerOptions['registries'];
  /** Scripted misbehaviour per pod, merged with the pod's sim annotations. */
  behaviour?: (pod: Json) => PodBehaviour | undefined;
  /**
   * Runs a run-to-completion container as the caller likes (e.g. a local process) and resolves its exit code;
   * `token` is a TokenRequest token of the pod's ServiceAccount bound to the pod (what its projected volume holds).
   */
  execute?: (
    pod: Json,
    container: Json,
    env: Record<string, string>,
    ctx: { token: string },
  ) => Promise<number>;
  /** Outcome of a Job pod's attempt (1-based: 1 + the Job's failed count); default succeed. */
  jobOutcome?: (job: Json, attempt: number) => 'succeed' | 'fail';
  /** Lease renewal period; default 10 s (the lease lasts 40 s). */
  heartbeatMs?: number;
  /** The kubelet version the nodes report (the control plane's release); default the simulator's. */
  kubeletVersion?: string;
}

export interface NodeAgent {
  /** Resolves once every node is Ready and untainted by the node lifecycle controller. */
  ready(timeoutMs?: number): Promise<void>;
  nodeNames(): string[];
  /** The nodes' image caches and the registry client (pull records). */
  images: ImageCache;
  /** Failures of the agent's own work (status writes, pulls), for tests to assert none happened. */
  errors: string[];
  stop(): Promise<void>;
}

const BACKOFF_MAX_MS = 5_000;
const BACKOFF_MAX_PULL_MS = 5_000;

function microTime(ms = Date.now()): string {
  return new Date(ms).toISOString().replace(/\.(\d{3})Z$/, '.$1000Z');
}

const enc = (s: unknown) => encodeURIComponent(String(s));

export async function startNodeAgent(opts: AgentOptions): Promise<NodeAgent> {
  const api = new Api({ server: opts.server, caPem: opts.caPem, token: opts.token });
  const specs: NodeSpec[] = (opts.nodes ?? ['node-a', 'node-b']).map((n) =>
    typeof n === 'string' ? { name: n } : n,
  );
  const ours = new Map(specs.map((s, i) => [s.name, { spec: s, index: i }]));
  const secrets = new Map<string, Json>();
  const runs = new Map<string, PodRun>();
  const terminating = new Map<string, string>();
  const lastWritten = new Map<string, string>();
  const timers = new Set<NodeJS.Timeout>();
  const errors: string[] = [];
  let ipCounter = 0;
  let stopped = false;
  const images = new ImageCache(
    { imageSource: opts.imageSource ?? 'auto', registries: opts.registries },
    { track: (p) => p, secret: (ns, name) => secrets.get(`${ns}/${name}`) },
  );
  const fail = (what: string, e: unknown) => {
    if (!stopped) errors.push(`${what}: ${e instanceof Error ? e.message : String(e)}`);
  };
  const after = (ms: number, fn: () => void): NodeJS.Timeout => {
    const t = setTimeout(() => {
      timers.delete(t);
      if (!stopped) fn();
    }, ms);
    timers.add(t);
    return t;
  };
  const sleep = (run: PodRun, ms: number) =>
    new Promise<void>((resolve) => {
      const t = after(ms, resolve);
      run.timers.push({
        cancel: () => {
          clearTimeout(t);
          timers.delete(t);
          resolve();
        },
      });
    });
  const statusOf = (name: string, index: number, runtime: RuntimeFormat) => {
    const status = nodeStatus(name, index, runtime, nowIso()) as Json;
    if (opts.kubeletVersion) {
      status.nodeInfo = {
        ...status.nodeInfo,
        kubeletVersion: opts.kubeletVersion,
        kubeProxyVersion: opts.kubeletVersion,
      };
    }
    return status;
  };
  const runtimeOf = (pod: Json, node: string): RuntimeFormat => {
    const own = pod.metadata?.annotations?.[RUNTIME_ANNOTATION];
    if (own && (RUNTIME_FORMATS as readonly string[]).includes(own)) return own as RuntimeFormat;
    return ours.get(node)?.spec.runtime ?? opts.runtime ?? 'containerd';
  };

  // ---- nodes and heartbeats ------------------------------------------------------------------------------------
  for (const [name, { spec, index }] of ours) {
    const node = nodeObject(spec, index, opts.runtime ?? 'containerd');
    const status = statusOf(name, index, spec.runtime ?? opts.runtime ?? 'containerd');
    const r = await api.request('POST', '/api/v1/nodes', { ...node, status: undefined });
    if (r.status !== 201 && r.status !== 409)
      throw new Error(`registering node ${name}: ${r.status} ${r.text}`);
    await api.must('PATCH', `/api/v1/nodes/${enc(name)}/status`, { status }, 'application/merge-patch+json');
  }
  const heartbeat = async () => {
    for (const [name, { spec, index }] of ours) {
      const path = `/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/${enc(name)}`;
      const lease = {
        apiVersion: 'coordination.k8s.io/v1',
        kind: 'Lease',
        metadata: { name, namespace: 'kube-node-lease' },
        spec: { holderIdentity: name, leaseDurationSeconds: 40, renewTime: microTime() },
      };
      try {
        const cur = await api.request('GET', path);
        if (cur.status === 404) {
          await api.must('POST', '/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases', lease);
        } else {
          await api.must('PATCH', path, { spec: lease.spec }, 'application/merge-patch+json');
        }
        const status = statusOf(name, index, spec.runtime ?? opts.runtime ?? 'containerd');
        await api.must(
          'PATCH',
          `/api/v1/nodes/${enc(name)}/status`,
          { status },
          'application/merge-patch+json',
        );
      } catch (e) {
        fail(`heartbeat ${name}`, e);
      }
    }
  };
  await heartbeat();
  const beat = setInterval(() => void heartbeat(), opts.heartbeatMs ?? 10_000);
  beat.unref();

  // ---- pod status ------------------------------------------------------------------------------------------------
  const write = async (run: PodRun) => {
    if (run.cancelled || stopped) return;
    const status = podStatus(run);
    const text = JSON.stringify(status);
    if (lastWritten.get(run.uid) === text) return;
    lastWritten.set(run.uid, text);
    const { namespace, name } = run.pod.metadata;
    const r = await api.request(
      'PATCH',
      `/api/v1/namespaces/${enc(namespace)}/pods/${enc(name)}/status`,
      { metadata: { uid: run.uid }, status },
      'application/merge-patch+json',
    );
    if (r.status === 404 || r.status === 409 || r.status === 422) return; // gone, or replaced by another uid
    if (r.status !== 200)
      fail(`status of ${namespace}/${name}`, new Error(`${r.status} ${r.text.slice(0, 300)}`));
  };
  const bg = (what: string, p: Promise<unknown>) => void p.catch((e) => fail(what, e));

  const cancel = (run: PodRun) => {
    run.cancelled = true;
    for (const t of run.timers) t.cancel();
    for (const c of run.containers) for (const t of c.timers) t.cancel();
  };

  const ensureImage = async (run: PodRun, c: ContainerRun): Promise<boolean> => {
    let backoff = 200;
    for (;;) {
      if (run.cancelled) return false;
      let img: CachedImage | undefined;
      let err: unknown;
      const x = { node: run.node, runtime: run.runtime, pod: run.pod, container: c.spec, ref: c.ref! };
      try {
        img = images.resolveLocal(x) ?? (await images.pullRemote(x));
      } catch (e) {
        err = e;
      }
      if (run.cancelled) return false;
      if (img) {
        c.imageID = formatImageID(run.runtime, c.ref!, img.digest, img.configDigest);
        return true;
      }
      const never = err instanceof PullError && err.status === -1;
      const msg = err instanceof Error ? err.message : String(err);
      c.state = {
        waiting: {
          reason: never ? 'ErrImageNeverPull' : 'ErrImagePull',
          message: never ? msg : `failed to pull and unpack image "${normalized(c.ref!)}": ${msg}`,
        },
      };
      await write(run);
      await sleep(run, backoff);
      if (!never && !run.cancelled) {
        c.state = {
          waiting: { reason: 'ImagePullBackOff', message: `Back-off pulling image "${c.spec.image}"` },
        };
        await write(run);
      }
      await sleep(run, backoff);
      backoff = Math.min(backoff * 2, BACKOFF_MAX_PULL_MS);
    }
  };

  const containerID = (run: PodRun) => `${containerIdScheme(run.runtime)}://${hex64()}`;

  const startContainer = (run: PodRun, c: ContainerRun) => {
    c.containerID = containerID(run);
    c.state = { running: { startedAt: nowIso() } };
    c.started = true;
    c.ready = false;
    if (c.crash) c.timers.push(handle(after(opts.crashAfterMs ?? 50, () => bg('crash', crash(run, c)))));
    else if (!run.runToCompletion && !run.behaviour.neverReady) {
      c.timers.push(
        handle(
          after(run.behaviour.readyDelayMs, () => {
            if (run.cancelled || !c.state.running) return;
            c.ready = true;
            bg('ready', write(run));
          }),
        ),
      );
    }
  };
  const handle = (t: NodeJS.Timeout) => ({
    cancel: () => {
      clearTimeout(t);
      timers.delete(t);
    },
  });

  const crash = async (run: PodRun, c: ContainerRun) => {
    if (run.cancelled) return;
    const at = nowIso();
    const startedAt = (c.state.running as { startedAt?: string } | undefined)?.startedAt ?? at;
    c.lastState = {
      terminated: { exitCode: 1, reason: 'Error', startedAt, finishedAt: at, containerID: c.containerID },
    };
    c.restartCount++;
    const backoff = Math.min((opts.crashBackoffMs ?? 200) * 2 ** (c.restartCount - 1), BACKOFF_MAX_MS);
    c.state = {
      waiting: {
        reason: 'CrashLoopBackOff',
        message: `back-off ${Math.ceil(backoff / 1000)}s restarting failed container=${c.name} pod=${run.pod.metadata.name}_${run.pod.metadata.namespace}(${run.uid})`,
      },
    };
    c.ready = false;
    c.started = false;
    await write(run);
    await sleep(run, backoff);
    if (run.cancelled || !(await ensureImage(run, c))) return;
    startContainer(run, c);
    await write(run);
  };

  const podToken = async (pod: Json): Promise<string> => {
    const sa = pod.spec?.serviceAccountName ?? 'default';
    const r = await api.must(
      'POST',
      `/api/v1/namespaces/${enc(pod.metadata.namespace)}/serviceaccounts/${enc(sa)}/token`,
      {
        apiVersion: 'authentication.k8s.io/v1',
        kind: 'TokenRequest',
        spec: {
          expirationSeconds: 3600,
          boundObjectRef: { apiVersion: 'v1', kind: 'Pod', name: pod.metadata.name, uid: pod.metadata.uid },
        },
      },
    );
    return r.status.token as string;
  };

  const exitCodeOf = async (run: PodRun, c: ContainerRun): Promise<number> => {
    const pod = run.pod;
    if (opts.execute) {
      try {
        return await opts.execute(pod, c.spec, containerEnv(pod, c.spec, run), {
          token: await podToken(pod),
        });
      } catch (e) {
        fail(`execute ${pod.metadata.namespace}/${pod.metadata.name}`, e);
        return 128;
      }
    }
    const ann = pod.metadata.annotations?.['sim.k8s-auto-updater.io/exit-code'];
    if (ann !== undefined && Number.isInteger(Number(ann))) return Number(ann);
    const owner = (pod.metadata.ownerReferences ?? []).find((o: Json) => o.controller && o.kind === 'Job');
    if (owner && opts.jobOutcome) {
      const job = await api.must(
        'GET',
        `/apis/batch/v1/namespaces/${enc(pod.metadata.namespace)}/jobs/${enc(owner.name)}`,
      );
      return opts.jobOutcome(job, 1 + (job.status?.failed ?? 0) + c.restartCount) === 'succeed' ? 0 : 1;
    }
    return 0;
  };

  const finish = async (run: PodRun) => {
    const mains = run.containers.filter((c) => !c.init && c.state.running);
    const codes = await Promise.all(mains.map((c) => exitCodeOf(run, c)));
    if (run.cancelled) return;
    const at = nowIso();
    mains.forEach((c, i) => {
      const code = codes[i] ?? 0;
      const startedAt = (c.state.running as { startedAt?: string } | undefined)?.startedAt ?? at;
      c.state = {
        terminated: {
          exitCode: code,
          reason: code === 0 ? 'Completed' : 'Error',
          startedAt,
          finishedAt: at,
          containerID: c.containerID,
        },
      };
      c.ready = false;
      c.started = false;
    });
    const all = run.containers.filter((c) => !c.init);
    const failed = all.filter((c) => (c.state.terminated as { exitCode?: number } | undefined)?.exitCode);
    if (run.pod.spec?.restartPolicy === 'OnFailure' && failed.length > 0) {
      await write(run);
      for (const c of failed) {
        c.lastState = { terminated: c.state.terminated };
        c.restartCount++;
        await sleep(run, Math.min((opts.crashBackoffMs ?? 200) * 2 ** (c.restartCount - 1), BACKOFF_MAX_MS));
        if (run.cancelled) return;
        startContainer(run, c);
      }
      await write(run);
      run.timers.push(handle(after(opts.runDurationMs ?? 100, () => bg('finish', finish(run)))));
      return;
    }
    if (all.every((c) => c.state.terminated)) run.phase = failed.length > 0 ? 'Failed' : 'Succeeded';
    await write(run);
  };

  const lifecycle = async (run: PodRun) => {
    for (const c of run.containers.filter((x) => x.init)) {
      if (!(await ensureImage(run, c))) return;
      const at = nowIso();
      c.containerID = containerID(run);
      c.state = {
        terminated: {
          exitCode: 0,
          reason: 'Completed',
          startedAt: at,
          finishedAt: at,
          containerID: c.containerID,
        },
      };
    }
    run.initialized = true;
    const mains = run.containers.filter((x) => !x.init);
    for (const c of mains) c.state = { waiting: { reason: 'ContainerCreating' } };
    await write(run);
    const ok = await Promise.all(mains.map((c) => ensureImage(run, c)));
    if (run.cancelled || ok.some((x) => !x)) return;
    run.phase = 'Running';
    run.podIP ||= `10.244.${(ours.get(run.node)?.index ?? 0) * 16 + Math.floor(ipCounter / 254)}.${(ipCounter++ % 254) + 1}`;
    for (const c of mains) startContainer(run, c);
    if (!run.behaviour.neverReady && run.behaviour.readyDelayMs <= 0)
      for (const c of mains) if (!c.crash) c.ready = true;
    await write(run);
    if (run.runToCompletion)
      run.timers.push(handle(after(opts.runDurationMs ?? 100, () => bg('finish', finish(run)))));
  };

  const start = (key: string, pod: Json) => {
    const node = pod.spec.nodeName as string;
    const runtime = runtimeOf(pod, node);
    const beh = podBehaviour(pod, opts.behaviour, opts.readyDelayMs ?? 100);
    const mk = (spec: Json, init: boolean): ContainerRun => ({
      spec,
      name: spec.name,
      init,
      statusImage: spec.image ?? '',
      imageID: '',
      state: { waiting: { reason: 'PodInitializing' } },
      lastState: {},
      ready: false,
      started: false,
      restartCount: 0,
      crash: !init && beh.crash(spec.name),
      timers: [],
    });
    const inits: Json[] = pod.spec.initContainers ?? [];
    const run: PodRun = {
      uid: pod.metadata.uid,
      key,
      node,
      runtime,
      pod,
      cancelled: false,
      phase: 'Pending',
      initialized: inits.length === 0,
      containers: [
        ...inits.map((c) => mk(c, true)),
        ...(pod.spec.containers ?? []).map((c: Json) => mk(c, false)),
      ],
      conditions: [],
      startTime: nowIso(),
      podIP: '',
      hostIP: `10.0.0.${10 + (ours.get(node)?.index ?? 0)}`,
      timers: [],
      behaviour: { neverReady: beh.neverReady, readyDelayMs: beh.readyDelayMs },
      runToCompletion: (pod.spec.restartPolicy ?? 'Always') !== 'Always',
    };
    runs.set(key, run);
    for (const c of run.containers) {
      try {
        c.ref = parseImage(c.spec.image ?? '');
        c.statusImage = formatStatusImage(runtime, c.spec.image, c.ref);
      } catch (e) {
        c.state = {
          waiting: {
            reason: 'InvalidImageName',
            message: `Failed to apply default image tag "${c.spec.image}": ${(e as Error).message}`,
          },
        };
        bg('status', write(run));
        return;
      }
    }
    bg(`pod ${key}`, lifecycle(run));
  };

  const terminate = (key: string, pod: Json) => {
    const run = runs.get(key);
    if (run) cancel(run);
    runs.delete(key);
    if (terminating.get(key) === pod.metadata.uid) return;
    terminating.set(key, pod.metadata.uid);
    const grace = pod.metadata.deletionGracePeriodSeconds ?? pod.spec?.terminationGracePeriodSeconds ?? 30;
    after(Math.min(opts.terminationDelayMs ?? 100, grace * 1000), () => {
      terminating.delete(key);
      const { namespace, name, uid } = pod.metadata;
      bg(
        `delete ${key}`,
        api
          .request('DELETE', `/api/v1/namespaces/${enc(namespace)}/pods/${enc(name)}`, {
            apiVersion: 'v1',
            kind: 'DeleteOptions',
            gracePeriodSeconds: 0,
            preconditions: { uid },
          })
          .then((r) => {
            if (r.status !== 200 && r.status !== 404 && r.status !== 409)
              throw new Error(`${r.status} ${r.text}`);
          }),
      );
    });
  };

  const onPod = (type: string, pod: Json) => {
    const key = `${pod.metadata.namespace}/${pod.metadata.name}`;
    const node = pod.spec?.nodeName;
    if (type === 'DELETED') {
      const run = runs.get(key);
      if (run && run.uid === pod.metadata.uid) {
        cancel(run);
        runs.delete(key);
      }
      lastWritten.delete(pod.metadata.uid);
      return;
    }
    if (!node || !ours.has(node)) return;
    const run = runs.get(key);
    if (run && run.uid !== pod.metadata.uid) {
      cancel(run);
      runs.delete(key);
    }
    if (pod.metadata.deletionTimestamp) return terminate(key, pod);
    const current = runs.get(key);
    if (current) {
      current.pod = pod;
      return;
    }
    if (pod.status?.phase === 'Succeeded' || pod.status?.phase === 'Failed') return;
    start(key, pod);
  };

  const stopSecrets = api.listWatch('/api/v1/secrets', (e) => {
    const key = `${e.object.metadata.namespace}/${e.object.metadata.name}`;
    if (e.type === 'DELETED') secrets.delete(key);
    else secrets.set(key, e.object);
  });
  const stopPods = api.listWatch(
    '/api/v1/pods',
    (e) => onPod(e.type, e.object),
    (e) => fail('pod watch', e),
  );

  return {
    images,
    errors,
    nodeNames: () => [...ours.keys()],
    async ready(timeoutMs = 60_000) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const list = await api.must('GET', '/api/v1/nodes');
        const mine = (list.items ?? []).filter((n: Json) => ours.has(n.metadata.name));
        const ok =
          mine.length === ours.size &&
          mine.every(
            (n: Json) =>
              n.status?.conditions?.some((c: Json) => c.type === 'Ready' && c.status === 'True') &&
              !(n.spec?.taints ?? []).some((t: Json) => t.key?.startsWith('node.kubernetes.io/')),
          );
        if (ok) return;
        if (Date.now() > deadline) {
          throw new Error(
            `nodes not Ready and untainted after ${timeoutMs} ms: ${JSON.stringify(mine.map((n: Json) => [n.metadata.name, n.spec?.taints]))}`,
          );
        }
        await new Promise((r) => setTimeout(r, 200));
      }
    },
    async stop() {
      if (stopped) return;
      stopped = true;
      clearInterval(beat);
      stopPods();
      stopSecrets();
      for (const run of runs.values()) cancel(run);
      for (const t of timers) clearTimeout(t);
      timers.clear();
      images.close();
      api.close();
    },
  };
}
