// Fetches the image pull secrets a pod can use (its own and its ServiceAccount's), each object at most once per run.
// Secret data never leaves this module except inside the returned V1Secret objects: logs and warnings carry names only.

import type { V1Pod, V1Secret, V1ServiceAccount } from '@kubernetes/client-node';
import { apiStatus, type SecretReader } from './api.ts';

/** The minimal logger this module writes warnings to. */
export interface WarnLog {
  warn(obj: object, msg?: string): void;
}

export interface PodPullSecrets {
  /** The secrets found, pod's own first, then the ServiceAccount's; each name once. */
  secrets: V1Secret[];
  /** One sentence per secret or ServiceAccount that could not be read (names only). */
  warnings: string[];
}

type Fetched<T> = { value: T; warning?: undefined } | { value?: undefined; warning: string };

/** Reads pull secrets through a per-run cache; never throws for a missing or forbidden object. */
export class PullSecretSource {
  readonly #api: SecretReader;
  readonly #log: WarnLog | undefined;
  readonly #secrets = new Map<string, Promise<Fetched<V1Secret>>>();
  readonly #serviceAccounts = new Map<string, Promise<Fetched<V1ServiceAccount>>>();

  constructor(api: SecretReader, log?: WarnLog) {
    this.#api = api;
    this.#log = log;
  }

  /**
   * The secrets named in `pod.spec.imagePullSecrets` and in its ServiceAccount's `imagePullSecrets`. A missing or
   * unreadable secret or ServiceAccount becomes a warning (logged once per name); the call never rejects.
   */
  async forPod(pod: V1Pod): Promise<PodPullSecrets> {
    const namespace = pod.metadata?.namespace ?? 'default';
    const warnings: string[] = [];
    const names: string[] = [];
    for (const ref of pod.spec?.imagePullSecrets ?? []) if (ref.name) names.push(ref.name);

    const saName = pod.spec?.serviceAccountName || 'default';
    const sa = await this.#serviceAccount(namespace, saName);
    if (sa.warning) warnings.push(sa.warning);
    for (const ref of sa.value?.imagePullSecrets ?? []) if (ref.name) names.push(ref.name);

    const unique = [...new Set(names)];
    const fetched = await Promise.all(unique.map((name) => this.#secret(namespace, name)));
    const secrets: V1Secret[] = [];
    for (const f of fetched) {
      if (f.value) secrets.push(f.value);
      else warnings.push(f.warning);
    }
    return { secrets, warnings };
  }

  #secret(namespace: string, name: string): Promise<Fetched<V1Secret>> {
    return this.#once(this.#secrets, namespace, name, 'secret', () =>
      this.#api.readNamespacedSecret({ namespace, name }),
    );
  }

  #serviceAccount(namespace: string, name: string): Promise<Fetched<V1ServiceAccount>> {
    return this.#once(this.#serviceAccounts, namespace, name, 'serviceaccount', () =>
      this.#api.readNamespacedServiceAccount({ namespace, name }),
    );
  }

  // The promise is cached before it settles, so pods listed together share one request per name.
  #once<T>(
    cache: Map<string, Promise<Fetched<T>>>,
    namespace: string,
    name: string,
    kind: 'secret' | 'serviceaccount',
    read: () => Promise<T>,
  ): Promise<Fetched<T>> {
    const key = `${namespace}/${name}`;
    let p = cache.get(key);
    if (!p) {
      p = read().then(
        (value): Fetched<T> => ({ value }),
        (err: unknown): Fetched<T> => {
          const warning = describeFailure(kind, key, err);
          this.#log?.warn({ [kind]: key, status: apiStatus(err).code }, warning);
          return { warning };
        },
      );
      cache.set(key, p);
    }
    return p;
  }
}

// Only the object's identity and the HTTP status go into the sentence: never the error body, which could echo data.
function describeFailure(kind: 'secret' | 'serviceaccount', key: string, err: unknown): string {
  const code = apiStatus(err).code;
  const use =
    kind === 'secret' ? 'its registry credentials are not used' : 'its imagePullSecrets are not used';
  if (code === 404) return `${kind} ${key} not found: ${use}`;
  if (code === 403 || code === 401) {
    return `${kind} ${key} cannot be read (HTTP ${code}): ${use}; grant the updater "get" on ${kind}s`;
  }
  return `${kind} ${key} could not be read (${code === undefined ? 'no answer' : `HTTP ${code}`}): ${use}`;
}
