// The simulated kubelet (and scheduler): binds pods to simulated Nodes, pulls their images from the real registry
// honouring imagePullPolicy with a per-node image cache, reports imageID in the node's runtime format, runs the
// pod lifecycle (init containers, Running, Ready, crash loops, run-to-completion exits) and removes terminating pods.

import { createHash } from 'node:crypto';
import type { KObject } from '../store.ts';
import { StoreError } from '../store.ts';
import { controllerUid, K, splitKey } from './cache.ts';
import type { Ctx } from './context.ts';
import { credentialsFor } from './credentials.ts';
import { ImagePuller, isLoopbackHost, PullError, type PullerOptions } from './image-pull.ts';
import {
  cacheKey,
  containerIdScheme,
  formatImageID,
  formatStatusImage,
  type ImageRef,
  needsConfigDigest,
  normalized,
  parseImage,
  RUNTIME_FORMATS,
  type RuntimeFormat,
} from './image-ref.ts';
import { ATTEMPT_ANNOTATION } from './job.ts';
import { fits, type NodeSpec, nodeObject, nodeReady, nodeStatus, RUNTIME_ANNOTATION } from './nodes.ts';
import { defaultPullPolicy } from './pod-template.ts';
import type { TimerHandle } from './runtime.ts';
import { type Condition, isoSeconds, sameStatus, setCondition } from './util.ts';

/** Pod annotations that script the simulated containers (the `behaviour` hook can do the same). */
export const SIM_ANNOTATIONS = {
  /** "true" (all containers) or a comma-separated list of container names that crash after starting. */
  crashLoop: 'sim.k8s-auto-updater.io/crash-loop',
  /** "true": containers run but never become ready. */
  neverReady: 'sim.k8s-auto-updater.io/never-ready',
  /** Milliseconds from start to Ready. */
  readyDelayMs: 'sim.k8s-auto-updater.io/ready-delay-ms',
  /** Exit code of run-to-completion containers (restartPolicy Never/OnFailure). */
  exitCode: 'sim.k8s-auto-updater.io/exit-code',
  /** The imageID format for this pod (overrides the node's). */
  runtime: RUNTIME_ANNOTATION,
} as const;

export interface PodBehaviour {
  /** true: every container crash-loops; a list: only those containers. */
  crashLoop?: boolean | string[];
  readyDelayMs?: number;
  neverReady?: boolean;
}

export interface KubeletOptions {
  /** Simulated nodes; default node-a and node-b. */
  nodes?: Array<string | NodeSpec>;
  /** Default imageID format; default containerd. */
  runtime?: RuntimeFormat;
  /** Start → Ready; default 20 ms. */
  readyDelayMs?: number;
  /** deletionTimestamp → removal, capped by the pod's grace period; default 30 ms. */
  terminationDelayMs?: number;
  /** How long run-to-completion containers run before they exit; default 20 ms. */
  runDurationMs?: number;
  /** Start → crash for crash-looping containers; default 10 ms. */
  crashAfterMs?: number;
  /** First crash-loop back-off, doubled per restart up to 2 s; default 50 ms. */
  crashBackoffMs?: number;
  /** First image-pull back-off, doubled per failure up to 5 s; default 100 ms. */
  pullBackoffMs?: number;
  /**
   * Where digests come from: 'registry' pulls every image from its registry; 'synthetic' derives digests from the
   * reference (setSyntheticImage() overrides); 'auto' (default) pulls from loopback registries and from hosts in
   * `registries`, and is synthetic for the rest (there is no Internet here).
   */
  imageSource?: 'auto' | 'registry' | 'synthetic';
  /** Per registry host: tls and CA; loopback hosts default to plain http. */
  registries?: PullerOptions['registries'];
  /** Scripted misbehaviour per pod, merged with the pod's sim annotations. */
  behaviour?: (pod: KObject) => PodBehaviour | undefined;
  /** Runs a run-to-completion container and resolves its exit code (default: from jobOutcome, else 0). */
  execute?: (pod: KObject, container: KObject, env: Record<string, string>) => Promise<number>;
  /** Outcome of a Job pod's attempt (1-based); default succeed. */
  jobOutcome?: (job: KObject, attempt: number) => 'succeed' | 'fail';
}

export interface CachedImage {
  /** Manifest (or index) digest the reference resolved to when pulled. */
  digest: string;
  configDigest?: string;
}

export interface PullRecord {
  node: string;
  image: string;
  digest?: string;
  error?: string;
}

interface ContainerRun {
  spec: KObject;
  name: string;
  init: boolean;
  ref?: ImageRef;
  statusImage: string;
  imageID: string;
  state: Record<string, unknown>;
  lastState: Record<string, unknown>;
  ready: boolean;
  started: boolean;
  restartCount: number;
  containerID?: string;
  crash: boolean;
  timers: TimerHandle[];
}

