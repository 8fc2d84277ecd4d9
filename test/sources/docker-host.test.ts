// --docker-host parsing: the socket, plain TCP (refused without --docker-allow-plaintext), and TLS with the
// certificates read from --docker-cert-path.

import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import t from 'tap';
import { ConfigError } from '../../lib/shared/errors.ts';
import { createLogger } from '../../lib/shared/log.ts';
import { createDockerSource } from '../../lib/sources/docker.ts';
import { describeEndpoint, isPlaintextTcp, parseDockerHost } from '../../lib/sources/docker-host.ts';

t.test('when the host is a unix socket then dockerode gets its path', async (t) => {
  t.same(parseDockerHost({ dockerHost: 'unix:///var/run/docker.sock' }), {
    socketPath: '/var/run/docker.sock',
  });
  t.equal(describeEndpoint({ socketPath: '/run/x.sock' }), 'unix:///run/x.sock');
});

t.test('when the unix path is relative then it is a configuration error', async (t) => {
  t.throws(() => parseDockerHost({ dockerHost: 'unix://docker.sock' }), ConfigError);
});

t.test(
  'when the host is tcp without TLS and without the opt-in then it is refused naming the fix',
  async (t) => {
    t.throws(() => parseDockerHost({ dockerHost: 'tcp://10.0.0.5:2375' }), {
      name: 'ConfigError',
      message:
        /^--docker-host \(AUTO_UPDATER_DOCKER_HOST\): "tcp:\/\/10\.0\.0\.5:2375" without TLS would send the pods' pull secrets in clear \(X-Registry-Auth\); set --docker-tls-verify with --docker-cert-path, or --docker-allow-plaintext/,
    });
    t.throws(
      () => parseDockerHost({ dockerHost: 'tcp://docker.internal', dockerAllowPlaintext: false }),
      ConfigError,
    );
  },
);

t.test(
  'when plain tcp is explicitly allowed then it is plain http on the given or default port',
  async (t) => {
    const allow = { dockerAllowPlaintext: true };
    const conn = parseDockerHost({ dockerHost: 'tcp://10.0.0.5:2375', ...allow });
    t.same(conn, { host: '10.0.0.5', port: 2375, protocol: 'http' });
    t.equal(isPlaintextTcp(conn), true);
    t.same(parseDockerHost({ dockerHost: 'tcp://docker.internal', ...allow }), {
      host: 'docker.internal',
      port: 2375,
      protocol: 'http',
    });
    t.same(parseDockerHost({ dockerHost: 'tcp://[::1]:2375', ...allow }), {
      host: '::1',
      port: 2375,
      protocol: 'http',
    });
    t.equal(
      isPlaintextTcp({ socketPath: '/run/docker.sock' }),
      false,
      'a local socket never crosses a network',
    );
  },
);

t.test('when a cert path is given without TLS verification then it is refused, not ignored', async (t) => {
  t.throws(
    () =>
      parseDockerHost({
        dockerHost: 'tcp://engine:2376',
        dockerCertPath: '/certs',
        dockerAllowPlaintext: true,
      }),
    {
      name: 'ConfigError',
      message: /^--docker-cert-path \(AUTO_UPDATER_DOCKER_CERT_PATH\) is set but --docker-tls-verify is not/,
    },
  );
  t.throws(
    () => parseDockerHost({ dockerHost: 'unix:///var/run/docker.sock', dockerCertPath: '/certs' }),
    ConfigError,
  );
});

t.test(
  'when the docker source is built for an allowed plain tcp engine then it warns exactly once, before any call',
  async (t) => {
    const lines: string[] = [];
    const stream = new Writable({
      write(chunk, _enc, cb) {
        lines.push(...chunk.toString().split('\n').filter(Boolean));
        cb();
      },
    });
    const logger = await createLogger({ level: 'debug', format: 'json', stream });
    const noSecrets = { forPod: async () => ({ secrets: [], warnings: [] }) };
    const source = createDockerSource(
      {
        dockerHost: 'tcp://127.0.0.1:9',
        dockerTlsVerify: false,
        dockerAllowPlaintext: true,
        registryConcurrency: 1,
      },
      { logger, pullSecrets: noSecrets },
    );
    t.equal(source.endpoint, 'http://127.0.0.1:9');
    const warnings = lines.map((l) => JSON.parse(l)).filter((l) => l.level === 40);
    t.equal(warnings.length, 1);
    t.match(warnings[0].msg, /plain tcp:\/\/: the pods' pull secrets cross the network in clear/);
    await source.resolve([], new Map());
    t.equal(lines.length, 1, 'nothing more is logged by a run without candidates');
    t.throws(
      () =>
        createDockerSource(
          { dockerHost: 'tcp://127.0.0.1:9', dockerTlsVerify: false, registryConcurrency: 1 },
          { logger, pullSecrets: noSecrets },
        ),
      ConfigError,
      'without the opt-in the source is not built',
    );
  },
);

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
