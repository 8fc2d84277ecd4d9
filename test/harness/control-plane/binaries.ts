// The real control plane's binaries (etcd, kube-apiserver, kube-controller-manager, kube-scheduler): built from
// the Kubernetes release modules pinned in this folder's go.mod, cached outside the repository under a key made of
// the release and a hash of the build inputs, so they are rebuilt only when the pin (or the etcd main) changes.

import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { findBin } from '../require-bin.ts';

/** This Go module's folder. */
export const MODULE_DIR = fileURLToPath(new URL('.', import.meta.url));

export const BINARIES = ['etcd', 'kube-apiserver', 'kube-controller-manager', 'kube-scheduler'] as const;
export type BinaryName = (typeof BINARIES)[number];

const PACKAGES = [
  './cmd/etcd',
  'k8s.io/kubernetes/cmd/kube-apiserver',
  'k8s.io/kubernetes/cmd/kube-controller-manager',
  'k8s.io/kubernetes/cmd/kube-scheduler',
];

/** The pinned Kubernetes release, read from go.mod (`k8s.io/kubernetes vX.Y.Z`). */
export function pinnedRelease(): string {
  const mod = readFileSync(join(MODULE_DIR, 'go.mod'), 'utf8');
  const m = /^\s*k8s\.io\/kubernetes\s+(v\d+\.\d+\.\d+)\s*$/m.exec(mod);
  if (!m?.[1]) throw new Error(`no k8s.io/kubernetes requirement in ${join(MODULE_DIR, 'go.mod')}`);
  return m[1];
}

/** Version stamps a release build gets from Kubernetes' own build scripts (the /version endpoint, skew checks). */
function ldflags(release: string): string {
  const [, major, minor] = /^v(\d+)\.(\d+)\./.exec(release) ?? [];
  const stamp = (pkg: string) => [
    `-X ${pkg}.gitVersion=${release}`,
    `-X ${pkg}.gitMajor=${major}`,
    `-X ${pkg}.gitMinor=${minor}`,
    `-X ${pkg}.gitTreeState=clean`,
    `-X ${pkg}.buildDate=1970-01-01T00:00:00Z`,
  ];
  return [
    '-s',
    '-w',
    ...stamp('k8s.io/component-base/version'),
    ...stamp('k8s.io/client-go/pkg/version'),
  ].join(' ');
}

function goSources(dir: string): string[] {
  const out: string[] = [];
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) out.push(...goSources(p));
    else if (e.name.endsWith('.go')) out.push(p);
  }
  return out.sort();
}

/** The cache key: the release and a hash of go.mod, go.sum, our Go sources and the link flags. */
export function cacheKey(): string {
  const release = pinnedRelease();
  const h = createHash('sha256');
  for (const f of ['go.mod', 'go.sum', ...goSources(MODULE_DIR).map((p) => p.slice(MODULE_DIR.length))]) {
    h.update(`${f}\0`)
      .update(readFileSync(join(MODULE_DIR, f)))
      .update('\0');
  }
  h.update(ldflags(release)).update(PACKAGES.join(' '));
  return `${release}-${h.digest('hex').slice(0, 12)}`;
}

/** Where built binaries live: $K8S_AUTO_UPDATER_CP_CACHE, else ~/.cache/k8s-auto-updater/control-plane. */
export function cacheRoot(): string {
  if (process.env.K8S_AUTO_UPDATER_CP_CACHE) return process.env.K8S_AUTO_UPDATER_CP_CACHE;
  const base = process.env.XDG_CACHE_HOME || join(homedir(), '.cache');
  return join(base, 'k8s-auto-updater', 'control-plane');
}

export function binDir(): string {
  return join(cacheRoot(), cacheKey(), 'bin');
}

/** The built binaries for the current pin, or undefined when they have not been built. */
export function builtBinaries(): Record<BinaryName, string> | undefined {
  const dir = binDir();
  if (!existsSync(join(dir, '.complete'))) return undefined;
  const out = {} as Record<BinaryName, string>;
  for (const b of BINARIES) {
    const p = join(dir, b);
    if (!existsSync(p)) return undefined;
    out[b] = p;
  }
  return out;
}

function goBinary(): string {
  const go = findBin('go') ?? (existsSync('/usr/local/go/bin/go') ? '/usr/local/go/bin/go' : undefined);
  if (!go)
    throw new Error('go not found on PATH or at /usr/local/go/bin/go (the control plane is built with Go)');
  return go;
}

export interface BuildResult {
  dir: string;
  built: boolean;
  seconds: number;
}

/**
 * Builds the binaries for the current pin unless they are cached. `log` receives the go command's output.
 * Rejects with the exact command and go's output when the build fails.
 */
export async function buildBinaries(log: (line: string) => void = () => {}): Promise<BuildResult> {
  const started = Date.now();
  const dir = binDir();
  if (builtBinaries()) return { dir, built: false, seconds: 0 };
  const tmp = `${dir}.tmp-${process.pid}`;
  rmSync(tmp, { recursive: true, force: true });
  mkdirSync(tmp, { recursive: true });
  const args = ['build', '-trimpath', '-ldflags', ldflags(pinnedRelease()), '-o', `${tmp}/`, ...PACKAGES];
  log(`go ${args.map((a) => (a.includes(' ') ? `'${a}'` : a)).join(' ')}  (in ${MODULE_DIR})`);
  const output: string[] = [];
  const code = await new Promise<number>((resolve) => {
    const child = spawn(goBinary(), args, {
      cwd: MODULE_DIR,
      env: {
        ...process.env,
        GOTOOLCHAIN: 'local',
        GOFLAGS: '-mod=readonly -buildvcs=false',
        CGO_ENABLED: '0',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const onData = (b: Buffer) => {
      const text = b.toString('utf8');
      output.push(text);
      for (const line of text.split('\n')) if (line) log(line);
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    child.on('error', (e) => {
      output.push(String(e));
      resolve(127);
    });
    child.on('exit', (c) => resolve(c ?? 1));
  });
  if (code !== 0) {
    rmSync(tmp, { recursive: true, force: true });
    throw new Error(
      `go ${args.join(' ')} failed (exit ${code}) in ${MODULE_DIR}:\n${output.join('').slice(-4000)}`,
    );
  }
  writeFileSync(join(tmp, '.complete'), `${cacheKey()}\n`);
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(join(dir, '..'), { recursive: true });
  renameSync(tmp, dir);
  return { dir, built: true, seconds: Math.round((Date.now() - started) / 1000) };
}
