// Turns --docker-host (+ --docker-tls-verify, --docker-cert-path) into dockerode connection options, the way the
// docker CLI reads DOCKER_HOST / DOCKER_TLS_VERIFY / DOCKER_CERT_PATH. Stricter than the CLI: a tcp:// engine
// without TLS is refused unless --docker-allow-plaintext says so, because every pull carries the pods' pull
// secrets in its X-Registry-Auth header.

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { DockerOptions } from 'dockerode';
import { ConfigError } from '../shared/errors.ts';

export interface DockerHostConfig {
  dockerHost: string;
  dockerTlsVerify?: boolean | undefined;
  dockerCertPath?: string | undefined;
  /** Accept tcp:// without TLS (pull secrets in clear); false by default. */
  dockerAllowPlaintext?: boolean | undefined;
}

/** The connection part of dockerode's options (no secrets besides the TLS key, which is never logged). */
export type EngineConnection =
  | { socketPath: string }
  | { host: string; port: number; protocol: 'http' }
  | { host: string; port: number; protocol: 'https'; ca: Buffer; cert: Buffer; key: Buffer };

const DEFAULT_TCP_PORT = 2375;
const DEFAULT_TLS_PORT = 2376;

/**
 * Parses `unix:///path`, `npipe:////./pipe/name` or `tcp://host[:port]`; with TLS verification reads ca.pem,
 * cert.pem and key.pem from the cert directory. Throws ConfigError naming the flag or file when unusable, when a
 * cert path is given without --docker-tls-verify, and for plain tcp:// without --docker-allow-plaintext.
 */
export function parseDockerHost(c: DockerHostConfig): EngineConnection {
  const raw = c.dockerHost.trim();
  if (c.dockerCertPath && !c.dockerTlsVerify) {
    throw new ConfigError(
      '--docker-cert-path (AUTO_UPDATER_DOCKER_CERT_PATH) is set but --docker-tls-verify is not: the certificates would be ignored; set --docker-tls-verify (AUTO_UPDATER_DOCKER_TLS_VERIFY) or drop the cert path',
    );
  }
  if (raw.startsWith('unix://')) {
    const socketPath = raw.slice('unix://'.length);
    if (!socketPath.startsWith('/')) {
      throw new ConfigError(`--docker-host: "${raw}" must be unix:///absolute/path/to/docker.sock`);
    }
    return { socketPath };
  }
  if (raw.startsWith('npipe://')) return { socketPath: raw.slice('npipe:'.length).replace(/^\/\/\/?/, '//') };
  if (!raw.startsWith('tcp://')) {
    throw new ConfigError(`--docker-host: "${raw}" must be unix:///path/to/docker.sock or tcp://host:port`);
  }
  let url: URL;
  try {
    url = new URL(`http://${raw.slice('tcp://'.length)}`);
  } catch (cause) {
    throw new ConfigError(`--docker-host: "${raw}" is not tcp://host:port`, { cause });
  }
  if (url.hostname === '' || (url.pathname !== '/' && url.pathname !== '')) {
    throw new ConfigError(`--docker-host: "${raw}" is not tcp://host:port`);
  }
  const host = url.hostname.replace(/^\[(.*)\]$/, '$1');
  if (!c.dockerTlsVerify) {
    if (!c.dockerAllowPlaintext) {
      throw new ConfigError(
        `--docker-host (AUTO_UPDATER_DOCKER_HOST): "${raw}" without TLS would send the pods' pull secrets in clear (X-Registry-Auth); set --docker-tls-verify with --docker-cert-path, or --docker-allow-plaintext (AUTO_UPDATER_DOCKER_ALLOW_PLAINTEXT) if the link is private anyway`,
      );
    }
    return { host, port: url.port ? Number(url.port) : DEFAULT_TCP_PORT, protocol: 'http' };
  }
  if (!c.dockerCertPath) {
    throw new ConfigError(
      '--docker-tls-verify needs --docker-cert-path (a directory with ca.pem, cert.pem, key.pem)',
    );
  }
  const dir = c.dockerCertPath;
  const read = (name: string): Buffer => {
    try {
      return readFileSync(join(dir, name));
    } catch (cause) {
      throw new ConfigError(`--docker-cert-path: cannot read ${join(dir, name)}`, { cause });
    }
  };
  return {
    host,
    port: url.port ? Number(url.port) : DEFAULT_TLS_PORT,
    protocol: 'https',
    ca: read('ca.pem'),
    cert: read('cert.pem'),
    key: read('key.pem'),
  };
}

/** dockerode options for a connection. */
export function dockerodeOptions(conn: EngineConnection): DockerOptions {
  return { ...conn };
}

/** Whether pulls through this connection would carry credentials in clear over a network (plain tcp://). */
export function isPlaintextTcp(conn: EngineConnection): boolean {
  return 'protocol' in conn && conn.protocol === 'http';
}

/** A description of the endpoint for messages and logs (never includes key material). */
export function describeEndpoint(conn: EngineConnection): string {
  return 'socketPath' in conn ? `unix://${conn.socketPath}` : `${conn.protocol}://${conn.host}:${conn.port}`;
}
