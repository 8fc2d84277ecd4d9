// Starts a private dockerd (Debian's docker.io) for tests: own socket, data-root, exec-root and pidfile under a temp
// dir, no bridge/iptables so it touches nothing on the host, loopback registries allowed over plain HTTP.

import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from '../registry/ports.ts';
import { findBin } from '../require-bin.ts';
import { captureOutput, killPidFile, removeTree, stopChild, waitReady } from './process.ts';
import type { Engine, EngineOptions } from './types.ts';

// Daemons still running when the test process exits (a forgotten teardown) are killed rather than leaked.
const live = new Set<ChildProcess>();
process.once('exit', () => {
  for (const child of live) child.kill('SIGKILL');
});

/** Starts dockerd and waits for /_ping; rejects (after cleaning up) when dockerd is missing or never gets ready. */
export async function startDockerd(opts: EngineOptions = {}): Promise<Engine> {
  const bin = findBin('dockerd');
  if (bin === undefined) throw new Error('startDockerd: dockerd not found (apt-get install docker.io)');
  const dir = mkdtempSync(join(tmpdir(), 'engine-dockerd-'));
  const socketPath = join(dir, 'docker.sock');
  const execRoot = join(dir, 'exec');
  const config = {
    bridge: 'none',
    iptables: false,
    ip6tables: false,
    'ip-forward': false,
    'ip-masq': false,
    'insecure-registries': [...(opts.insecureRegistries ?? ['127.0.0.0/8'])],
    'default-ulimits': { nofile: { Name: 'nofile', Hard: 1024, Soft: 1024 } },
    'log-level': 'warn',
  };
  writeFileSync(join(dir, 'daemon.json'), JSON.stringify(config));
  const tcp: string[] = [];
  let tcpHost: string | undefined;
  if (opts.tls) {
    writeFileSync(join(dir, 'tls-ca.pem'), opts.tls.caPem);
    writeFileSync(join(dir, 'tls.crt'), opts.tls.certPem);
    writeFileSync(join(dir, 'tls.key'), opts.tls.keyPem);
    tcpHost = `tcp://127.0.0.1:${await freePort()}`;
    tcp.push('-H', tcpHost, '--tlsverify', '--tlscacert', join(dir, 'tls-ca.pem'));
    tcp.push('--tlscert', join(dir, 'tls.crt'), '--tlskey', join(dir, 'tls.key'));
  }
  const child = spawn(
    bin,
    [
      ...tcp,
      '--config-file',
      join(dir, 'daemon.json'),
      '-H',
      `unix://${socketPath}`,
      '--data-root',
      join(dir, 'data'),
      '--exec-root',
      execRoot,
      '--pidfile',
      join(dir, 'docker.pid'),
    ],
    // A PATH with sbin: dockerd starts containerd and runc by name.
    {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, PATH: `${process.env.PATH ?? ''}:/usr/sbin:/sbin` },
    },
  );
  live.add(child);
  const output = captureOutput(child);
  let stopped: Promise<void> | undefined;
  const stop = (): Promise<void> => {
    stopped ??= (async () => {
      await stopChild(child);
      live.delete(child);
      // dockerd stops its managed containerd on SIGTERM, but not when it had to be killed.
      killPidFile(join(execRoot, 'containerd', 'containerd.pid'));
      removeTree(dir);
    })();
    return stopped;
  };
  try {
    await waitReady('dockerd', child, socketPath, output);
  } catch (err) {
    await stop();
    throw err;
  }
  return { kind: 'dockerd', socketPath, host: `unix://${socketPath}`, ...(tcpHost ? { tcpHost } : {}), stop };
}
