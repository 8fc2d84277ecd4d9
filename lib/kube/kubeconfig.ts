// Reads kubeconfig files (merged like kubectl) and the in-cluster service account into a KubeConnection: the server,
// TLS material and a credential source, without loading @kubernetes/client-node. Only credentials it cannot produce
// itself (exec plugins, auth-providers, proxy-url) are delegated to client-node, imported lazily.

import { readFileSync } from 'node:fs';
import { stat } from 'node:fs/promises';
import type { Agent } from 'node:http';
import { isIPv6 } from 'node:net';
import { dirname, isAbsolute, join } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { ConfigError } from '../shared/errors.ts';

/** TLS settings for the API server connection; `rejectUnauthorized` is true unless insecure-skip-tls-verify. */
export interface KubeTls {
  ca?: Buffer;
  cert?: Buffer;
  key?: Buffer;
  rejectUnauthorized: boolean;
  servername?: string;
}

/** Everything needed to talk to one API server as one user. */
export interface KubeConnection {
  /** Base URL without a trailing slash (may carry a path prefix, e.g. behind Rancher). */
  server: string;
  /** In-cluster: the service account's namespace; else the context's namespace; else 'default'. */
  namespace: string;
  source: 'in-cluster' | 'kubeconfig';
  /** The kubeconfig file(s) read, or the service-account directory. */
  origin: string;
  /** The kubeconfig context in use (undefined in-cluster). */
  context?: string;
  tls: KubeTls;
  /** Extra headers sent with every request (user impersonation: `as`). */
  headers?: Record<string, string>;
  /** The Authorization header value for the next request; rejects when a credential cannot be obtained. */
  authorization(): Promise<string | undefined>;
  /** Only when client-node handles the credential (exec, auth-provider, proxy-url): the agent to send through. */
  agent?(): Promise<Agent>;
}

/** One kubeconfig cluster/user/context entry as written in the file (relative paths already made absolute). */
export type RawEntry = Record<string, unknown>;

/** A merged kubeconfig: named entries (first definition wins) and the first current-context. */
export interface MergedKubeconfig {
  clusters: Map<string, RawEntry>;
  users: Map<string, RawEntry>;
  contexts: Map<string, RawEntry>;
  currentContext: string | undefined;
}

// Fields holding file paths, resolved against the directory of the file that names them (as kubectl does).
const PATH_FIELDS: Record<'cluster' | 'user', string[]> = {
  cluster: ['certificate-authority'],
  user: ['client-certificate', 'client-key', 'tokenFile', 'token-file'],
};

/**
 * Parses one kubeconfig text (YAML or JSON) and adds its entries to `into`, first definition winning. Throws a
 * plain Error describing what is malformed (the caller wraps it with the file name).
 */
export function mergeKubeconfigText(into: MergedKubeconfig, text: string, file: string): void {
  const doc: unknown = parseYaml(text);
  if (doc === null || doc === undefined) return;
  if (typeof doc !== 'object' || Array.isArray(doc)) throw new Error('the document is not a mapping');
  const d = doc as Record<string, unknown>;
  addEntries(into.clusters, d.clusters, 'clusters', 'cluster', dirname(file));
  addEntries(into.users, d.users, 'users', 'user', dirname(file));
  addEntries(into.contexts, d.contexts, 'contexts', 'context', dirname(file));
  const current = d['current-context'];
  if (!into.currentContext && typeof current === 'string' && current !== '') into.currentContext = current;
}

function addEntries(
  into: Map<string, RawEntry>,
  list: unknown,
  field: string,
  inner: 'cluster' | 'user' | 'context',
  dir: string,
): void {
  if (list === null || list === undefined) return;
  if (!Array.isArray(list)) throw new Error(`${field} is not a list`);
  list.forEach((item: unknown, i) => {
    const e = (item ?? {}) as Record<string, unknown>;
    if (typeof e.name !== 'string' || e.name === '') throw new Error(`${field}[${i}].name is missing`);
    const body = e[inner];
    if (inner !== 'user' && (body === null || typeof body !== 'object')) {
      throw new Error(`${field}[${i}].${inner} is missing`);
    }
    const entry: RawEntry = { ...((body ?? {}) as RawEntry) };
    if (inner === 'cluster' && (typeof entry.server !== 'string' || entry.server === '')) {
      throw new Error(`${field}[${i}].cluster.server is missing`);
    }
    if (inner !== 'context') {
      for (const key of PATH_FIELDS[inner]) {
        const v = entry[key];
        if (typeof v === 'string' && v !== '' && !isAbsolute(v)) entry[key] = join(dir, v);
      }
    }
    if (!into.has(e.name)) into.set(e.name, entry);
  });
}

