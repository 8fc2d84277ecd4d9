// Starts a private `podman system service` (the Docker-compatible API) for tests: its own containers.conf,
// registries.conf and storage.conf under a temp dir, runc as the runtime, loopback registries over plain HTTP.

import { type ChildProcess, spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, statfsSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { findBin } from '../require-bin.ts';
import { captureOutput, removeTree, stopChild, waitReady } from './process.ts';
import type { Engine, EngineOptions } from './types.ts';

const live = new Set<ChildProcess>();
process.once('exit', () => {
  for (const child of live) child.kill('SIGKILL');
});

const toml = (s: string) => JSON.stringify(s);
const OVERLAYFS_MAGIC = 0x794c7630;

// overlay on overlay fails (a CI job inside a container): fall back to vfs there, which works anywhere.
function storageDriver(dir: string): 'overlay' | 'vfs' {
  try {
    return statfsSync(dir).type === OVERLAYFS_MAGIC ? 'vfs' : 'overlay';
  } catch {
    return 'overlay';
  }
}

/** Starts podman's API service and waits for /_ping; rejects (after cleaning up) when podman is missing or fails. */
export async function startPodman(opts: EngineOptions = {}): Promise<Engine> {
  const bin = findBin('podman');
  if (bin === undefined) throw new Error('startPodman: podman not found (apt-get install podman)');
  const dir = mkdtempSync(join(tmpdir(), 'engine-podman-'));
  const socketPath = join(dir, 'podman.sock');
  const storage = join(dir, 'storage');
  for (const d of ['tmp', 'net', 'xdg']) mkdirSync(join(dir, d));
  writeFileSync(
    join(dir, 'storage.conf'),
    `[storage]\ndriver = "${storageDriver(dir)}"\ngraphroot = ${toml(storage)}\nrunroot = ${toml(join(dir, 'run'))}\n`,
  );
  writeFileSync(
    join(dir, 'containers.conf'),
    [
      '[containers]',
      'default_ulimits = ["nofile=1024:1024"]',
      'netns = "none"',
      '[engine]',
      // crun is not installed on Debian with podman by default here; runc is (via docker.io).
      'runtime = "runc"',
      'cgroup_manager = "cgroupfs"',
      'events_logger = "file"',
      `events_logfile_path = ${toml(join(dir, 'events.log'))}`,
      `tmp_dir = ${toml(join(dir, 'tmp'))}`,
      `static_dir = ${toml(join(storage, 'libpod'))}`,
      `volume_path = ${toml(join(storage, 'volumes'))}`,
      '[network]',
      `network_config_dir = ${toml(join(dir, 'net'))}`,
      '',
    ].join('\n'),
  );
  // registries.conf matches locations by prefix up to ':' or '/', so "127.0.0.1" covers every port (podman 4.x).
  const insecure = opts.insecureRegistries ?? ['127.0.0.1', 'localhost'];
  writeFileSync(
    join(dir, 'registries.conf'),
    [
      'unqualified-search-registries = []',
      ...insecure.map((loc) => `[[registry]]\nlocation = ${toml(loc)}\ninsecure = true`),
      '',
    ].join('\n'),
  );
  const child = spawn(bin, ['system', 'service', '--time=0', `unix://${socketPath}`], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: {
      ...process.env,
      PATH: `${process.env.PATH ?? ''}:/usr/sbin:/sbin`,
      CONTAINERS_CONF: join(dir, 'containers.conf'),
      CONTAINERS_REGISTRIES_CONF: join(dir, 'registries.conf'),
      CONTAINERS_STORAGE_CONF: join(dir, 'storage.conf'),
      XDG_RUNTIME_DIR: join(dir, 'xdg'),
      // No ~/.docker/config.json or auth.json of the host may supply credentials to the tests' pulls.
      REGISTRY_AUTH_FILE: join(dir, 'auth.json'),
      DOCKER_CONFIG: join(dir, 'docker-config'),
    },
  });
  live.add(child);
  const output = captureOutput(child);
  let stopped: Promise<void> | undefined;
  const stop = (): Promise<void> => {
    stopped ??= (async () => {
      await stopChild(child);
      live.delete(child);
      // c/storage leaves its overlay home bind-mounted: removeTree unmounts it first.
      removeTree(dir);
    })();
    return stopped;
  };
  try {
    await waitReady('podman', child, socketPath, output);
  } catch (err) {
    await stop();
    throw err;
  }
  return { kind: 'podman', socketPath, host: `unix://${socketPath}`, stop };
}
