import { join } from 'node:path';
import t from 'tap';
import { loadKubeConfig, selfPod } from '../../lib/kube/config.ts';
import { ConfigError } from '../../lib/shared/errors.ts';

function kubeconfig(opts: {
  current?: string;
  contexts: { name: string; namespace?: string; cluster?: string }[];
  server?: string;
}) {
  const ctx = opts.contexts
    .map(
      (c) =>
        `- name: ${c.name}\n  context:\n    cluster: ${c.cluster ?? 'c1'}\n    user: u1${c.namespace ? `\n    namespace: ${c.namespace}` : ''}`,
    )
    .join('\n');
  return [
    'apiVersion: v1',
    'kind: Config',
    'clusters:',
    '- name: c1',
    '  cluster:',
    `    server: ${opts.server ?? 'https://127.0.0.1:6443'}`,
    '    insecure-skip-tls-verify: true',
    'users:',
    '- name: u1',
    '  user:',
    '    token: tok',
    'contexts:',
    ctx,
    ...(opts.current !== undefined ? [`current-context: ${opts.current}`] : []),
    '',
  ].join('\n');
}

// t.testdir() gives one directory per test: every file a test needs goes into that one call.

t.test(
  'when --kubeconfig is given then it wins over KUBECONFIG and the context namespace is used',
  async (t) => {
    const dir = t.testdir({
      flag: kubeconfig({ current: 'a', contexts: [{ name: 'a', namespace: 'shop' }] }),
      env: kubeconfig({ current: 'b', contexts: [{ name: 'b', namespace: 'blog' }] }),
    });
    const r = loadKubeConfig({
      kubeconfig: join(dir, 'flag'),
      env: { KUBECONFIG: join(dir, 'env') },
      homeDir: join(dir, 'nohome'),
    });
    t.equal(r.source, 'kubeconfig');
    t.equal(r.namespace, 'shop');
    t.equal(r.context, 'a');
  },
);

t.test(
  'when only KUBECONFIG is set then it is used, and a context without namespace means default',
  async (t) => {
    const dir = t.testdir({ env: kubeconfig({ current: 'b', contexts: [{ name: 'b' }] }) });
    const r = loadKubeConfig({ env: { KUBECONFIG: join(dir, 'env') }, homeDir: join(dir, 'nohome') });
    t.equal(r.namespace, 'default');
    t.equal(r.server, 'https://127.0.0.1:6443');
  },
);

t.test(
  'when KUBECONFIG lists several files then they merge and the first current-context wins',
  async (t) => {
    const dir = t.testdir({
      one: kubeconfig({ current: 'a', contexts: [{ name: 'a', namespace: 'one' }] }),
      two: kubeconfig({
        current: 'b',
        contexts: [
          { name: 'b', namespace: 'two' },
          { name: 'a', namespace: 'ignored' },
        ],
      }),
    });
    const r = loadKubeConfig({
      env: { KUBECONFIG: `${join(dir, 'one')}:${join(dir, 'two')}` },
      homeDir: join(dir, 'nohome'),
    });
    t.equal(r.context, 'a');
    t.equal(r.namespace, 'one', "the second file's context a is ignored");
    const b = loadKubeConfig({
      env: { KUBECONFIG: `${join(dir, 'one')}:${join(dir, 'two')}` },
      context: 'b',
      homeDir: join(dir, 'nohome'),
    });
    t.equal(b.namespace, 'two', 'a context only the second file defines is available');
  },
);

t.test('when --context names a context then it is selected', async (t) => {
  const dir = t.testdir({
    cfg: kubeconfig({ current: 'a', contexts: [{ name: 'a' }, { name: 'b', namespace: 'blog' }] }),
  });
  const r = loadKubeConfig({ kubeconfig: join(dir, 'cfg'), context: 'b', homeDir: join(dir, 'nohome') });
  t.equal(r.context, 'b');
  t.equal(r.namespace, 'blog');
});

t.test(
  'when --context names an unknown context then ConfigError names it, the file and the available ones',
  async (t) => {
    const dir = t.testdir({ cfg: kubeconfig({ current: 'a', contexts: [{ name: 'a' }, { name: 'b' }] }) });
    const file = join(dir, 'cfg');
    t.throws(() => loadKubeConfig({ kubeconfig: file, context: 'prod', homeDir: join(dir, 'nohome') }), {
      name: 'ConfigError',
      message: new RegExp(`context "prod" not found in kubeconfig ${file}; available contexts: a, b`),
    });
  },
);

t.test(
  'when the file has no current-context and none is given then ConfigError asks for --context',
  async (t) => {
    const dir = t.testdir({ cfg: kubeconfig({ contexts: [{ name: 'a' }] }) });
    t.throws(() => loadKubeConfig({ kubeconfig: join(dir, 'cfg'), homeDir: join(dir, 'nohome') }), {
      message: /has no current-context; available contexts: a\. Pass --context/,
    });
  },
);

t.test('when the context refers to an undefined cluster then ConfigError names both', async (t) => {
  const dir = t.testdir({ cfg: kubeconfig({ current: 'a', contexts: [{ name: 'a', cluster: 'nowhere' }] }) });
  t.throws(() => loadKubeConfig({ kubeconfig: join(dir, 'cfg'), homeDir: join(dir, 'nohome') }), {
    message: /context "a" refers to cluster "nowhere"/,
  });
});