interface PodRun {
  uid: string;
  key: string;
  node: string;
  runtime: RuntimeFormat;
  pod: KObject;
  cancelled: boolean;
  phase: 'Pending' | 'Running' | 'Succeeded' | 'Failed';
  initialized: boolean;
  containers: ContainerRun[];
  conditions: Condition[];
  startTime: string;
  podIP: string;
  hostIP: string;
  timers: TimerHandle[];
  behaviour: Required<Pick<PodBehaviour, 'neverReady'>> & { readyDelayMs: number };
  runToCompletion: boolean;
}

const BACKOFF_MAX_CRASH_MS = 2_000;
const BACKOFF_MAX_PULL_MS = 5_000;

let isoCache = { second: -1, text: '' };

function nowIso(): string {
  const second = Math.floor(Date.now() / 1000);
  if (second !== isoCache.second) isoCache = { second, text: isoSeconds(second * 1000) };
  return isoCache.text;
}

/** 64 hex characters for container IDs: unique enough, and much cheaper than crypto for thousands of pods. */
function hex64(): string {
  let s = '';
  while (s.length < 64)
    s += Math.floor(Math.random() * 0x100000000)
      .toString(16)
      .padStart(8, '0');
  return s;
}

function sha256(s: string): string {
  return `sha256:${createHash('sha256').update(s).digest('hex')}`;
}

export class Kubelet {
  private readonly ctx: Ctx;
  private readonly opts: KubeletOptions;
  private readonly enqueuePod: (key: string) => void;
  private readonly enqueueNode: (key: string) => void;
  private readonly runs = new Map<string, PodRun>();
  private readonly terminating = new Map<string, { uid: string; timer: TimerHandle }>();
  private readonly images = new Map<string, Map<string, CachedImage>>();
  private readonly inflight = new Map<string, Promise<CachedImage>>();
  private readonly synthetic = new Map<string, string>();
  private readonly nodeRuntimes = new Map<string, RuntimeFormat>();
  private readonly nodeIndex = new Map<string, number>();
  private readonly ipCounters = new Map<string, number>();
  private readonly unschedulableNoted = new Set<string>();
  private rr = 0;
  /** The registry client (its counts show how many requests the kubelet made). */
  readonly puller: ImagePuller;
  /** Every pull the kubelet made, oldest first. */
  readonly pulls: PullRecord[] = [];

  constructor(ctx: Ctx, opts: KubeletOptions = {}) {
    this.ctx = ctx;
    this.opts = opts;
    this.puller = new ImagePuller({ registries: opts.registries });
    this.enqueuePod = ctx.rt.queue('kubelet', (k) => this.reconcilePod(k));
    this.enqueueNode = ctx.rt.queue('node', (k) => this.reconcileNode(k));
  }

  /** Creates the configured Node objects (existing ones are kept) and starts serving every Node in the store. */
  start(): void {
    const specs = (this.opts.nodes ?? ['node-a', 'node-b']).map((n) =>
      typeof n === 'string' ? { name: n } : n,
    );
    specs.forEach((s, i) => {
      if (s.runtime) this.nodeRuntimes.set(s.name, s.runtime);
      this.nodeIndex.set(s.name, i);
      if (!this.ctx.cache.get(K.nodes, undefined, s.name)) {
        this.ctx.store.create(K.nodes, nodeObject(s, i, this.opts.runtime ?? 'containerd'));
      }
    });
    for (const n of this.ctx.cache.list(K.nodes)) this.enqueueNode(`/${n.metadata.name}`);
    for (const p of this.ctx.cache.list(K.pods))
      this.enqueuePod(`${p.metadata.namespace}/${p.metadata.name}`);
  }

  /** Names of the nodes pods can be scheduled to right now. */
  nodeNames(): string[] {
    return this.ctx.cache
      .list(K.nodes)
      .map((n) => n.metadata.name!)
      .sort();
  }

  /** A pod changed: bind, start, follow or terminate it on the next pass. */
  podChanged(pod: KObject): void {
    this.enqueuePod(`${pod.metadata.namespace}/${pod.metadata.name}`);
  }

  /** A node changed: refresh its status and give waiting pods another chance to be scheduled or started. */
  nodeChanged(node: KObject): void {
    this.enqueueNode(`/${node.metadata.name}`);
    // Pods waiting for a node (or bound to one that just appeared) get another look.
    for (const p of this.ctx.cache.list(K.pods)) {
      if (
        !p.spec?.nodeName ||
        (!this.runs.has(`${p.metadata.namespace}/${p.metadata.name}`) && !p.status?.containerStatuses)
      ) {
        this.enqueuePod(`${p.metadata.namespace}/${p.metadata.name}`);
      }
    }
  }

  // ---- image cache -------------------------------------------------------------------------------------------

  private nodeImages(node: string): Map<string, CachedImage> {
    let m = this.images.get(node);
    if (!m) {
      m = new Map();
      this.images.set(node, m);
    }
    return m;
  }

