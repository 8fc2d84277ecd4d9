// Process plumbing shared by the engine harnesses: wait for an API socket to answer /_ping, stop a daemon tree, and
// remove its temp dir including the bind mounts the engines leave behind (dockerd's data-root, podman's overlay home).

import type { ChildProcess } from 'node:child_process';
import { execFileSync } from 'node:child_process';
import { readFileSync, rmSync } from 'node:fs';
import { request } from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';

/** Resolves true when GET /_ping on the socket answers 200 within `timeoutMs`; never rejects. */
export async function pingSocket(socketPath: string, timeoutMs = 1000): Promise<boolean> {
  return new Promise((resolve) => {
    const req = request({ socketPath, path: '/_ping', method: 'GET', timeout: timeoutMs }, (res) => {
      res.resume();
      resolve(res.statusCode === 200);
    });
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolve(false));
    req.end();
  });
}

/** Waits until the engine answers /_ping; rejects with the daemon's recent output when it exits or times out. */
export async function waitReady(
  name: string,
  child: ChildProcess,
  socketPath: string,
  output: () => string,
  timeoutMs = 30_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (child.exitCode !== null || child.signalCode !== null) {
      throw new Error(
        `${name} exited (${child.exitCode ?? child.signalCode}) before it was ready:\n${output()}`,
      );
    }
    if (await pingSocket(socketPath)) return;
    await sleep(50);
  }
  throw new Error(`${name} did not answer /_ping on ${socketPath} within ${timeoutMs} ms:\n${output()}`);
}

/** SIGTERM, wait up to `graceMs`, then SIGKILL; resolves once the child has exited. Never rejects. */
export async function stopChild(child: ChildProcess, graceMs = 10_000): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
  await exited;
  clearTimeout(timer);
}

/** Kills a process named by a pid file (e.g. dockerd's managed containerd) if it still runs; never throws. */
export function killPidFile(pidFile: string): void {
  try {
    const pid = Number(readFileSync(pidFile, 'utf8').trim());
    if (Number.isInteger(pid) && pid > 1) process.kill(pid, 'SIGKILL');
  } catch {
    // No file or no such process: nothing left to stop.
  }
}

/** Mount points at or under `dir`, deepest first (from /proc/self/mountinfo; octal escapes decoded). */
export function mountsUnder(dir: string): string[] {
  let info: string;
  try {
    info = readFileSync('/proc/self/mountinfo', 'utf8');
  } catch {
    return [];
  }
  const points = info
    .split('\n')
    .map((line) => line.split(' ')[4])
    .filter((p): p is string => p !== undefined)
    .map((p) => p.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(Number.parseInt(o, 8))))
    .filter((p) => p === dir || p.startsWith(`${dir}/`));
  return [...new Set(points)].sort((a, b) => b.length - a.length);
}

/** Unmounts everything under `dir` (lazily, so a busy mount cannot block) and removes it; never throws. */
export function removeTree(dir: string): void {
  for (const point of mountsUnder(dir)) {
    try {
      execFileSync('umount', ['-l', point], { stdio: 'ignore' });
    } catch {
      // Already gone, or not ours to unmount: rmSync below reports nothing either way.
    }
  }
  try {
    rmSync(dir, { recursive: true, force: true, maxRetries: 3 });
  } catch {
    // Leftovers in a temp dir are not worth failing a test's teardown for.
  }
}

/** Keeps the last `max` characters a child wrote, for error messages. */
export function captureOutput(child: ChildProcess, max = 8000): () => string {
  let buf = '';
  const add = (chunk: Buffer) => {
    buf = (buf + chunk.toString('utf8')).slice(-max);
  };
  child.stdout?.on('data', add);
  child.stderr?.on('data', add);
  return () => buf;
}