/** Builds the connection for one context of a merged kubeconfig; throws ConfigError naming a bad field or file. */
export function kubeconfigConnection(
  cfg: MergedKubeconfig,
  contextName: string,
  origin: string,
): KubeConnection {
  const ctx = cfg.contexts.get(contextName) ?? {};
  const clusterName = str(ctx.cluster) ?? '';
  const cluster = cfg.clusters.get(clusterName);
  if (!cluster) {
    throw new ConfigError(
      `kubeconfig ${origin}: context "${contextName}" refers to cluster "${clusterName}", which is not defined.`,
    );
  }
  const userName = str(ctx.user);
  // kubectl treats a context without a (defined) user as anonymous.
  const user = (userName ? cfg.users.get(userName) : undefined) ?? {};
  const where = `kubeconfig ${origin}`;
  const server = (str(cluster.server) ?? '').replace(/\/+$/, '');
  const insecure = cluster['insecure-skip-tls-verify'] === true;
  if (!/^https?:\/\//i.test(server)) {
    throw new ConfigError(`${where}: cluster "${clusterName}" server "${server}" is not an http(s) URL.`);
  }
  if (/^http:/i.test(server) && !insecure) {
    throw new ConfigError(
      `${where}: cluster "${clusterName}" uses plain http (${server}); use https, or set insecure-skip-tls-verify: true.`,
    );
  }
  const tls: KubeTls = { rejectUnauthorized: !insecure };
  const ca = material(cluster, 'certificate-authority', `${where}: cluster "${clusterName}"`);
  if (ca) tls.ca = ca;
  const servername = str(cluster['tls-server-name']);
  if (servername) tls.servername = servername;
  const cert = material(user, 'client-certificate', `${where}: user "${userName}"`);
  const key = material(user, 'client-key', `${where}: user "${userName}"`);
  if (cert) tls.cert = cert;
  if (key) tls.key = key;
  const headers: Record<string, string> = {};
  const as = str(user.as);
  if (as) headers['Impersonate-User'] = as;

  const base = {
    server,
    namespace: str(ctx.namespace) || 'default',
    source: 'kubeconfig' as const,
    origin,
    context: contextName,
    tls,
    ...(as ? { headers } : {}),
  };
  if (user.exec || user['auth-provider'] || str(cluster['proxy-url'])) {
    return {
      ...base,
      ...clientNodeCredentials({ clusterName, cluster, userName: userName ?? 'user', user }),
    };
  }
  const tokenFile = str(user.tokenFile) ?? str(user['token-file']);
  const token = str(user.token);
  const username = str(user.username);
  let authorization: () => Promise<string | undefined>;
  if (tokenFile) {
    const read = rotatingToken(tokenFile);
    // client-go: the token file, re-read periodically, takes precedence over an inline token.
    authorization = async () => {
      const t = (await read().catch(() => undefined)) ?? token;
      if (t === undefined)
        throw new Error(`cannot read the token file ${tokenFile} (${where}: user "${userName}")`);
      return `Bearer ${t}`;
    };
  } else if (token) {
    authorization = async () => `Bearer ${token}`;
  } else if (username) {
    const basic = `Basic ${Buffer.from(`${username}:${str(user.password) ?? ''}`).toString('base64')}`;
    authorization = async () => basic;
  } else {
    authorization = async () => undefined;
  }
  return { ...base, authorization };
}

/** The connection of a pod's service account: KUBERNETES_SERVICE_HOST/PORT, ca.crt, a token re-read as it rotates. */
export function inClusterConnection(
  saDir: string,
  host: string,
  port: string,
  namespace: string,
): KubeConnection {
  const caFile = join(saDir, 'ca.crt');
  let ca: Buffer | undefined;
  try {
    ca = readFileSync(caFile);
  } catch {
    // No CA mounted: fall back to the system roots, as client-node's loadFromCluster does.
  }
  const read = rotatingToken(join(saDir, 'token'));
  return {
    server: `https://${isIPv6(host) ? `[${host}]` : host}:${port}`,
    namespace: namespace || 'default',
    source: 'in-cluster',
    origin: saDir,
    tls: { rejectUnauthorized: true, ...(ca ? { ca } : {}) },
    authorization: async () => `Bearer ${await read()}`,
  };
}

