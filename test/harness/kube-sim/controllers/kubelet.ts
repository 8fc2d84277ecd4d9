// The simulated kubelet (and scheduler): binds pods to simulated Nodes, pulls their images from the real registry
// honouring imagePullPolicy with a per-node image cache, reports imageID in the node's runtime format, runs the
// pod lifecycle (init containers, Running, Ready, crash loops, run-to-completion exits) and removes terminating pods.

import type { KObject } from '../store.ts';
import { StoreError } from '../store.ts';
import { containerEnv, type PodBehaviour, podBehaviour, SIM_ANNOTATIONS } from './behaviour.ts';
import { controllerUid, K, splitKey } from './cache.ts';
import type { Ctx } from './context.ts';
import { type CachedImage, ImageCache, type PullRecord, type PullTarget } from './image-cache.ts';
import { PullError, type PullerOptions } from './image-pull.ts';
import {
  containerIdScheme,
  formatImageID,
  formatStatusImage,
  type ImageRef,
  normalized,
  parseImage,
  RUNTIME_FORMATS,
  type RuntimeFormat,
} from './image-ref.ts';
import { ATTEMPT_ANNOTATION } from './job.ts';
import { fits, type NodeSpec, nodeObject, nodeReady, nodeStatus, RUNTIME_ANNOTATION } from './nodes.ts';
import { type ContainerRun, hex64, nowIso, type PodRun, podStatus, qosClass } from './pod-run.ts';
import type { TimerHandle } from './runtime.ts';
import { sameStatus } from './util.ts';

export type { CachedImage, PodBehaviour, PullRecord };
export { SIM_ANNOTATIONS };

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

const BACKOFF_MAX_CRASH_MS = 2_000;

function target(run: PodRun, c: ContainerRun): PullTarget {
  return { node: run.node, runtime: run.runtime, pod: run.pod, container: c.spec, ref: c.ref! };
}
const BACKOFF_MAX_PULL_MS = 5_000;

export class Kubelet {
  private readonly ctx: Ctx;
  private readonly opts: KubeletOptions;
  private readonly enqueuePod: (key: string) => void;
  private readonly enqueueNode: (key: string) => void;
  private readonly runs = new Map<string, PodRun>();
  private readonly terminating = new Map<string, { uid: string; timer: TimerHandle }>();
  private readonly nodeRuntimes = new Map<string, RuntimeFormat>();
  private readonly nodeIndex = new Map<string, number>();
  private readonly ipCounters = new Map<string, number>();
  private readonly unschedulableNoted = new Set<string>();
  private rr = 0;
  /** The nodes' image stores and the registry client. */
  readonly images: ImageCache;

  constructor(ctx: Ctx, opts: KubeletOptions = {}) {
    this.ctx = ctx;
    this.opts = opts;
    this.images = new ImageCache(
      { imageSource: opts.imageSource, registries: opts.registries },
      { track: (p) => ctx.rt.track(p), secret: (ns, name) => ctx.cache.get(K.secrets, ns, name) },
    );
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

  /** Puts an image into a node's cache, as if pulled earlier (what IfNotPresent and Never then use). */
  cacheImage(node: string, image: string, digest: string, configDigest?: string): void {
    this.images.cacheImage(node, image, digest, configDigest);
  }

  /** What a node has cached for an image reference, if anything. */
  cachedImage(node: string, image: string): CachedImage | undefined {
    return this.images.cachedImage(node, image);
  }

  /** Removes an image from a node's cache (or from every node when node is undefined). */
  forgetImage(node: string | undefined, image: string): void {
    this.images.forgetImage(node, image);
  }

  /** Sets the digest a synthetic image resolves to ("the tag moved" without a registry). */
  setSyntheticImage(image: string, digest: string): void {
    this.images.setSyntheticImage(image, digest);
  }

  /** Every pull so far, oldest first. */
  get pulls(): PullRecord[] {
    return this.images.pulls;
  }

  /** The registry client (its counts show how many requests the kubelet made). */
  get puller(): ImageCache['puller'] {
    return this.images.puller;
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
    const beh = podBehaviour(pod, this.opts.behaviour, this.opts.readyDelayMs ?? 20);
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
    if (!run.containers.every((c) => this.images.startsLocally(target(run, c)))) this.write(run);
    this.background(this.lifecycle(run));
  }

  /** Gets the image for a container start: local when possible, else pulled with back-off until it works. */
  private async ensureImage(run: PodRun, c: ContainerRun): Promise<boolean> {
    let backoff = this.opts.pullBackoffMs ?? 100;
    for (;;) {
      if (run.cancelled) return false;
      let img: CachedImage | undefined;
      let err: unknown;
      try {
        const x = target(run, c);
        img = this.images.resolveLocal(x) ?? (await this.images.pullRemote(x));
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

  /** Runs a pod's async step; a failure is reported like a reconcile error instead of going unhandled. */
  private background(p: Promise<void>): void {
    p.catch((e: unknown) => this.ctx.rt.report(e));
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
      run.timers.push(
        this.ctx.rt.after(this.opts.runDurationMs ?? 20, () => this.background(this.finish(run))),
      );
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
    c.timers.push(
      this.ctx.rt.after(backoff, () => this.background(this.restart(run, c)), { background: true }),
    );
  }

  private async restart(run: PodRun, c: ContainerRun): Promise<void> {
    if (run.cancelled) return;
    // Every container start goes through the pull policy: Always resolves the tag again.
    if (!(await this.ensureImage(run, c))) return;
    if (run.cancelled) return;
    this.runContainer(run, c, nowIso());
    if (run.runToCompletion) {
      run.timers.push(
        this.ctx.rt.after(this.opts.runDurationMs ?? 20, () => this.background(this.finish(run))),
      );
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
      this.background(this.restart(run, c));
    }
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
            .then(() => hook(pod, c.spec, containerEnv(pod, c.spec, run)))
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
        c.timers.push(
          this.ctx.rt.after(backoff, () => this.background(this.restart(run, c)), { background: true }),
        );
      }
    } else if (allDone) {
      run.phase = failed.length > 0 ? 'Failed' : 'Succeeded';
    }
    this.write(run);
  }

  // ---- status ------------------------------------------------------------------------------------------------

  private write(run: PodRun): void {
    if (run.cancelled) return;
    this.writePodStatus(run.pod, podStatus(run));
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
    this.images.close();
  }
}
