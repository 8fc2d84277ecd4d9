// The one pod-credential collector of both digest sources: a pod's pull secrets (its own, then its ServiceAccount's,
// as the kubelet orders them) become a keyring, with a mounted docker config as the fallback after them. Pods that
// name the same secrets share one keyring per run; each warning is logged once, naming secrets, never content.

import type { ImageReference } from '../image/reference.ts';
import { type Credential, Keyring, keyringFromSecrets, type SecretLike } from './credentials.ts';

/** The credentials for an image, most specific first: the pod's own, then the fallback's. */
export interface CredentialLookup {
  lookup(ref: Pick<ImageReference, 'registry' | 'repository'>): Credential[];
}

/** The parts of a pod that decide which pull secrets it may use (a V1Pod fits). */
export interface PodLike {
  metadata?: { name?: string; namespace?: string };
  spec?: { serviceAccountName?: string; imagePullSecrets?: Array<{ name?: string }> };
}

export interface PodCredentialsOptions<P extends PodLike> {
  /** The pull secrets a pod may use and why some could not be read (PullSecretSource.forPod fits). */
  secretsFor(pod: P): Promise<{ secrets: SecretLike[]; warnings: string[] }>;
  /** Credentials tried after the pod's own (the mounted --docker-config); none by default. */
  fallback?: readonly Credential[];
  /** Where warnings go: once per distinct sentence, with the pod that first met it. */
  warn(obj: { pod: string }, msg: string): void;
}

/** Collects and caches the credentials of pods for one run; never rejects. */
export class PodCredentials<P extends PodLike> {
  readonly #opts: PodCredentialsOptions<P>;
  readonly #fallback: Keyring;
  readonly #byKey = new Map<string, Promise<CredentialLookup>>();
  readonly #warned = new Set<string>();

  constructor(opts: PodCredentialsOptions<P>) {
    this.#opts = opts;
    this.#fallback = new Keyring(opts.fallback ?? []);
  }

  /** The fallback alone: for a candidate whose pod is unknown. */
  get fallback(): CredentialLookup {
    return this.#fallback;
  }

  /**
   * Pods with the same namespace, ServiceAccount and pull secret names use the same credentials: the key under
   * which one keyring serves them all.
   */
  static keyOf(pod: PodLike): string {
    const names = (pod.spec?.imagePullSecrets ?? []).map((r) => r.name ?? '').join(',');
    return `${pod.metadata?.namespace ?? ''}\n${pod.spec?.serviceAccountName || 'default'}\n${names}`;
  }

  /**
   * The pod's credential lookup: its pull secrets first (in the kubelet's order), then the fallback. Secrets that
   * cannot be read or parsed are left out with a warning; if reading throws, the pod gets the fallback only.
   */
  forPod(pod: P): Promise<CredentialLookup> {
    const key = PodCredentials.keyOf(pod);
    let p = this.#byKey.get(key);
    if (p === undefined) {
      p = this.#collect(pod);
      this.#byKey.set(key, p);
    }
    return p;
  }

  async #collect(pod: P): Promise<CredentialLookup> {
    const name = `${pod.metadata?.namespace ?? ''}/${pod.metadata?.name ?? ''}`;
    let read: { secrets: SecretLike[]; warnings: string[] };
    try {
      read = await this.#opts.secretsFor(pod);
    } catch (err) {
      // Only the error's message: a reader that throws must not make the pod's images unresolvable.
      this.#warnOnce(
        name,
        `pull secrets of pod ${name} unreadable (${(err as Error)?.message ?? err}): using none`,
      );
      return this.#fallback;
    }
    const built = keyringFromSecrets(read.secrets);
    for (const w of [...read.warnings, ...built.warnings]) this.#warnOnce(name, w);
    if (built.keyring.size === 0) return this.#fallback;
    const fallback = this.#fallback;
    return { lookup: (ref) => [...built.keyring.lookup(ref), ...fallback.lookup(ref)] };
  }

  #warnOnce(pod: string, msg: string): void {
    if (this.#warned.has(msg)) return;
    this.#warned.add(msg);
    this.#opts.warn({ pod }, msg);
  }
}