/** How long a token read from a file is trusted without looking at the file again. */
export const TOKEN_REREAD_MS = 60_000;

/**
 * A reader for a token file that re-reads it when its mtime/size/inode change, and at least every minute: bound
 * service-account tokens are rotated by the kubelet (an atomic symlink swap). Rejects when the file cannot be read
 * and no earlier value exists; after a successful read, a failing re-read keeps the last value.
 */
export function rotatingToken(file: string, now: () => number = Date.now): () => Promise<string> {
  let cached: { token: string; at: number; sig: string } | undefined;
  return async () => {
    let sig: string | undefined;
    try {
      const s = await stat(file);
      sig = `${Math.trunc(s.mtimeMs)}:${s.size}:${s.ino}`;
    } catch (err) {
      if (cached) return cached.token;
      throw err;
    }
    if (cached && cached.sig === sig && now() - cached.at < TOKEN_REREAD_MS) return cached.token;
    try {
      const token = readFileSync(file, 'utf8').trim();
      cached = { token, at: now(), sig };
      return token;
    } catch (err) {
      if (cached) return cached.token;
      throw err;
    }
  };
}

function str(v: unknown): string | undefined {
  return typeof v === 'string' && v !== '' ? v : undefined;
}

// `<field>-data` (base64) wins over the `<field>` file, as in client-go.
function material(entry: RawEntry, field: string, what: string): Buffer | undefined {
  const data = str(entry[`${field}-data`]);
  if (data) return Buffer.from(data, 'base64');
  const file = str(entry[field]);
  if (!file) return undefined;
  try {
    return readFileSync(file);
  } catch (err) {
    throw new ConfigError(`${what}: ${field} ${file} cannot be read: ${(err as Error).message}`, {
      cause: err,
    });
  }
}

/**
 * Credentials through @kubernetes/client-node for what this module does not implement: a KubeConfig holding just the
 * selected cluster and user, built on first use (the import costs ~0.5 s, paid only by such kubeconfigs).
 */
function clientNodeCredentials(sel: {
  clusterName: string;
  cluster: RawEntry;
  userName: string;
  user: RawEntry;
}): Pick<KubeConnection, 'authorization' | 'agent'> {
  type Applied = { headers: Record<string, string>; auth?: string; agent?: Agent };
  let kc: Promise<{ applyToHTTPSOptions(o: Applied): Promise<void> }> | undefined;
  let inflight: Promise<Applied> | undefined;
  const apply = (): Promise<Applied> => {
    kc ??= import('@kubernetes/client-node').then(({ KubeConfig }) => {
      const k = new KubeConfig();
      // JSON is YAML: client-node parses the same entries the file had (paths already absolute).
      k.loadFromString(
        JSON.stringify({
          apiVersion: 'v1',
          kind: 'Config',
          clusters: [{ name: sel.clusterName, cluster: sel.cluster }],
          users: [{ name: sel.userName, user: sel.user }],
          contexts: [{ name: 'selected', context: { cluster: sel.clusterName, user: sel.userName } }],
          'current-context': 'selected',
        }),
      );
      return k as unknown as { applyToHTTPSOptions(o: Applied): Promise<void> };
    });
    // One exec run serves the requests that ask at the same time; client-node caches the credential after that.
    inflight ??= kc
      .then(async (k) => {
        const opts: Applied = { headers: {} };
        await k.applyToHTTPSOptions(opts);
        return opts;
      })
      .finally(() => {
        inflight = undefined;
      });
    return inflight;
  };
  return {
    async authorization() {
      const o = await apply();
      const h = o.headers.Authorization ?? o.headers.authorization;
      if (h) return h;
      return o.auth ? `Basic ${Buffer.from(o.auth).toString('base64')}` : undefined;
    },
    async agent() {
      const o = await apply();
      if (!o.agent) throw new Error('client-node built no agent for this kubeconfig');
      return o.agent;
    },
  };
}
