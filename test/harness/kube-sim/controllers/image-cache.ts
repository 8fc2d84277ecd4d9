// The simulated nodes' image stores: what each node has pulled (so IfNotPresent really reuses old bytes), the
// pull-policy decision, synthetic digests for hosts without a registry, and coalesced registry pulls.

import { createHash } from 'node:crypto';
import type { KObject } from '../store.ts';
import { credentialsFor } from './credentials.ts';
import { ImagePuller, isLoopbackHost, PullError, type PullerOptions } from './image-pull.ts';
import {
  cacheKey,
  type ImageRef,
  needsConfigDigest,
  normalized,
  parseImage,
  type RuntimeFormat,
} from './image-ref.ts';
import { defaultPullPolicy } from './pod-template.ts';

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

/** One container start's image question: which node, runtime, pod (for pull secrets), container and reference. */
export interface PullTarget {
  node: string;
  runtime: RuntimeFormat;
  pod: KObject;
  container: KObject;
  ref: ImageRef;
}

export interface ImageCacheOptions {
  imageSource?: 'auto' | 'registry' | 'synthetic';
  registries?: PullerOptions['registries'];
}

export interface ImageCacheDeps {
  /** Registers async work with the controllers' loop (so settle() waits for pulls). */
  track<T>(p: Promise<T>): Promise<T>;
  /** Reads a Secret for pull credentials. */
  secret(ns: string, name: string): KObject | undefined;
}

function sha256(s: string): string {
  return `sha256:${createHash('sha256').update(s).digest('hex')}`;
}

export class ImageCache {
  private readonly opts: ImageCacheOptions;
  private readonly deps: ImageCacheDeps;
  private readonly images = new Map<string, Map<string, CachedImage>>();
  private readonly inflight = new Map<string, Promise<CachedImage>>();
  private readonly synthetic = new Map<string, string>();
  /** The registry client (its counts show how many requests were made). */
  readonly puller: ImagePuller;
  /** Every pull, oldest first. */
  readonly pulls: PullRecord[] = [];

  constructor(opts: ImageCacheOptions, deps: ImageCacheDeps) {
    this.opts = opts;
    this.deps = deps;
    this.puller = new ImagePuller({ registries: opts.registries });
  }

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
  resolveLocal(x: PullTarget): CachedImage | undefined {
    const ref = x.ref;
    const policy: string = x.container.imagePullPolicy ?? defaultPullPolicy(x.container.image ?? '');
    const cached = this.nodeImages(x.node).get(cacheKey(ref));
    const wantConfig = needsConfigDigest(x.runtime);
    if (policy === 'Never') {
      if (!cached) {
        throw new PullError(
          `Container image "${x.container.image}" is not present with pull policy of Never`,
          -1,
        );
      }
      return cached.configDigest || !wantConfig
        ? cached
        : { ...cached, configDigest: sha256(`sim-config|${cached.digest}`) };
    }
    if (policy !== 'Always' && cached && (cached.configDigest || !wantConfig)) return cached;
    if (this.isSynthetic(ref)) {
      const img = this.syntheticImage(ref);
      this.nodeImages(x.node).set(cacheKey(ref), img);
      this.pulls.push({ node: x.node, image: normalized(ref), digest: img.digest });
      return img;
    }
    return undefined;
  }

  /** Whether resolveLocal would answer without the network (no side effects). */
  startsLocally(x: PullTarget): boolean {
    const ref = x.ref;
    const policy: string = x.container.imagePullPolicy ?? defaultPullPolicy(x.container.image ?? '');
    const cached = this.nodeImages(x.node).get(cacheKey(ref));
    if (policy === 'Never') return !!cached;
    if (policy !== 'Always' && cached && (cached.configDigest || !needsConfigDigest(x.runtime))) return true;
    return this.isSynthetic(ref);
  }

  /** Pulls from the registry (one request at a time per node, reference and credentials). */
  pullRemote(x: PullTarget): Promise<CachedImage> {
    const ref = x.ref;
    const wantConfig = needsConfigDigest(x.runtime);
    const secrets = (x.pod.spec?.imagePullSecrets ?? []).map((s: KObject) => s?.name).join(',');
    const id = `${x.node}|${cacheKey(ref)}|${wantConfig}|${x.pod.metadata.namespace}|${secrets}`;
    const pending = this.inflight.get(id);
    if (pending) return pending;
    const creds = credentialsFor(x.pod, ref, this.deps.secret);
    const p = this.puller
      .resolve(ref, creds, wantConfig)
      .then(
        (r) => {
          const img: CachedImage = r.configDigest
            ? { digest: r.digest, configDigest: r.configDigest }
            : { digest: r.digest };
          this.nodeImages(x.node).set(cacheKey(ref), img);
          this.pulls.push({ node: x.node, image: normalized(ref), digest: r.digest });
          return img;
        },
        (e: unknown) => {
          this.pulls.push({
            node: x.node,
            image: normalized(ref),
            error: e instanceof Error ? e.message : String(e),
          });
          throw e;
        },
      )
      .finally(() => this.inflight.delete(id));
    this.inflight.set(id, p);
    return this.deps.track(p);
  }

  /** Closes the registry connections. */
  close(): void {
    this.puller.close();
  }
}