t.test(
  'when the kubeconfig file does not exist then ConfigError names the file and where it came from',
  async (t) => {
    const dir = t.testdir({});
    const err = (() => {
      try {
        loadKubeConfig({ env: { KUBECONFIG: join(dir, 'missing') }, homeDir: dir });
      } catch (e) {
        return e;
      }
    })();
    t.type(err, ConfigError);
    t.match((err as Error).message, `kubeconfig ${join(dir, 'missing')} (from KUBECONFIG) does not exist`);
    t.equal((err as ConfigError).exitCode, 2);
  },
);

t.test('when the kubeconfig is not valid YAML then ConfigError says so', async (t) => {
  const dir = t.testdir({ cfg: 'clusters: [unclosed' });
  t.throws(() => loadKubeConfig({ kubeconfig: join(dir, 'cfg'), homeDir: dir }), {
    name: 'ConfigError',
    message: /is not valid/,
  });
});

t.test('when running in a pod then the service account is used with its namespace and token', async (t) => {
  const dir = t.testdir({
    sa: { token: 'sa-token-123', namespace: 'updater\n', 'ca.crt': 'not-a-real-ca' },
    home: { '.kube': { config: kubeconfig({ current: 'a', contexts: [{ name: 'a' }] }) } },
  });
  const sa = join(dir, 'sa');
  const home = join(dir, 'home');
  const r = loadKubeConfig({
    serviceAccountDir: sa,
    env: { KUBERNETES_SERVICE_HOST: '10.0.0.1', KUBERNETES_SERVICE_PORT: '443' },
    homeDir: home,
  });
  t.equal(r.source, 'in-cluster');
  t.equal(r.namespace, 'updater', 'trailing newline trimmed');
  t.equal(r.server, 'https://10.0.0.1:443');
  t.equal(r.tls.ca?.toString(), 'not-a-real-ca');
  t.equal(r.tls.rejectUnauthorized, true);
  t.equal(await r.authorization(), 'Bearer sa-token-123');
});

t.test('when KUBECONFIG is set inside a pod then the file wins over the service account', async (t) => {
  const dir = t.testdir({
    sa: { token: 'sa-token', namespace: 'updater' },
    cfg: kubeconfig({ current: 'a', contexts: [{ name: 'a' }] }),
  });
  const sa = join(dir, 'sa');
  const r = loadKubeConfig({
    serviceAccountDir: sa,
    env: { KUBERNETES_SERVICE_HOST: '10.0.0.1', KUBECONFIG: join(dir, 'cfg') },
  });
  t.equal(r.source, 'kubeconfig');
});

t.test('when the service host is set but no token is mounted then ~/.kube/config is used', async (t) => {
  const dir = t.testdir({
    sa: {},
    home: { '.kube': { config: kubeconfig({ current: 'a', contexts: [{ name: 'a', namespace: 'home' }] }) } },
  });
  const sa = join(dir, 'sa');
  const home = join(dir, 'home');
  const r = loadKubeConfig({
    serviceAccountDir: sa,
    env: { KUBERNETES_SERVICE_HOST: '10.0.0.1' },
    homeDir: home,
  });
  t.equal(r.source, 'kubeconfig');
  t.equal(r.namespace, 'home');
});

t.test('when in-cluster is forced but no token is mounted then ConfigError says how to fix it', async (t) => {
  const sa = t.testdir({});
  t.throws(
    () =>
      loadKubeConfig({
        inCluster: true,
        serviceAccountDir: sa,
        env: { KUBERNETES_SERVICE_HOST: '10.0.0.1' },
      }),
    {
      message: /automountServiceAccountToken/,
    },
  );
});

t.test('when in-cluster is disabled then a mounted token is ignored', async (t) => {
  const dir = t.testdir({
    sa: { token: 'x', namespace: 'updater' },
    home: { '.kube': { config: kubeconfig({ current: 'a', contexts: [{ name: 'a' }] }) } },
  });
  const sa = join(dir, 'sa');
  const home = join(dir, 'home');
  const r = loadKubeConfig({
    inCluster: false,
    serviceAccountDir: sa,
    env: { KUBERNETES_SERVICE_HOST: '10.0.0.1' },
    homeDir: home,
  });
  t.equal(r.source, 'kubeconfig');
});

t.test('when no configuration exists anywhere then ConfigError lists what was tried', async (t) => {
  const empty = t.testdir({ sa: {} });
  t.throws(() => loadKubeConfig({ serviceAccountDir: join(empty, 'sa'), env: {}, homeDir: empty }), {
    name: 'ConfigError',
    message: /no Kubernetes configuration found.*--kubeconfig/,
  });
});

t.test('when the downward API gives POD_NAME and POD_NAMESPACE then selfPod uses them', async (t) => {
  t.same(selfPod({ source: 'kubeconfig', namespace: 'x' }, { POD_NAME: 'updater-1', POD_NAMESPACE: 'ops' }), {
    name: 'updater-1',
    namespace: 'ops',
  });
});

t.test(
  'when in-cluster without the downward API then selfPod is HOSTNAME in the service account namespace',
  async (t) => {
    t.same(selfPod({ source: 'in-cluster', namespace: 'ops' }, { HOSTNAME: 'updater-29371-abc' }), {
      name: 'updater-29371-abc',
      namespace: 'ops',
    });
  },
);

t.test(
  'when outside a cluster without POD_NAME then selfPod is unknown (a laptop hostname is not a pod)',
  async (t) => {
    t.equal(selfPod({ source: 'kubeconfig', namespace: 'default' }, { HOSTNAME: 'laptop' }), undefined);
  },
);