  /** Puts an image into a node's cache, as if pulled earlier (what IfNotPresent and Never then use). */
  cacheImage(node: string, image: string, digest: string, configDigest?: string): void {
    this.nodeImages(node).set(
      cacheKey(parseImage(image)),
      configDigest ? { digest, configDigest } : { digest },
    );
  }

  /** What a node has cached for an image reference, if anything. */
  cachedImage(node: string, image: string): CachedImage | undefined {
    const c = this.nodeImages(node).get(cacheKey(parseImage(image)));
    return c && { ...c };
  }

  /** Removes an image from a node's cache (or from every node when node is undefined). */
  forgetImage(node: string | undefined, image: string): void {
    const k = cacheKey(parseImage(image));
    for (const [n, m] of this.images) if (node === undefined || n === node) m.delete(k);
  }

  /** Sets the digest a synthetic image resolves to ("the tag moved" without a registry). */
  setSyntheticImage(image: string, digest: string): void {
    this.synthetic.set(cacheKey(parseImage(image)), digest);
  }

  private isSynthetic(ref: ImageRef): boolean {
    const src = this.opts.imageSource ?? 'auto';
    if (src === 'synthetic') return true;
    if (src === 'registry') return false;
    return !(isLoopbackHost(ref.registry) || this.opts.registries?.[ref.registry]);
  }

  private syntheticImage(ref: ImageRef): CachedImage {
    const key = cacheKey(ref);
    const digest = ref.digest ?? this.synthetic.get(key) ?? sha256(`sim-image|${key}`);
    return { digest, configDigest: sha256(`sim-config|${digest}`) };
  }

  /**
   * The image a container start uses, without the network when policy and cache allow (or the image is
   * synthetic); undefined when a registry pull is needed. Throws PullError for Never without a cached image.
   */
  private resolveLocal(run: PodRun, c: ContainerRun): CachedImage | undefined {
    const ref = c.ref!;
    const policy: string = c.spec.imagePullPolicy ?? defaultPullPolicy(c.spec.image ?? '');
    const cached = this.nodeImages(run.node).get(cacheKey(ref));
    const wantConfig = needsConfigDigest(run.runtime);
    if (policy === 'Never') {
      if (!cached) {
        throw new PullError(`Container image "${c.spec.image}" is not present with pull policy of Never`, -1);
      }
      return cached.configDigest || !wantConfig
        ? cached
        : { ...cached, configDigest: sha256(`sim-config|${cached.digest}`) };
    }
    if (policy !== 'Always' && cached && (cached.configDigest || !wantConfig)) return cached;
    if (this.isSynthetic(ref)) {
      const img = this.syntheticImage(ref);
      this.nodeImages(run.node).set(cacheKey(ref), img);
      this.pulls.push({ node: run.node, image: normalized(ref), digest: img.digest });
      return img;
    }
    return undefined;
  }

  /** Whether resolveLocal would answer without the network (no side effects). */
  private startsLocally(run: PodRun, c: ContainerRun): boolean {
    const ref = c.ref!;
    const policy: string = c.spec.imagePullPolicy ?? defaultPullPolicy(c.spec.image ?? '');
    const cached = this.nodeImages(run.node).get(cacheKey(ref));
    if (policy === 'Never') return !!cached;
    if (policy !== 'Always' && cached && (cached.configDigest || !needsConfigDigest(run.runtime)))
      return true;
    return this.isSynthetic(ref);
  }

  /** Pulls from the registry (one request at a time per node, reference and credentials). */
  private pullRemote(run: PodRun, c: ContainerRun): Promise<CachedImage> {
    const ref = c.ref!;
    const wantConfig = needsConfigDigest(run.runtime);
    const secrets = (run.pod.spec?.imagePullSecrets ?? []).map((s: KObject) => s?.name).join(',');
    const id = `${run.node}|${cacheKey(ref)}|${wantConfig}|${run.pod.metadata.namespace}|${secrets}`;
    const pending = this.inflight.get(id);
    if (pending) return pending;
    const creds = credentialsFor(run.pod, ref, (ns, name) => this.ctx.cache.get(K.secrets, ns, name));
    const p = this.puller
      .resolve(ref, creds, wantConfig)
      .then(
        (r) => {
          const img: CachedImage = r.configDigest
            ? { digest: r.digest, configDigest: r.configDigest }
            : { digest: r.digest };
          this.nodeImages(run.node).set(cacheKey(ref), img);
          this.pulls.push({ node: run.node, image: normalized(ref), digest: r.digest });
          return img;
        },
        (e: unknown) => {
          this.pulls.push({
            node: run.node,
            image: normalized(ref),
            error: e instanceof Error ? e.message : String(e),
          });
          throw e;
        },
      )
      .finally(() => this.inflight.delete(id));
    this.inflight.set(id, p);
    return this.ctx.rt.track(p);
  }

  // ---- scheduling --------------------------------------------------------------------------------------------

