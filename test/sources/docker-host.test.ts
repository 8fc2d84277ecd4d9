// --docker-host parsing: the socket, plain TCP, and TLS with the certificates read from --docker-cert-path.

import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { ConfigError } from '../../lib/shared/errors.ts';
import { describeEndpoint, parseDockerHost } from '../../lib/sources/docker-host.ts';

t.test('when the host is a unix socket then dockerode gets its path', async (t) => {
  t.same(parseDockerHost({ dockerHost: 'unix:///var/run/docker.sock' }), {
    socketPath: '/var/run/docker.sock',
  });
  t.equal(describeEndpoint({ socketPath: '/run/x.sock' }), 'unix:///run/x.sock');
});

t.test('when the unix path is relative then it is a configuration error', async (t) => {
  t.throws(() => parseDockerHost({ dockerHost: 'unix://docker.sock' }), ConfigError);
});

t.test('when the host is tcp without TLS then it is plain http on the given or default port', async (t) => {
  t.same(parseDockerHost({ dockerHost: 'tcp://10.0.0.5:2375' }), {
    host: '10.0.0.5',
    port: 2375,
    protocol: 'http',
  });
  t.same(parseDockerHost({ dockerHost: 'tcp://docker.internal' }), {
    host: 'docker.internal',
    port: 2375,
    protocol: 'http',
  });
  t.same(parseDockerHost({ dockerHost: 'tcp://[::1]:2375' }), { host: '::1', port: 2375, protocol: 'http' });
});

t.test(
  'when TLS is verified then ca, cert and key come from the cert directory and the port defaults to 2376',
  async (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'docker-certs-'));
    t.teardown(() => rmSync(dir, { recursive: true, force: true }));
    for (const f of ['ca.pem', 'cert.pem', 'key.pem']) writeFileSync(join(dir, f), `${f}-content`);
    const conn = parseDockerHost({
      dockerHost: 'tcp://engine:2376',
      dockerTlsVerify: true,
      dockerCertPath: dir,
    });
    t.match(conn, { host: 'engine', port: 2376, protocol: 'https' });
    if (!('ca' in conn)) throw new Error('no TLS material');
    t.equal(conn.ca.toString(), 'ca.pem-content');
    t.equal(conn.cert.toString(), 'cert.pem-content');
    t.equal(conn.key.toString(), 'key.pem-content');
    t.equal(describeEndpoint(conn), 'https://engine:2376', 'the description carries no key material');
    t.match(parseDockerHost({ dockerHost: 'tcp://engine', dockerTlsVerify: true, dockerCertPath: dir }), {
      port: 2376,
    });
  },
);

t.test('when a certificate file is missing then the error names it', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'docker-certs-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  writeFileSync(join(dir, 'ca.pem'), 'x');
  t.throws(
    () => parseDockerHost({ dockerHost: 'tcp://engine:2376', dockerTlsVerify: true, dockerCertPath: dir }),
    {
      name: 'ConfigError',
      message: /cert\.pem/,
    },
  );
  t.throws(() => parseDockerHost({ dockerHost: 'tcp://engine:2376', dockerTlsVerify: true }), ConfigError);
});

t.test('when the scheme is unknown or the address has a path then it is a configuration error', async (t) => {
  t.throws(() => parseDockerHost({ dockerHost: 'http://engine:2375' }), ConfigError);
  t.throws(() => parseDockerHost({ dockerHost: 'tcp://engine:2375/v1.41' }), ConfigError);
});
