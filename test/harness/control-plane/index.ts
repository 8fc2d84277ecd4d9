// Starts the real Kubernetes control plane built by binaries.ts: etcd, kube-apiserver (TLS, RBAC, ServiceAccount
// token issuer and signer, the default admission plugins with Pod Security), kube-controller-manager (every
// default controller, per-controller ServiceAccount credentials) and kube-scheduler, all on loopback with free
// ports and all state under one directory; then a node agent (test/harness/node-agent/) registers the nodes.
// `startControlPlane` runs the agent in-process (tests script it); scripts/control-plane.ts `up` runs it as a
// process of its own. Every process is started in its own process group and recorded in <dir>/state.json.

import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { closeSync, mkdirSync, openSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { makeServerTls, selfSignedRsa } from '../certs.ts';
import { type AgentOptions, type NodeAgent, startNodeAgent } from '../node-agent/agent.ts';
import { Api } from '../node-agent/api.ts';
import { type BinaryName, builtBinaries, pinnedRelease } from './binaries.ts';

export interface ControlPlaneOptions {
  /** State directory (created): certificates, etcd data, logs, kubeconfigs, state.json. */
  dir: string;
  /** Node agent options (nodes, runtime, delays, hooks); `false`: start no agent (the caller starts one). */
  agent?: Omit<AgentOptions, 'server' | 'caPem' | 'token'> | false;
  /** Progress lines. */
  log?: (line: string) => void;
  /** How long to wait for each component (default 90 s). */
  timeoutMs?: number;
  /**
   * Keep the processes when this Node process exits (`scripts/control-plane.ts up`); `down` stops them from
   * <dir>/state.json. Default false: a crashed test leaves nothing behind.
   */
  persist?: boolean;
}

export interface ControlPlaneState {
  release: string;
  url: string;
  adminToken: string;
  /** Process ids by component (each the leader of its own process group). */
  pids: Record<string, number>;
}

export interface ControlPlane {
  dir: string;
  release: string;
  /** https://127.0.0.1:<port> */
  url: string;
  caPem: string;
  adminToken: string;
  /** <dir>/kubeconfig: cluster-admin (system:masters). */
  kubeconfigPath: string;
  api: Api;
  agent?: NodeAgent;
  /** Writes a kubeconfig for a bearer token (e.g. a ServiceAccount's) and returns its path. */
  kubeconfig(opts: { token: string; namespace?: string; name: string }): string;
  /** A TokenRequest token for a ServiceAccount (what a pod's projected token is). */
  serviceAccountToken(ns: string, name: string, expirationSeconds?: number): Promise<string>;
  /** Stops the agent and every process; idempotent. */
  stop(): Promise<void>;
}

/** The control plane's binaries, or undefined when `node scripts/control-plane.ts build` has not been run. */
export function controlPlaneBinaries(): Record<BinaryName, string> | undefined {
  return builtBinaries();
}

async function freePorts(n: number): Promise<number[]> {
  const servers = await Promise.all(
    Array.from(
      { length: n },
      () =>
        new Promise<import('node:net').Server>((resolve, reject) => {
          const s = createServer();
          s.once('error', reject);
          s.listen(0, '127.0.0.1', () => resolve(s));
        }),
    ),
  );
  const ports = servers.map((s) => (s.address() as import('node:net').AddressInfo).port);
  await Promise.all(servers.map((s) => new Promise((r) => s.close(r))));
  return ports;
}

export function kubeconfigYaml(
  url: string,
  caPem: string,
  token: string,
  user: string,
  namespace?: string,
): string {
  return [
    'apiVersion: v1',
    'kind: Config',
    'clusters:',
    '- name: test-bed',
    '  cluster:',
    `    server: ${url}`,
    `    certificate-authority-data: ${Buffer.from(caPem).toString('base64')}`,
    'users:',
    `- name: ${user}`,
    '  user:',
    `    token: ${token}`,
    'contexts:',
    '- name: test-bed',
    '  context:',
    '    cluster: test-bed',
    `    user: ${user}`,
    ...(namespace ? [`    namespace: ${namespace}`] : []),
    'current-context: test-bed',
    '',
  ].join('\n');
}

const live = new Set<ChildProcess>();
let exitHook = false;

/** Kills every process group still running when this Node process exits (a crashed test leaves nothing behind). */
function ensureExitHook(): void {
  if (exitHook) return;
  exitHook = true;
  process.on('exit', () => {
    for (const c of live) killGroup(c.pid, 'SIGKILL');
  });
}

function killGroup(pid: number | undefined, signal: NodeJS.Signals): boolean {
  if (!pid) return false;
  try {
    process.kill(-pid, signal);
    return true;
  } catch {
    try {
      process.kill(pid, signal);
      return true;
    } catch {
      return false;
    }
  }
}

export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Sends SIGTERM to each process group, then SIGKILL to what is left after `graceMs`; resolves when all are gone. */
export async function stopPids(pids: number[], graceMs = 5000): Promise<void> {
  for (const pid of pids) killGroup(pid, 'SIGTERM');
  const deadline = Date.now() + graceMs;
  while (pids.some(alive) && Date.now() < deadline) await sleep(50);
  for (const pid of pids.filter(alive)) killGroup(pid, 'SIGKILL');
  const hard = Date.now() + 5000;
  while (pids.some(alive) && Date.now() < hard) await sleep(50);
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** Starts a component detached in its own process group, output to <dir>/logs/<name>.log. */
export function startProcess(
  dir: string,
  name: string,
  cmd: string,
  args: string[],
  env: NodeJS.ProcessEnv = process.env,
  persist = false,
): ChildProcess {
  mkdirSync(join(dir, 'logs'), { recursive: true });
  const fd = openSync(join(dir, 'logs', `${name}.log`), 'a');
  const child = spawn(cmd, args, { cwd: dir, detached: true, stdio: ['ignore', fd, fd], env });
  closeSync(fd);
  if (!persist) {
    ensureExitHook();
    live.add(child);
    child.on('exit', () => live.delete(child));
  }
  child.unref();
  return child;
}

function logTail(dir: string, name: string): string {
  try {
    return readFileSync(join(dir, 'logs', `${name}.log`), 'utf8')
      .split('\n')
      .slice(-25)
      .join('\n');
  } catch {
    return '(no log)';
  }
}

async function waitUntil(
  what: string,
  check: () => Promise<boolean>,
  timeoutMs: number,
  failed?: () => string | undefined,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const why = failed?.();
    if (why) throw new Error(`${what}: ${why}`);
    try {
      if (await check()) return;
    } catch {
      // not yet
    }
    if (Date.now() > deadline) throw new Error(`${what}: not ready after ${timeoutMs} ms`);
    await sleep(150);
  }
}

const SAN = [
  'IP:127.0.0.1',
  'IP:10.0.0.1',
  'DNS:localhost',
  'DNS:kubernetes',
  'DNS:kubernetes.default',
  'DNS:kubernetes.default.svc',
  'DNS:kubernetes.default.svc.cluster.local',
];

/** The default admission plugins of kube-apiserver (Pod Security among them) are left on: no flag changes them. */
export async function startControlPlane(opts: ControlPlaneOptions): Promise<ControlPlane> {
  const bins = builtBinaries();
  if (!bins) throw new Error('control plane binaries not built: run `node scripts/control-plane.ts build`');
  const log = opts.log ?? (() => {});
  const timeoutMs = opts.timeoutMs ?? 90_000;
  const dir = opts.dir;
  const pki = join(dir, 'pki');
  mkdirSync(pki, { recursive: true });
  const release = pinnedRelease();

  const tls = makeServerTls('test-bed-ca', { commonName: 'kube-apiserver', days: 30, sans: SAN });
  const sa = selfSignedRsa('service-account-signer', 30);
  const w = (name: string, text: string) => {
    const p = join(pki, name);
    writeFileSync(p, text, { mode: 0o600 });
    return p;
  };
  const caFile = w('ca.crt', tls.caPem);
  const certFile = w('apiserver.crt', tls.certPem);
  const keyFile = w('apiserver.key', tls.keyPem);
  const saKey = w('sa.key', sa.keyPem);
  const token = () => randomBytes(24).toString('hex');
  const adminToken = token();
  const kcmToken = token();
  const schedToken = token();
  const tokenFile = w(
    'tokens.csv',
    [
      `${adminToken},admin,admin-uid,"system:masters"`,
      `${kcmToken},system:kube-controller-manager,kcm-uid`,
      `${schedToken},system:kube-scheduler,scheduler-uid`,
      '',
    ].join('\n'),
  );
  const [etcdClient, etcdPeer, apiPort, kcmPort, schedPort] = await freePorts(5);
  const url = `https://127.0.0.1:${apiPort}`;
  const kubeconfigPath = join(dir, 'kubeconfig');
  writeFileSync(kubeconfigPath, kubeconfigYaml(url, tls.caPem, adminToken, 'admin'), { mode: 0o600 });
  const kcmConfig = join(pki, 'controller-manager.kubeconfig');
  writeFileSync(kcmConfig, kubeconfigYaml(url, tls.caPem, kcmToken, 'kube-controller-manager'), {
    mode: 0o600,
  });
  const schedConfig = join(pki, 'scheduler.kubeconfig');
  writeFileSync(schedConfig, kubeconfigYaml(url, tls.caPem, schedToken, 'kube-scheduler'), { mode: 0o600 });

  const children = new Map<string, ChildProcess>();
  const state: ControlPlaneState = { release, url, adminToken, pids: {} };
  const saveState = () => writeFileSync(join(dir, 'state.json'), `${JSON.stringify(state, null, 2)}\n`);
  const exited = (name: string) => () => {
    const c = children.get(name);
    return c && (c.exitCode !== null || c.signalCode !== null)
      ? `${name} exited (${c.exitCode ?? c.signalCode}); log tail:\n${logTail(dir, name)}`
      : undefined;
  };
  const launch = (name: BinaryName, args: string[]) => {
    const c = startProcess(dir, name, bins[name], args, process.env, opts.persist ?? false);
    children.set(name, c);
    state.pids[name] = c.pid!;
    saveState();
    return c;
  };
  let agent: NodeAgent | undefined;
  let stopped = false;
  const stop = async () => {
    if (stopped) return;
    stopped = true;
    await agent?.stop();
    const order = ['kube-scheduler', 'kube-controller-manager', 'kube-apiserver', 'etcd'];
    for (const name of order) {
      const pid = children.get(name)?.pid;
      if (pid) await stopPids([pid]);
    }
  };

  try {
    let t0 = Date.now();
    launch('etcd', [
      '--data-dir',
      join(dir, 'etcd'),
      '--listen-client',
      `http://127.0.0.1:${etcdClient}`,
      '--listen-peer',
      `http://127.0.0.1:${etcdPeer}`,
    ]);
    await waitUntil(
      'etcd',
      async () => (await fetch(`http://127.0.0.1:${etcdClient}/health`)).ok,
      timeoutMs,
      exited('etcd'),
    );
    log(`etcd ready in ${Date.now() - t0} ms`);

    t0 = Date.now();
    launch('kube-apiserver', [
      `--etcd-servers=http://127.0.0.1:${etcdClient}`,
      '--bind-address=127.0.0.1',
      '--advertise-address=127.0.0.1',
      `--secure-port=${apiPort}`,
      `--tls-cert-file=${certFile}`,
      `--tls-private-key-file=${keyFile}`,
      `--client-ca-file=${caFile}`,
      `--token-auth-file=${tokenFile}`,
      '--authorization-mode=RBAC',
      '--anonymous-auth=false',
      '--service-account-issuer=https://kubernetes.default.svc.cluster.local',
      `--service-account-key-file=${saKey}`,
      `--service-account-signing-key-file=${saKey}`,
      '--service-cluster-ip-range=10.0.0.0/24',
      '--allow-privileged=true',
      '--profiling=false',
      `--cert-dir=${pki}`,
      '--event-ttl=1h',
      '-v=1',
    ]);
    const api = new Api({ server: url, caPem: tls.caPem, token: adminToken });
    await waitUntil(
      'kube-apiserver',
      async () => (await api.request('GET', '/readyz')).status === 200,
      timeoutMs,
      exited('kube-apiserver'),
    );
    log(`kube-apiserver ready in ${Date.now() - t0} ms at ${url}`);

    t0 = Date.now();
    launch('kube-controller-manager', [
      `--kubeconfig=${kcmConfig}`,
      `--authentication-kubeconfig=${kcmConfig}`,
      `--authorization-kubeconfig=${kcmConfig}`,
      '--bind-address=127.0.0.1',
      `--secure-port=${kcmPort}`,
      `--cert-dir=${join(pki, 'kcm')}`,
      '--leader-elect=false',
      '--use-service-account-credentials=true',
      `--service-account-private-key-file=${saKey}`,
      `--root-ca-file=${caFile}`,
      '--controllers=*',
      '--profiling=false',
      '-v=1',
    ]);
    launch('kube-scheduler', [
      `--kubeconfig=${schedConfig}`,
      `--authentication-kubeconfig=${schedConfig}`,
      `--authorization-kubeconfig=${schedConfig}`,
      '--bind-address=127.0.0.1',
      `--secure-port=${schedPort}`,
      `--cert-dir=${join(pki, 'scheduler')}`,
      '--leader-elect=false',
      '--profiling=false',
      '-v=1',
    ]);
    // The controllers work once the default ServiceAccount and the root CA ConfigMap exist in `default`.
    await waitUntil(
      'kube-controller-manager',
      async () =>
        (await api.request('GET', '/api/v1/namespaces/default/serviceaccounts/default')).status === 200 &&
        (await api.request('GET', '/api/v1/namespaces/default/configmaps/kube-root-ca.crt')).status === 200,
      timeoutMs,
      () => exited('kube-controller-manager')() ?? exited('kube-scheduler')(),
    );
    log(`kube-controller-manager and kube-scheduler up in ${Date.now() - t0} ms`);

    const cp: ControlPlane = {
      dir,
      release,
      url,
      caPem: tls.caPem,
      adminToken,
      kubeconfigPath,
      api,
      kubeconfig({ token: tok, namespace, name }) {
        const p = join(dir, `${name}.kubeconfig`);
        writeFileSync(p, kubeconfigYaml(url, tls.caPem, tok, name, namespace), { mode: 0o600 });
        return p;
      },
      async serviceAccountToken(ns, name, expirationSeconds = 3600) {
        const r = await api.request('POST', `/api/v1/namespaces/${ns}/serviceaccounts/${name}/token`, {
          apiVersion: 'authentication.k8s.io/v1',
          kind: 'TokenRequest',
          spec: { expirationSeconds },
        });
        if (r.status !== 201 && r.status !== 200)
          throw new Error(`TokenRequest ${ns}/${name}: ${r.status} ${r.text}`);
        return r.json.status.token as string;
      },
      stop,
    };
    if (opts.agent !== false) {
      t0 = Date.now();
      agent = await startNodeAgent({
        kubeletVersion: release,
        ...(opts.agent ?? {}),
        server: url,
        caPem: tls.caPem,
        token: adminToken,
      });
      cp.agent = agent;
      await agent.ready(timeoutMs);
      log(`nodes Ready in ${Date.now() - t0} ms`);
    }
    return cp;
  } catch (e) {
    await stop();
    throw e;
  }
}