  private schedule(pod: KObject): void {
    const { store, cache } = this.ctx;
    const nodes = cache.list(K.nodes).sort((a, b) => a.metadata.name!.localeCompare(b.metadata.name!));
    const fitting = nodes.filter((n) => fits(pod, n));
    if (fitting.length === 0) {
      if (this.unschedulableNoted.has(pod.metadata.uid!)) return;
      this.unschedulableNoted.add(pod.metadata.uid!);
      const now = nowIso();
      this.writePodStatus(pod, {
        phase: 'Pending',
        conditions: [
          {
            type: 'PodScheduled',
            status: 'False',
            reason: 'Unschedulable',
            message: `0/${nodes.length} nodes are available: ${nodes.length} node(s) didn't match Pod's node affinity/selector or were unschedulable.`,
            lastProbeTime: null,
            lastTransitionTime: now,
          },
        ],
        qosClass: qosClass(pod),
      });
      return;
    }
    this.unschedulableNoted.delete(pod.metadata.uid!);
    const node = fitting[this.rr++ % fitting.length]!;
    store.mutate(K.pods, pod.metadata.namespace, pod.metadata.name!, (o) => {
      if (o.metadata.uid !== pod.metadata.uid || o.spec.nodeName) return false;
      o.spec.nodeName = node.metadata.name;
      return undefined;
    });
  }

  // ---- pod lifecycle -----------------------------------------------------------------------------------------

  private reconcilePod(key: string): void {
    const [ns, name] = splitKey(key);
    const pod = this.ctx.cache.get(K.pods, ns, name);
    const run = this.runs.get(key);
    if (!pod) {
      if (run) this.cancel(run);
      this.runs.delete(key);
      const t = this.terminating.get(key);
      t?.timer.cancel();
      this.terminating.delete(key);
      return;
    }
    if (run && run.uid !== pod.metadata.uid) {
      this.cancel(run);
      this.runs.delete(key);
    }
    if (pod.metadata.deletionTimestamp) {
      this.terminate(key, pod);
      return;
    }
    if (!pod.spec?.nodeName) {
      this.schedule(pod);
      return;
    }
    const current = this.runs.get(key);
    if (current) {
      this.syncSpec(current, pod);
      return;
    }
    if (pod.status?.phase === 'Succeeded' || pod.status?.phase === 'Failed') return;
    const node = this.ctx.cache.get(K.nodes, undefined, pod.spec.nodeName);
    if (!node || !nodeReady(node)) return;
    if (pod.status?.containerStatuses?.length && pod.status?.startTime) return; // started elsewhere (runningPod)
    this.startPod(key, pod);
  }

  private terminate(key: string, pod: KObject): void {
    const run = this.runs.get(key);
    if (run) {
      this.cancel(run);
      this.runs.delete(key);
    }
    const t = this.terminating.get(key);
    if (t && t.uid === pod.metadata.uid) return;
    const grace = pod.metadata.deletionGracePeriodSeconds ?? pod.spec?.terminationGracePeriodSeconds ?? 30;
    const delay = Math.min(this.opts.terminationDelayMs ?? 30, grace * 1000);
    const uid = pod.metadata.uid;
    const timer = this.ctx.rt.after(delay, () => {
      this.terminating.delete(key);
      const [ns, name] = splitKey(key);
      const cur = this.ctx.cache.get(K.pods, ns, name);
      if (cur && cur.metadata.uid === uid) this.ctx.store.remove(K.pods, cur);
    });
    this.terminating.set(key, { uid: uid!, timer });
  }

  private cancel(run: PodRun): void {
    run.cancelled = true;
    for (const t of run.timers) t.cancel();
    for (const c of run.containers) for (const t of c.timers) t.cancel();
  }

  private runtimeFor(pod: KObject, nodeName: string): RuntimeFormat {
    const fromPod = pod.metadata.annotations?.[RUNTIME_ANNOTATION];
    if (fromPod && (RUNTIME_FORMATS as readonly string[]).includes(fromPod)) return fromPod as RuntimeFormat;
    const node = this.ctx.cache.get(K.nodes, undefined, nodeName);
    const fromNode = this.nodeRuntimes.get(nodeName) ?? node?.metadata.annotations?.[RUNTIME_ANNOTATION];
    if (fromNode && (RUNTIME_FORMATS as readonly string[]).includes(fromNode))
      return fromNode as RuntimeFormat;
    return this.opts.runtime ?? 'containerd';
  }

