// The lean kubeconfig loader: every cluster and user field it reads itself, kubectl's merge rule, the in-cluster
// service account with token rotation, and the client-node fallback for exec plugins (a real plugin is run).

import { chmodSync, renameSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { loadKubeConfig } from '../../lib/kube/config.ts';
import { inClusterConnection, rotatingToken, TOKEN_REREAD_MS } from '../../lib/kube/kubeconfig.ts';

const b64 = (s: string) => Buffer.from(s).toString('base64');

/** A one-context kubeconfig from a cluster and a user body (YAML written as JSON, which YAML reads). */
function config(cluster: object, user: object, extra: object = {}): string {
  return JSON.stringify({
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [{ name: 'c', cluster }],
    users: [{ name: 'u', user }],
    contexts: [{ name: 'x', context: { cluster: 'c', user: 'u', namespace: 'ns1' } }],
    'current-context': 'x',
    ...extra,
  });
}

t.test(
  'when the cluster gives CA data, a server name and a trailing slash then all three are used',
  async (t) => {
    const dir = t.testdir({
      cfg: config(
        {
          server: 'https://10.1.2.3:6443/',
          'certificate-authority-data': b64('CA-PEM'),
          'tls-server-name': 'api.local',
        },
        { token: 'tok' },
      ),
    });
    const c = loadKubeConfig({ kubeconfig: join(dir, 'cfg'), env: {} });
    t.equal(c.server, 'https://10.1.2.3:6443');
    t.equal(c.tls.ca?.toString(), 'CA-PEM');
    t.equal(c.tls.servername, 'api.local');
    t.equal(c.tls.rejectUnauthorized, true, 'verification is on unless the kubeconfig turns it off');
    t.equal(c.namespace, 'ns1');
    t.equal(await c.authorization(), 'Bearer tok');
    t.equal(c.agent, undefined, 'no client-node agent for a plain token');
  },
);

t.test('when file paths are relative then they are read from the kubeconfig directory', async (t) => {
  const dir = t.testdir({
    sub: {
      cfg: config(
        { server: 'https://h', 'certificate-authority': 'ca.pem' },
        { 'client-certificate': 'certs/u.crt', 'client-key': 'certs/u.key' },
      ),
      'ca.pem': 'CA-FILE',
      certs: { 'u.crt': 'CERT-FILE', 'u.key': 'KEY-FILE' },
    },
  });
  const c = loadKubeConfig({ kubeconfig: join(dir, 'sub', 'cfg'), env: {} });
  t.equal(c.tls.ca?.toString(), 'CA-FILE');
  t.equal(c.tls.cert?.toString(), 'CERT-FILE');
  t.equal(c.tls.key?.toString(), 'KEY-FILE');
  t.equal(await c.authorization(), undefined, 'a client certificate needs no header');
});

t.test('when both -data and a file are given then the data wins, as in client-go', async (t) => {
  const dir = t.testdir({
    cfg: config(
      { server: 'https://h' },
      {
        'client-certificate-data': b64('CERT-DATA'),
        'client-key-data': b64('KEY-DATA'),
        'client-key': 'nope',
      },
    ),
  });
  const c = loadKubeConfig({ kubeconfig: join(dir, 'cfg'), env: {} });
  t.equal(c.tls.cert?.toString(), 'CERT-DATA');
  t.equal(c.tls.key?.toString(), 'KEY-DATA');
});

t.test('when insecure-skip-tls-verify is true then certificate verification is off', async (t) => {
  const dir = t.testdir({ cfg: config({ server: 'https://h', 'insecure-skip-tls-verify': true }, {}) });
  t.equal(loadKubeConfig({ kubeconfig: join(dir, 'cfg'), env: {} }).tls.rejectUnauthorized, false);
});

t.test('when the user has a username and password then Basic auth is sent', async (t) => {
  const dir = t.testdir({ cfg: config({ server: 'https://h' }, { username: 'admin', password: 's3cret' }) });
  const c = loadKubeConfig({ kubeconfig: join(dir, 'cfg'), env: {} });
  t.equal(await c.authorization(), `Basic ${b64('admin:s3cret')}`);
});

t.test('when the user impersonates with `as` then the Impersonate-User header is set', async (t) => {
  const dir = t.testdir({ cfg: config({ server: 'https://h' }, { token: 't', as: 'jane' }) });
  t.same(loadKubeConfig({ kubeconfig: join(dir, 'cfg'), env: {} }).headers, { 'Impersonate-User': 'jane' });
});

t.test(
  'when the user has a tokenFile then it wins over the inline token and is re-read when it changes',
  async (t) => {
    const dir = t.testdir({
      cfg: config({ server: 'https://h' }, { token: 'inline', tokenFile: 'tok' }),
      tok: 'one\n',
    });
    const c = loadKubeConfig({ kubeconfig: join(dir, 'cfg'), env: {} });
    t.equal(await c.authorization(), 'Bearer one');
    writeFileSync(join(dir, 'tok.new'), 'rotated-two');
    renameSync(join(dir, 'tok.new'), join(dir, 'tok'));
    t.equal(await c.authorization(), 'Bearer rotated-two');
  },
);

t.test('when a referenced file cannot be read then ConfigError names it', async (t) => {
  const dir = t.testdir({ cfg: config({ server: 'https://h', 'certificate-authority': 'missing.pem' }, {}) });
  t.throws(() => loadKubeConfig({ kubeconfig: join(dir, 'cfg'), env: {} }), {
    name: 'ConfigError',
    message: new RegExp(`cluster "c": certificate-authority ${join(dir, 'missing.pem')} cannot be read`),
  });
});

t.test(
  'when the server is plain http without insecure-skip-tls-verify then ConfigError refuses it',
  async (t) => {
    const dir = t.testdir({ cfg: config({ server: 'http://10.0.0.1:8080' }, {}) });
    t.throws(() => loadKubeConfig({ kubeconfig: join(dir, 'cfg'), env: {} }), {
      name: 'ConfigError',
      message: /uses plain http.*insecure-skip-tls-verify/,
    });
  },
);

t.test('when an entry has no name or a cluster no server then the file is reported not valid', async (t) => {
  const dir = t.testdir({
    noname: JSON.stringify({ clusters: [{ cluster: { server: 'https://h' } }] }),
    noserver: JSON.stringify({ clusters: [{ name: 'c', cluster: {} }] }),
  });
  t.throws(() => loadKubeConfig({ kubeconfig: join(dir, 'noname'), env: {} }), {
    message: /is not valid: clusters\[0\]\.name is missing/,
  });
  t.throws(() => loadKubeConfig({ kubeconfig: join(dir, 'noserver'), env: {} }), {
    message: /is not valid: clusters\[0\]\.cluster\.server is missing/,
  });
});

t.test(
  'when KUBECONFIG merges files then the first definition of a cluster or user wins and current-context falls through',
  async (t) => {
    const first = {
      clusters: [{ name: 'c', cluster: { server: 'https://first' } }],
      users: [{ name: 'u', user: { token: 'first-token' } }],
    };
    const second = {
      clusters: [{ name: 'c', cluster: { server: 'https://second' } }],
      users: [{ name: 'u', user: { token: 'second-token' } }],
      contexts: [{ name: 'x', context: { cluster: 'c', user: 'u' } }],
      'current-context': 'x',
    };
    const dir = t.testdir({ one: JSON.stringify(first), two: JSON.stringify(second) });
    const c = loadKubeConfig({ env: { KUBECONFIG: `${join(dir, 'one')}:${join(dir, 'two')}` } });
    t.equal(c.server, 'https://first');
    t.equal(await c.authorization(), 'Bearer first-token');
    t.equal(c.context, 'x', 'the only current-context, from the second file');
    t.equal(c.namespace, 'default');
  },
);

t.test('when in-cluster on an IPv6 service address then the server URL brackets it', async (t) => {
  const sa = t.testdir({ token: 'tok' });
  const c = inClusterConnection(sa, 'fd00::1', '443', '');
  t.equal(c.server, 'https://[fd00::1]:443');
  t.equal(c.namespace, 'default');
  t.equal(c.tls.ca, undefined, 'no ca.crt: the system roots');
  t.equal(await c.authorization(), 'Bearer tok');
});

t.test('when the kubelet rotates the bound token then the next request carries the new one', async (t) => {
  const sa = t.testdir({ token: 'first-token', namespace: 'ops', 'ca.crt': 'CA' });
  const c = loadKubeConfig({ serviceAccountDir: sa, env: { KUBERNETES_SERVICE_HOST: '10.96.0.1' } });
  t.equal(c.server, 'https://10.96.0.1:443');
  t.equal(await c.authorization(), 'Bearer first-token');
  // The kubelet swaps a symlink atomically; a rename gives the same new-inode effect.
  writeFileSync(join(sa, 'token.tmp'), 'second-token');
  renameSync(join(sa, 'token.tmp'), join(sa, 'token'));
  t.equal(await c.authorization(), 'Bearer second-token');
});

t.test(
  'when a token file changes without any visible stat change then it is re-read after a minute',
  async (t) => {
    const dir = t.testdir({ token: 'aaaa' });
    const file = join(dir, 'token');
    let now = 1_000_000;
    const read = rotatingToken(file, () => now);
    // Whole seconds: a fractional mtime does not survive utimes exactly.
    utimesSync(file, 1_700_000_000, 1_700_000_000);
    t.equal(await read(), 'aaaa');
    writeFileSync(file, 'bbbb');
    utimesSync(file, 1_700_000_000, 1_700_000_000);
    t.equal(await read(), 'aaaa', 'same size, inode and mtime: the cached token is used');
    now += TOKEN_REREAD_MS;
    t.equal(await read(), 'bbbb');
  },
);

t.test('when the token file disappears after a successful read then the last token is kept', async (t) => {
  const dir = t.testdir({ token: 'kept' });
  const read = rotatingToken(join(dir, 'token'));
  t.equal(await read(), 'kept');
  renameSync(join(dir, 'token'), join(dir, 'gone'));
  t.equal(await read(), 'kept');
  await t.rejects(rotatingToken(join(dir, 'token'))(), { code: 'ENOENT' }, 'never read: the failure shows');
});

t.test(
  'when the user runs an exec plugin then client-node runs it and its token is the credential',
  async (t) => {
    const dir = t.testdir({
      'plugin.mjs': [
        `#!${process.execPath}`,
        'process.stdout.write(JSON.stringify({',
        "  apiVersion: 'client.authentication.k8s.io/v1', kind: 'ExecCredential',",
        "  status: { token: 'exec-' + process.env.PLUGIN_SUFFIX },",
        '}));',
        '',
      ].join('\n'),
    });
    const plugin = join(dir, 'plugin.mjs');
    chmodSync(plugin, 0o755);
    writeFileSync(
      join(dir, 'cfg'),
      config(
        { server: 'https://127.0.0.1:6443', 'insecure-skip-tls-verify': true },
        {
          exec: {
            apiVersion: 'client.authentication.k8s.io/v1',
            command: plugin,
            env: [{ name: 'PLUGIN_SUFFIX', value: 'token-42' }],
            interactiveMode: 'Never',
          },
        },
      ),
    );
    const c = loadKubeConfig({ kubeconfig: join(dir, 'cfg'), env: {} });
    t.equal(await c.authorization(), 'Bearer exec-token-42');
    t.ok(c.agent, 'client-node supplies the agent');
    t.ok(await c.agent?.());
  },
);
