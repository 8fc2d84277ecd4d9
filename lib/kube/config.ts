// Finds and loads the Kubernetes client configuration (flag, KUBECONFIG, in-cluster service account, ~/.kube/config)
// and tells the updater which pod it is running in.

import { existsSync, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { delimiter, join } from 'node:path';
import { ConfigError } from '../shared/errors.ts';
import {
  inClusterConnection,
  type KubeConnection,
  kubeconfigConnection,
  type MergedKubeconfig,
  mergeKubeconfigText,
} from './kubeconfig.ts';

export type { KubeConnection } from './kubeconfig.ts';

/** Where the kubelet mounts the pod's service-account token, CA and namespace. */
export const SERVICE_ACCOUNT_DIR = '/var/run/secrets/kubernetes.io/serviceaccount';

export interface LoadKubeConfigOptions {
  /** Path from --kubeconfig; wins over everything else. */
  kubeconfig?: string;
  /** Context to use instead of the file's current-context. */
  context?: string;
  /** true: in-cluster only; false: never in-cluster; 'auto' (default): in-cluster when running in a pod. */
  inCluster?: boolean | 'auto';
  /** Service-account directory (tests point it at a temp dir). */
  serviceAccountDir?: string;
  /** Environment to read (defaults to process.env). */
  env?: NodeJS.ProcessEnv;
  /** Home directory for ~/.kube/config (defaults to os.homedir()). */
  homeDir?: string;
}

/** What loadKubeConfig gives: the connection (server, TLS, credentials) plus where it came from. */
export type LoadedKubeConfig = KubeConnection;

/**
 * Loads the client configuration in the order --kubeconfig, KUBECONFIG, in-cluster (KUBERNETES_SERVICE_HOST set and
 * a service-account token present), ~/.kube/config. Throws ConfigError naming the file or context and the fix.
 */
export function loadKubeConfig(opts: LoadKubeConfigOptions = {}): LoadedKubeConfig {
  const env = opts.env ?? process.env;
  const saDir = opts.serviceAccountDir ?? SERVICE_ACCOUNT_DIR;
  const mode = opts.inCluster ?? 'auto';

  if (mode === true) return withContextCheck(loadInCluster(saDir, env), opts.context);
  if (opts.kubeconfig) return loadFiles([opts.kubeconfig], opts.context, '--kubeconfig');
  const fromEnv = (env.KUBECONFIG ?? '').split(delimiter).filter((f) => f !== '');
  if (fromEnv.length > 0) return loadFiles(fromEnv, opts.context, 'KUBECONFIG');
  if (mode === 'auto' && env.KUBERNETES_SERVICE_HOST && existsSync(join(saDir, 'token'))) {
    return withContextCheck(loadInCluster(saDir, env), opts.context);
  }
  const home = opts.homeDir ?? homedir();
  const defaultFile = join(home, '.kube', 'config');
  if (existsSync(defaultFile)) return loadFiles([defaultFile], opts.context, '~/.kube/config');
  throw new ConfigError(
    `no Kubernetes configuration found: no --kubeconfig, no KUBECONFIG, not running in a pod (KUBERNETES_SERVICE_HOST ` +
      `unset or no token in ${saDir}), and ${defaultFile} does not exist. Pass --kubeconfig <file> or run in-cluster.`,
  );
}

function withContextCheck(loaded: LoadedKubeConfig, context: string | undefined): LoadedKubeConfig {
  if (context) {
    throw new ConfigError(
      `--context ${context} applies to a kubeconfig file, but the in-cluster service account (${loaded.origin}) is ` +
        'being used. Drop --context, or pass --kubeconfig.',
    );
  }
  return loaded;
}

function loadInCluster(saDir: string, env: NodeJS.ProcessEnv): LoadedKubeConfig {
  const host = env.KUBERNETES_SERVICE_HOST;
  const tokenFile = join(saDir, 'token');
  if (!host) {
    throw new ConfigError(
      'in-cluster configuration requested but KUBERNETES_SERVICE_HOST is not set: not running in a pod?',
    );
  }
  if (!existsSync(tokenFile)) {
    throw new ConfigError(
      `in-cluster configuration requested but ${tokenFile} does not exist: set automountServiceAccountToken: true.`,
    );
  }
  const namespaceFile = join(saDir, 'namespace');
  const namespace = existsSync(namespaceFile) ? readFileSync(namespaceFile, 'utf8').trim() : '';
  return inClusterConnection(saDir, host, env.KUBERNETES_SERVICE_PORT || '443', namespace);
}

function loadFiles(files: string[], context: string | undefined, via: string): LoadedKubeConfig {
  // kubectl's merge rule for several KUBECONFIG files: the first file to define a name (or a current-context) wins.
  const cfg: MergedKubeconfig = {
    clusters: new Map(),
    users: new Map(),
    contexts: new Map(),
    currentContext: undefined,
  };
  for (const file of files) {
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch (err) {
      const why = (err as NodeJS.ErrnoException).code === 'ENOENT' ? 'does not exist' : 'cannot be read';
      throw new ConfigError(
        `kubeconfig ${file} (from ${via}) ${why}: pass an existing file with --kubeconfig.`,
        {
          cause: err,
        },
      );
    }
    try {
      mergeKubeconfigText(cfg, text, file);
    } catch (err) {
      throw new ConfigError(`kubeconfig ${file} (from ${via}) is not valid: ${(err as Error).message}`, {
        cause: err,
      });
    }
  }
  const origin = files.join(delimiter);
  const names = [...cfg.contexts.keys()];
  const available = names.length > 0 ? `available contexts: ${names.join(', ')}` : 'it defines no contexts';
  let selected: string;
  if (context) {
    if (!cfg.contexts.has(context)) {
      throw new ConfigError(
        `context "${context}" not found in kubeconfig ${origin}; ${available}. Fix --context.`,
      );
    }
    selected = context;
  } else if (!cfg.currentContext || !cfg.contexts.has(cfg.currentContext)) {
    const current = cfg.currentContext;
    throw new ConfigError(
      current
        ? `kubeconfig ${origin}: current-context "${current}" is not defined; ${available}. Pass --context.`
        : `kubeconfig ${origin} has no current-context; ${available}. Pass --context.`,
    );
  } else {
    selected = cfg.currentContext;
  }
  return kubeconfigConnection(cfg, selected, origin);
}

export interface SelfPod {
  namespace: string;
  name: string;
}

/**
 * The updater's own pod, so the planner never evicts it: POD_NAME/POD_NAMESPACE from the downward API, else (only
 * in-cluster, where HOSTNAME is the pod name) HOSTNAME and the service account's namespace. Undefined when unknown.
 */
export function selfPod(
  loaded: Pick<LoadedKubeConfig, 'source' | 'namespace'>,
  env = process.env,
): SelfPod | undefined {
  const inCluster = loaded.source === 'in-cluster';
  const name = env.POD_NAME || (inCluster ? env.HOSTNAME : undefined);
  const namespace = env.POD_NAMESPACE || (inCluster ? loaded.namespace : undefined);
  return name && namespace ? { namespace, name } : undefined;
}