  private behaviourFor(pod: KObject): {
    crash: (name: string) => boolean;
    neverReady: boolean;
    readyDelayMs: number;
  } {
    const b = this.opts.behaviour?.(pod) ?? {};
    const ann: Record<string, string> = pod.metadata.annotations ?? {};
    const crashAnn = ann[SIM_ANNOTATIONS.crashLoop];
    const crashList = Array.isArray(b.crashLoop)
      ? b.crashLoop
      : crashAnn && crashAnn !== 'true' && crashAnn !== 'false'
        ? crashAnn.split(',').map((s) => s.trim())
        : undefined;
    const crashAll = b.crashLoop === true || crashAnn === 'true';
    const delayAnn = Number(ann[SIM_ANNOTATIONS.readyDelayMs]);
    return {
      crash: (name) => crashAll || (crashList?.includes(name) ?? false),
      neverReady: !!b.neverReady || ann[SIM_ANNOTATIONS.neverReady] === 'true',
      readyDelayMs:
        b.readyDelayMs ??
        (Number.isFinite(delayAnn) && ann[SIM_ANNOTATIONS.readyDelayMs]
          ? delayAnn
          : (this.opts.readyDelayMs ?? 20)),
    };
  }

  private podIP(node: string): string {
    const n = this.ipCounters.get(node) ?? 0;
    this.ipCounters.set(node, n + 1);
    const idx =
      this.nodeIndex.get(node) ??
      (this.nodeIndex.size + [...node].reduce((a, ch) => a + ch.charCodeAt(0), 0)) % 200;
    return `10.${244 + Math.floor(n / 65_000)}.${(idx * 16 + Math.floor(n / 254)) % 256}.${(n % 254) + 1}`;
  }

  private startPod(key: string, pod: KObject): void {
    const node = pod.spec.nodeName as string;
    const runtime = this.runtimeFor(pod, node);
    const beh = this.behaviourFor(pod);
    const nodeObj = this.ctx.cache.get(K.nodes, undefined, node);
    const mk = (spec: KObject, init: boolean): ContainerRun => ({
      spec,
      name: spec.name,
      init,
      statusImage: spec.image ?? '',
      imageID: '',
      state: { waiting: { reason: init ? 'PodInitializing' : 'ContainerCreating' } },
      lastState: {},
      ready: false,
      started: false,
      restartCount: 0,
      crash: !init && beh.crash(spec.name),
      timers: [],
    });
    const inits: KObject[] = pod.spec.initContainers ?? [];
    const run: PodRun = {
      uid: pod.metadata.uid!,
      key,
      node,
      runtime,
      pod,
      cancelled: false,
      phase: 'Pending',
      initialized: inits.length === 0,
      containers: [
        ...inits.map((c) => mk(c, true)),
        ...(pod.spec.containers ?? []).map((c: KObject) => mk(c, false)),
      ],
      conditions: [],
      startTime: nowIso(),
      podIP: '',
      hostIP: nodeObj?.status?.addresses?.find((a: KObject) => a.type === 'InternalIP')?.address ?? '',
      timers: [],
      behaviour: { neverReady: beh.neverReady, readyDelayMs: beh.readyDelayMs },
      runToCompletion: (pod.spec.restartPolicy ?? 'Always') !== 'Always',
    };
    if (inits.length && run.containers[inits.length]) {
      for (const c of run.containers.filter((x) => !x.init))
        c.state = { waiting: { reason: 'PodInitializing' } };
    }
    this.runs.set(key, run);
    // Invalid references fail at once, as the kubelet's InvalidImageName.
    let invalid = false;
    for (const c of run.containers) {
      try {
        c.ref = parseImage(c.spec.image ?? '');
        c.statusImage = formatStatusImage(runtime, c.spec.image, c.ref);
      } catch (e) {
        invalid = true;
        c.state = {
          waiting: {
            reason: 'InvalidImageName',
            message: `Failed to apply default image tag "${c.spec.image}": ${(e as Error).message}`,
          },
        };
      }
    }
    if (invalid) {
      this.write(run);
      return;
    }
    // Only a start that waits for the network shows the Pending/ContainerCreating state first.
    if (!run.containers.every((c) => this.startsLocally(run, c))) this.write(run);
    void this.lifecycle(run);
  }

