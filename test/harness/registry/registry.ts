// Starts the real CNCF registry (Debian's docker-registry) with a private config, storage and port, in the
// none/basic/bearer auth and plain/TLS variants.

import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { findBin } from '../require-bin.ts';
import { registryTls, registryTokenSigner } from './certs.ts';
import { fetchBuffer } from './http.ts';
import { freePort } from './ports.ts';
import { startTokenServer, type TokenServer } from './token-server.ts';
import type { Registry, RegistryOptions } from './types.ts';

const DEFAULT_USERS: Record<string, string> = { alice: 'alice-secret' };
const SERVICE = 'registry-harness';
const ISSUER = 'registry-harness-token-issuer';
const READY_TIMEOUT_MS = 15_000;

// Children still running when the process exits (a test that forgot its teardown) are killed rather than leaked.
const live = new Set<ChildProcess>();
process.once('exit', () => {
  for (const child of live) child.kill('SIGKILL');
});

/** Starts a registry; rejects when docker-registry (or openssl/htpasswd for a variant) is missing or it never gets ready. */
export async function startRegistry(opts: RegistryOptions = {}): Promise<Registry> {
  const auth = opts.auth ?? 'none';
  const users = opts.users ?? DEFAULT_USERS;
  const bin = findBin('docker-registry');
  if (bin === undefined)
    throw new Error('startRegistry: docker-registry not found (apt-get install docker-registry)');
  const first = Object.entries(users)[0];
  if (auth !== 'none' && first === undefined) throw new Error('startRegistry: auth needs at least one user');

  const dir = mkdtempSync(join(tmpdir(), 'registry-harness-'));
  let tokenServer: TokenServer | undefined;
  try {
    const tls = opts.tls ? registryTls() : undefined;
    const config: Record<string, unknown> = {
      version: 0.1,
      log: { level: 'warn', accesslog: { disabled: true } },
      storage: {
        filesystem: { rootdirectory: join(dir, 'data') },
        delete: { enabled: true },
        maintenance: { uploadpurging: { enabled: false } },
      },
      http: { secret: randomBytes(16).toString('hex') },
    };
    const http = config.http as Record<string, unknown>;
    if (tls) {
      writeFileSync(join(dir, 'server.crt'), tls.certPem);
      writeFileSync(join(dir, 'server.key'), tls.keyPem);
      http.tls = { certificate: join(dir, 'server.crt'), key: join(dir, 'server.key') };
    }
    if (auth === 'basic') {
      writeFileSync(join(dir, 'htpasswd'), htpasswd(users));
      config.auth = { htpasswd: { realm: 'registry-harness', path: join(dir, 'htpasswd') } };
    } else if (auth === 'bearer') {
      const signer = registryTokenSigner();
      writeFileSync(join(dir, 'token-signer.crt'), signer.certPem);
      tokenServer = await startTokenServer({
        signer,
        issuer: ISSUER,
        users,
        ttlSeconds: opts.tokenTtlSeconds ?? 300,
      });
      config.auth = {
        token: {
          realm: tokenServer.url,
          service: SERVICE,
          issuer: ISSUER,
          rootcertbundle: join(dir, 'token-signer.crt'),
        },
      };
    }

    const scheme = tls ? 'https' : 'http';
    const { child, port } = await launch(
      bin,
      dir,
      config,
      (port) => `${scheme}://127.0.0.1:${port}`,
      tls?.caPem,
    );
    const ts = tokenServer;
    let stopped: Promise<void> | undefined;
    const registry: Registry = {
      host: `127.0.0.1:${port}`,
      url: `${scheme}://127.0.0.1:${port}`,
      stop: () => {
        stopped ??= (async () => {
          await kill(child);
          await ts?.stop();
          rmSync(dir, { recursive: true, force: true });
        })();
        return stopped;
      },
    };
    if (tls) registry.caPem = tls.caPem;
    if (auth !== 'none' && first) registry.credentials = { username: first[0], password: first[1] };
    if (ts) registry.tokenServer = { url: ts.url, issued: ts.issued, requests: ts.requests };
    return registry;
  } catch (err) {
    await tokenServer?.stop();
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }
}

// Picks a port, starts the registry on it and waits for /v2/ to answer; retries with another port when one was
// taken between freePort() and the registry's bind.
async function launch(
  bin: string,
  dir: string,
  config: Record<string, unknown>,
  urlFor: (port: number) => string,
  ca: string | undefined,
): Promise<{ child: ChildProcess; port: number }> {
  let lastError: Error | undefined;
  for (let attempt = 0; attempt < 5; attempt++) {
    const port = await freePort();
    (config.http as Record<string, unknown>).addr = `127.0.0.1:${port}`;
    // JSON is YAML, and it saves a YAML writer.
    writeFileSync(join(dir, 'config.yml'), JSON.stringify(config, null, 2));
    const argv = [bin, 'serve', join(dir, 'config.yml')];
    // setpriv execs the registry with a parent-death signal, so a test process killed by a timeout (no 'exit'
    // event) still takes its registry down with it.
    const setpriv = findBin('setpriv');
    const [cmd, ...args] = setpriv ? [setpriv, '--pdeathsig', 'KILL', ...argv] : argv;
    const child = spawn(cmd as string, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    live.add(child);
    child.once('exit', () => live.delete(child));
    let output = '';
    const keep = (c: Buffer) => {
      output = (output + c.toString()).slice(-8192);
    };
    child.stdout?.on('data', keep);
    child.stderr?.on('data', keep);
    const ready = await waitReady(child, urlFor(port), ca);
    if (ready) return { child, port };
    await kill(child);
    lastError = new Error(
      `docker-registry did not become ready on port ${port}: ${output.trim().slice(-2000)}`,
    );
    if (!/address already in use/i.test(output)) break;
  }
  throw lastError ?? new Error('docker-registry did not start');
}

async function waitReady(child: ChildProcess, url: string, ca: string | undefined): Promise<boolean> {
  const deadline = Date.now() + READY_TIMEOUT_MS;
  while (Date.now() < deadline) {
    if (child.exitCode !== null || child.signalCode !== null) return false;
    try {
      const res = await fetchBuffer(`${url}/v2/`, { timeoutMs: 1000, ...(ca !== undefined ? { ca } : {}) });
      if (res.status === 200 || res.status === 401) return true;
    } catch {
      // not listening yet
    }
    await sleep(10);
  }
  return false;
}

function kill(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const force = setTimeout(() => child.kill('SIGKILL'), 3000);
    child.once('exit', () => {
      clearTimeout(force);
      resolve();
    });
    child.kill('SIGTERM');
  });
}

// bcrypt without a new dependency: htpasswd (apache2-utils). Cost 4, the minimum, keeps each auth check cheap.
function htpasswd(users: Record<string, string>): string {
  const bin = findBin('htpasswd');
  if (bin === undefined)
    throw new Error('startRegistry: basic auth needs htpasswd (apt-get install apache2-utils)');
  return Object.entries(users)
    .map(([user, pass]) => execFileSync(bin, ['-nbB', '-C', '4', user, pass], { encoding: 'utf8' }).trim())
    .join('\n')
    .concat('\n');
}
