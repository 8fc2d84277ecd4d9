// Entry point of the Kubernetes API simulator: starts a store, the HTTPS API server and (optionally) the simulated
// controllers, and writes kubeconfigs so that client-node and kubectl can talk to it.

import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type ControllerOptions, type Controllers, startControllers } from './controllers/index.ts';
import { FaultInjector } from './faults.ts';
import { Authenticator } from './rbac.ts';
import { startApiServer } from './server.ts';
import { Store } from './store.ts';
import { simulatorTls } from './tls.ts';

export type { ControllerOptions, Controllers };

export interface StartClusterOptions {
  /** `false` for a bare API server; otherwise options for startControllers() (default: controllers on). */
  controllers?: false | ControllerOptions;
  /** BOOKMARK interval for watches that allow them (default 10 s). */
  bookmarkIntervalMs?: number;
  /** How many change events watches can replay before a resourceVersion is 410 Expired (default 20,000). */
  historyLimit?: number;
}

export interface KubeconfigOptions {
  token: string;
  namespace?: string;
  /** The user entry's name in the file (default `user`). */
  user?: string;
}

export interface Cluster {
  store: Store;
  /** `https://127.0.0.1:<port>` */
  url: string;
  caPem: string;
  adminToken: string;
  /** An admin kubeconfig (user `admin` in system:masters) in the cluster's temp dir. */
  kubeconfigPath: string;
  /** Writes a kubeconfig for a bearer token; returns its path (removed by stop()). */
  kubeconfig(opts: KubeconfigOptions): string;
  /** Registers and returns a bearer token for system:serviceaccount:<namespace>:<name>. */
  serviceAccountToken(namespace: string, name: string): string;
  /** Registers a bearer token for a user with groups (system:authenticated is implied). */
  addUser(token: string, username: string, groups: string[]): void;
  faults: FaultInjector;
  controllers?: Controllers;
  /** A temp dir owned by the cluster (kubeconfigs, CA file); removed by stop(). */
  dir: string;
  stop(): Promise<void>;
}

/** Temp dirs of clusters not stopped yet: removed at process exit if a test dies before its teardown. */
const liveDirs = new Set<string>();
let exitHookInstalled = false;
function trackDir(dir: string): void {
  liveDirs.add(dir);
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.once('exit', () => {
    for (const d of liveDirs) rmSync(d, { recursive: true, force: true });
  });
}

function token(): string {
  return randomBytes(24).toString('base64url');
}

/** Starts a simulated cluster on 127.0.0.1 (port 0); rejects when TLS material or the listener cannot be set up. */
export async function startCluster(opts: StartClusterOptions = {}): Promise<Cluster> {
  const tls = simulatorTls();
  const store = new Store(opts.historyLimit ? { historyLimit: opts.historyLimit } : {});
  const auth = new Authenticator();
  const faults = new FaultInjector();
  const adminToken = token();
  auth.add(adminToken, 'admin', ['system:masters']);
  const dir = mkdtempSync(join(tmpdir(), 'kube-sim-'));
  trackDir(dir);
  const server = await startApiServer({
    store,
    auth,
    faults,
    tls,
    ...(opts.bookmarkIntervalMs ? { bookmarkIntervalMs: opts.bookmarkIntervalMs } : {}),
  });
  const caFile = join(dir, 'ca.crt');
  writeFileSync(caFile, tls.caPem);
  let n = 0;
  const kubeconfig = (k: KubeconfigOptions): string => {
    const user = k.user ?? 'user';
    const ca = Buffer.from(tls.caPem).toString('base64');
    const text = [
      'apiVersion: v1',
      'kind: Config',
      'clusters:',
      '- name: kube-sim',
      '  cluster:',
      `    server: ${server.url}`,
      `    certificate-authority-data: ${ca}`,
      'users:',
      `- name: ${JSON.stringify(user)}`,
      '  user:',
      `    token: ${JSON.stringify(k.token)}`,
      'contexts:',
      '- name: kube-sim',
      '  context:',
      '    cluster: kube-sim',
      `    user: ${JSON.stringify(user)}`,
      `    namespace: ${JSON.stringify(k.namespace ?? 'default')}`,
      'current-context: kube-sim',
      '',
    ].join('\n');
    const path = join(dir, `kubeconfig-${++n}.yaml`);
    writeFileSync(path, text, { mode: 0o600 });
    return path;
  };
  const kubeconfigPath = kubeconfig({ token: adminToken, user: 'admin' });
  let controllers: Controllers | undefined;
  if (opts.controllers !== false) {
    try {
      controllers = startControllers(store, opts.controllers ?? {});
    } catch (e) {
      await server.close();
      rmSync(dir, { recursive: true, force: true });
      liveDirs.delete(dir);
      throw e;
    }
  }
  let stopped = false;
  return {
    store,
    url: server.url,
    caPem: tls.caPem,
    adminToken,
    kubeconfigPath,
    kubeconfig,
    serviceAccountToken(namespace, name) {
      const t = token();
      auth.addServiceAccount(t, namespace, name);
      return t;
    },
    addUser(t, username, groups) {
      auth.add(t, username, groups);
    },
    faults,
    ...(controllers ? { controllers } : {}),
    dir,
    async stop() {
      if (stopped) return;
      stopped = true;
      try {
        await controllers?.stop();
      } finally {
        await server.close();
        rmSync(dir, { recursive: true, force: true });
        liveDirs.delete(dir);
      }
    },
  };
}