  /** Gets the image for a container start: local when possible, else pulled with back-off until it works. */
  private async ensureImage(run: PodRun, c: ContainerRun): Promise<boolean> {
    let backoff = this.opts.pullBackoffMs ?? 100;
    for (;;) {
      if (run.cancelled) return false;
      let img: CachedImage | undefined;
      let err: unknown;
      try {
        img = this.resolveLocal(run, c) ?? (await this.pullRemote(run, c));
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
      c.imageID = '';
      c.state = {
        waiting: {
          reason: never ? 'ErrImageNeverPull' : 'ErrImagePull',
          message: never
            ? msg
            : `failed to pull and unpack image "${c.ref ? normalized(c.ref) : c.spec.image}": ${msg}`,
        },
      };
      c.ready = false;
      c.started = false;
      this.write(run);
      await this.sleep(run, backoff / 2);
      if (run.cancelled) return false;
      if (!never) {
        c.state = {
          waiting: { reason: 'ImagePullBackOff', message: `Back-off pulling image "${c.spec.image}"` },
        };
        this.write(run);
      }
      await this.sleep(run, backoff / 2);
      backoff = Math.min(backoff * 2, BACKOFF_MAX_PULL_MS);
    }
  }

  /** A background pause that ends early (resolving) when the pod run is cancelled. */
  private sleep(run: PodRun, ms: number): Promise<void> {
    return new Promise<void>((resolve) => {
      const t = this.ctx.rt.after(ms, resolve, { background: true });
      run.timers.push({
        cancel: () => {
          t.cancel();
          resolve();
        },
      });
    });
  }

  private containerID(run: PodRun): string {
    return `${containerIdScheme(run.runtime)}://${hex64()}`;
  }

  private async lifecycle(run: PodRun): Promise<void> {
    for (const c of run.containers.filter((x) => x.init)) {
      if (!(await this.ensureImage(run, c))) return;
      const at = nowIso();
      c.containerID = this.containerID(run);
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
    for (const c of mains) if (c.state.waiting) c.state = { waiting: { reason: 'ContainerCreating' } };
    const ok = await Promise.all(mains.map((c) => this.ensureImage(run, c)));
    if (run.cancelled || ok.some((x) => !x)) return;
    const at = nowIso();
    for (const c of mains) this.runContainer(run, c, at);
    run.phase = 'Running';
    run.podIP ||= this.podIP(run.node);
    const delay = run.behaviour.readyDelayMs;
    if (!run.behaviour.neverReady && delay <= 0) for (const c of mains) if (!c.crash) c.ready = true;
    this.write(run);
    if (!run.behaviour.neverReady && delay > 0) {
      run.timers.push(
        this.ctx.rt.after(delay, () => {
          if (run.cancelled) return;
          for (const c of mains) if (c.state.running && !c.crash) c.ready = true;
          this.write(run);
        }),
      );
    }
    if (run.runToCompletion) {
      run.timers.push(this.ctx.rt.after(this.opts.runDurationMs ?? 20, () => void this.finish(run)));
    }
  }

  /** Marks a container running and arms its crash timer when it is scripted to crash. */
  private runContainer(run: PodRun, c: ContainerRun, at: string): void {
    c.containerID = this.containerID(run);
    c.state = { running: { startedAt: at } };
    c.started = true;
    if (c.crash) {
      c.timers.push(
        this.ctx.rt.after(this.opts.crashAfterMs ?? 10, () => this.crash(run, c), { background: true }),
      );
    }
  }

  private crash(run: PodRun, c: ContainerRun): void {
    if (run.cancelled) return;
    const at = nowIso();
    const startedAt = (c.state.running as { startedAt?: string } | undefined)?.startedAt ?? at;
    c.lastState = {
      terminated: { exitCode: 1, reason: 'Error', startedAt, finishedAt: at, containerID: c.containerID },
    };
    c.restartCount++;
    const backoff = Math.min(
      (this.opts.crashBackoffMs ?? 50) * 2 ** (c.restartCount - 1),
      BACKOFF_MAX_CRASH_MS,
    );
    c.state = {
      waiting: {
        reason: 'CrashLoopBackOff',
        message: `back-off ${Math.ceil(backoff / 1000)}s restarting failed container=${c.name} pod=${run.pod.metadata.name}_${run.pod.metadata.namespace}(${run.uid})`,
      },
    };
    c.ready = false;
    c.started = false;
    this.write(run);
    c.timers.push(this.ctx.rt.after(backoff, () => void this.restart(run, c), { background: true }));
  }

  private async restart(run: PodRun, c: ContainerRun): Promise<void> {
    if (run.cancelled) return;
    // Every container start goes through the pull policy: Always resolves the tag again.
    if (!(await this.ensureImage(run, c))) return;
    if (run.cancelled) return;
    this.runContainer(run, c, nowIso());
    if (run.runToCompletion) {
      run.timers.push(this.ctx.rt.after(this.opts.runDurationMs ?? 20, () => void this.finish(run)));
    } else if (!c.crash && !run.behaviour.neverReady) {
      c.timers.push(
        this.ctx.rt.after(run.behaviour.readyDelayMs, () => {
          if (run.cancelled || !c.state.running) return;
          c.ready = true;
          this.write(run);
        }),
      );
    }
    this.write(run);
  }

  /**
   * Follows spec changes of a running pod: a container whose image was changed (kubectl set image on a bare pod)
   * is killed and started again on the new image, as the kubelet does.
   */
  private syncSpec(run: PodRun, pod: KObject): void {
    run.pod = pod;
    if (run.phase !== 'Running') return;
    for (const c of run.containers) {
      if (c.init) continue;
      const spec = (pod.spec?.containers ?? []).find((x: KObject) => x.name === c.name);
      if (!spec || spec.image === c.spec.image) continue;
      let ref: ImageRef;
      try {
        ref = parseImage(spec.image ?? '');
      } catch {
        continue;
      }
      for (const t of c.timers) t.cancel();
      c.timers = [];
      const at = nowIso();
      const startedAt = (c.state.running as { startedAt?: string } | undefined)?.startedAt ?? at;
      c.lastState = {
        terminated: {
          exitCode: 0,
          reason: 'Completed',
          startedAt,
          finishedAt: at,
          containerID: c.containerID,
        },
      };
      c.spec = spec;
      c.ref = ref;
      c.statusImage = formatStatusImage(run.runtime, spec.image, ref);
      c.restartCount++;
      c.ready = false;
      c.started = false;
      c.state = { waiting: { reason: 'ContainerCreating' } };
      this.write(run);
      void this.restart(run, c);
    }
  }

  private envOf(pod: KObject, c: KObject, run: PodRun): Record<string, string> {
    const env: Record<string, string> = {};
    for (const e of c.env ?? []) {
      if (typeof e.value === 'string') env[e.name] = e.value;
      const f = e.valueFrom?.fieldRef?.fieldPath;
      if (f) {
        const v: Record<string, string | undefined> = {
          'metadata.name': pod.metadata.name,
          'metadata.namespace': pod.metadata.namespace,
          'metadata.uid': pod.metadata.uid,
          'spec.nodeName': run.node,
          'status.podIP': run.podIP,
          'status.hostIP': run.hostIP,
        };
        if (v[f] !== undefined) env[e.name] = v[f]!;
      }
    }
    return env;
  }

  private defaultExit(pod: KObject, restarts: number): number {
    const ann = pod.metadata.annotations?.[SIM_ANNOTATIONS.exitCode];
    if (ann !== undefined && Number.isInteger(Number(ann))) return Number(ann);
    const ownerUid = controllerUid(pod);
    const owner = ownerUid ? this.ctx.cache.byUID(ownerUid) : undefined;
    if (owner?.key === K.jobs && this.opts.jobOutcome) {
      const attempt = Number(pod.metadata.annotations?.[ATTEMPT_ANNOTATION] ?? 1) + restarts;
      return this.opts.jobOutcome(owner.obj, attempt) === 'succeed' ? 0 : 1;
    }
    return 0;
  }

  /** Run-to-completion containers exit; the pod succeeds, fails, or (OnFailure) restarts the failed ones. */
  private async finish(run: PodRun): Promise<void> {
    if (run.cancelled) return;
    const pod = this.ctx.cache.get(K.pods, run.pod.metadata.namespace, run.pod.metadata.name!) ?? run.pod;
    const mains = run.containers.filter((c) => !c.init && c.state.running);
    const codes = await Promise.all(
      mains.map((c) => {
        const hook = this.opts.execute;
        if (!hook) return Promise.resolve(this.defaultExit(pod, c.restartCount));
        return this.ctx.rt.track(
          Promise.resolve()
            .then(() => hook(pod, c.spec, this.envOf(pod, c.spec, run)))
            .catch(() => 128),
        );
      }),
    );
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
    const allMain = run.containers.filter((c) => !c.init);
    const failed = allMain.filter((c) => (c.state.terminated as { exitCode?: number } | undefined)?.exitCode);
    const allDone = allMain.every((c) => c.state.terminated);
    if (pod.spec?.restartPolicy === 'OnFailure' && failed.length > 0) {
      for (const c of failed) {
        c.lastState = { terminated: c.state.terminated };
        c.restartCount++;
        const backoff = Math.min(
          (this.opts.crashBackoffMs ?? 50) * 2 ** (c.restartCount - 1),
          BACKOFF_MAX_CRASH_MS,
        );
        c.state = {
          waiting: { reason: 'CrashLoopBackOff', message: `back-off restarting failed container=${c.name}` },
        };
        c.timers.push(this.ctx.rt.after(backoff, () => void this.restart(run, c), { background: true }));
      }
    } else if (allDone) {
      run.phase = failed.length > 0 ? 'Failed' : 'Succeeded';
    }
    this.write(run);
  }

  // ---- status ------------------------------------------------------------------------------------------------

  private statusOf(c: ContainerRun): KObject {
    const s: KObject = {
      name: c.name,
      image: c.statusImage,
      imageID: c.imageID,
      ready: c.ready,
      restartCount: c.restartCount,
      started: c.started,
      state: c.state,
      lastState: c.lastState,
    } as unknown as KObject;
    if (c.containerID) (s as Record<string, unknown>).containerID = c.containerID;
    return s;
  }

  private write(run: PodRun): void {
    if (run.cancelled) return;
    const now = nowIso();
    const mains = run.containers.filter((c) => !c.init);
    const inits = run.containers.filter((c) => c.init);
    const finished = run.phase === 'Succeeded' || run.phase === 'Failed';
    const allReady = run.phase === 'Running' && mains.length > 0 && mains.every((c) => c.ready);
    const notReady = mains.filter((c) => !c.ready).map((c) => c.name);
    let conds = run.conditions;
    const set = (c: Condition) => {
      conds = setCondition(conds, { lastProbeTime: null, ...c }, now);
    };
    set(
      run.initialized
        ? { type: 'Initialized', status: 'True' }
        : {
            type: 'Initialized',
            status: 'False',
            reason: 'ContainersNotInitialized',
            message: `containers with incomplete status: [${inits
              .filter((c) => !c.state.terminated)
              .map((c) => c.name)
              .join(' ')}]`,
          },
    );
    const readyCond = (type: string): Condition =>
      allReady
        ? { type, status: 'True' }
        : finished
          ? { type, status: 'False', reason: 'PodCompleted' }
          : {
              type,
              status: 'False',
              reason: 'ContainersNotReady',
              message: `containers with unready status: [${notReady.join(' ')}]`,
            };
    set(readyCond('Ready'));
    set(readyCond('ContainersReady'));
    set({ type: 'PodScheduled', status: 'True' });
    // Conditions in the order the real kubelet lists them.
    const order = ['PodReadyToStartContainers', 'Initialized', 'Ready', 'ContainersReady', 'PodScheduled'];
    conds = [...conds].sort((a, b) => order.indexOf(a.type) - order.indexOf(b.type));
    for (const c of conds) if (c.status === 'True') delete c.reason;
    run.conditions = conds;
    const status: KObject = {
      phase: run.phase,
      conditions: conds,
      hostIP: run.hostIP,
      hostIPs: run.hostIP ? [{ ip: run.hostIP }] : [],
      startTime: run.startTime,
      containerStatuses: mains.map((c) => this.statusOf(c)),
      qosClass: qosClass(run.pod),
    } as unknown as KObject;
    if (run.podIP) {
      (status as Record<string, unknown>).podIP = run.podIP;
      (status as Record<string, unknown>).podIPs = [{ ip: run.podIP }];
    }
    if (inits.length)
      (status as Record<string, unknown>).initContainerStatuses = inits.map((c) => this.statusOf(c));
    this.writePodStatus(run.pod, status as unknown as Record<string, unknown>);
  }

  private writePodStatus(pod: KObject, status: Record<string, unknown>): void {
    const cur = this.ctx.cache.get(K.pods, pod.metadata.namespace, pod.metadata.name!);
    if (!cur || cur.metadata.uid !== pod.metadata.uid) return;
    if (sameStatus(cur.status, status)) return;
    try {
      this.ctx.store.update(
        K.pods,
        { metadata: { name: pod.metadata.name, namespace: pod.metadata.namespace }, status },
        { subresource: 'status' },
      );
    } catch (e) {
      if (!(e instanceof StoreError && e.code === 404)) throw e;
    }
  }

  // ---- nodes -------------------------------------------------------------------------------------------------

  private reconcileNode(key: string): void {
    const [, name] = splitKey(key);
    const node = this.ctx.cache.get(K.nodes, undefined, name);
    if (!node) {
      // Pods bound to a node that is gone are deleted (the pod garbage collector's job).
      for (const p of this.ctx.cache.list(K.pods)) {
        if (p.spec?.nodeName === name && !p.metadata.deletionTimestamp) {
          this.ctx.store.delete(K.pods, p.metadata.namespace, p.metadata.name!, { gracePeriodSeconds: 0 });
        }
      }
      return;
    }
    // Nodes created by hand (tests, kubectl) get a healthy status like ours.
    if (!node.status?.conditions?.length) {
      const idx = this.nodeIndex.get(name) ?? this.nodeIndex.size;
      this.nodeIndex.set(name, idx);
      this.ctx.store.update(
        K.nodes,
        {
          metadata: { name },
          status: nodeStatus(name, idx, this.runtimeFor({ metadata: {} }, name), nowIso()),
        },
        { subresource: 'status' },
      );
    }
  }

  /** Cancels every timer and closes registry connections. */
  stop(): void {
    for (const run of this.runs.values()) this.cancel(run);
    this.runs.clear();
    for (const t of this.terminating.values()) t.timer.cancel();
    this.terminating.clear();
    this.puller.close();
  }
}

/** The pod's QoS class from its containers' requests and limits. */
export function qosClass(pod: KObject): 'Guaranteed' | 'Burstable' | 'BestEffort' {
  const cs: KObject[] = [...(pod.spec?.initContainers ?? []), ...(pod.spec?.containers ?? [])];
  let any = false;
  let guaranteed = cs.length > 0;
  for (const c of cs) {
    const req = c.resources?.requests ?? {};
    const lim = c.resources?.limits ?? {};
    if (Object.keys(req).length || Object.keys(lim).length) any = true;
    for (const r of ['cpu', 'memory']) {
      const l = lim[r];
      const q = req[r] ?? l;
      if (l === undefined || q !== l) guaranteed = false;
    }
  }
  if (!any) return 'BestEffort';
  return guaranteed ? 'Guaranteed' : 'Burstable';
}
