// `npm run bench`: the digest-mode benchmark. Builds a simulated cluster of 5,000 running pods over 500 unique image
// references in several repositories of a real Bearer-auth registry with 50 ms injected in front of it, runs the
// bundled CLI (`--dry-run`, all namespaces) as its own process, and prints one JSON object of figures measured in
// this same run, with the targets. Environment: BENCH_PODS, BENCH_REFS, BENCH_REPOS, BENCH_RTT_MS,
// BENCH_CONCURRENCY, BENCH_SERIAL_SAMPLE (pods timed for the serial baseline; "all" for every pod).

import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import net from 'node:net';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { CoreV1Api, KubeConfig } from '@kubernetes/client-node';
import { parseImageReference } from '../lib/image/reference.ts';
import { RegistryClient } from '../lib/registry/client.ts';
import { runningPod } from '../test/harness/kube-sim/fixtures.ts';
import { startCluster } from '../test/harness/kube-sim/index.ts';
import { pushImage, startFaultProxy, startRegistry } from '../test/harness/registry/index.ts';
import { haveBin } from '../test/harness/require-bin.ts';
import { bundle } from './build.ts';
import { NODE_ENV as IMAGE_NODE_ENV, NODE_FLAGS as IMAGE_NODE_FLAGS } from './runtime-flags.ts';

const root = fileURLToPath(new URL('..', import.meta.url));
const num = (name: string, d: number) => Number(process.env[name] ?? d);
const PODS = num('BENCH_PODS', 5000);
const REFS = num('BENCH_REFS', 500);
const REPOS = num('BENCH_REPOS', 10);
const RTT = num('BENCH_RTT_MS', 50);
const CONCURRENCY = num('BENCH_CONCURRENCY', 8);
const SAMPLE = process.env.BENCH_SERIAL_SAMPLE === 'all' ? PODS : num('BENCH_SERIAL_SAMPLE', 250);
const NAMESPACES = 5;
/** Node flags for the measured process: the image's own, or BENCH_NODE_FLAGS for experiments. */
const NODE_FLAGS =
  process.env.BENCH_NODE_FLAGS !== undefined
    ? process.env.BENCH_NODE_FLAGS.split(' ').filter(Boolean)
    : [...IMAGE_NODE_FLAGS];
const log = (s: string) => process.stderr.write(`bench: ${s}\n`);

if (!haveBin('docker-registry')) {
  process.stderr.write('bench: needs Debian docker-registry (apt-get install docker-registry)\n');
  process.exit(2);
}

/** A TCP relay in front of the API server that remembers when the first connection arrived. */
async function firstConnectionProbe(
  port: number,
): Promise<{ port: number; first(): number | undefined; close(): void }> {
  let first: number | undefined;
  const server = net.createServer((c) => {
    first ??= performance.now();
    const up = net.connect(port, '127.0.0.1');
    c.pipe(up).pipe(c);
    up.on('error', () => c.destroy());
    c.on('error', () => up.destroy());
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    port: (server.address() as net.AddressInfo).port,
    first: () => first,
    close: () => server.close(),
  };
}

interface Proc {
  code: number;
  wallMs: number;
  stdout: string;
  stderr: string;
  startMs: number;
  maxRssKb?: number;
}

/** Spawns node with the bundled CLI; peak RSS comes from the child's own getrusage at exit (--import preload). */
function runNode(args: string[], env: NodeJS.ProcessEnv = {}): Promise<Proc> {
  const rssFile = join(root, '.bench-tmp', `rss-${process.pid}-${Math.random().toString(36).slice(2)}`);
  const preload = `data:text/javascript,${encodeURIComponent(
    `import { writeFileSync } from 'node:fs'; process.on('exit', () => writeFileSync(${JSON.stringify(rssFile)}, String(process.resourceUsage().maxRSS)));`,
  )}`;
  return new Promise((resolve, reject) => {
    const startMs = performance.now();
    const child = spawn(
      process.execPath,
      [...NODE_FLAGS, '--import', preload, join(root, 'bin', 'k8s-auto-updater.js'), ...args],
      {
        env: { ...process.env, ...IMAGE_NODE_ENV, ...env },
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (b) => out.push(b));
    child.stderr.on('data', (b) => err.push(b));
    child.on('error', reject);
    child.on('exit', async (code) => {
      const wallMs = performance.now() - startMs;
      let maxRssKb: number | undefined;
      try {
        const { readFileSync, rmSync } = await import('node:fs');
        maxRssKb = Number(readFileSync(rssFile, 'utf8'));
        rmSync(rssFile);
      } catch {
        maxRssKb = undefined;
      }
      resolve({
        code: code ?? 1,
        wallMs,
        startMs,
        stdout: Buffer.concat(out).toString(),
        stderr: Buffer.concat(err).toString(),
        ...(maxRssKb ? { maxRssKb } : {}),
      });
    });
  });
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

const { mkdirSync } = await import('node:fs');
mkdirSync(join(root, '.bench-tmp'), { recursive: true });
log('bundling the CLI');
await bundle();

const registry = await startRegistry({ auth: 'bearer' });
const proxy = await startFaultProxy(registry, { fault: { latencyMs: RTT } });
const cluster = await startCluster({ controllers: false });
const cleanup = async () => {
  await cluster.stop();
  await proxy.stop();
  await registry.stop();
};

try {
  log(`pushing ${REFS} images into ${REPOS} repositories`);
  const refs: Array<{ repo: string; tag: string; digest: string }> = [];
  for (let i = 0; i < REFS; i += 20) {
    const batch = [];
    for (let j = i; j < Math.min(REFS, i + 20); j++) {
      const repo = `bench/repo${j % REPOS}`;
      const tag = `v${Math.floor(j / REPOS)}`;
      batch.push(
        pushImage(registry, repo, tag, { format: 'docker', seed: `seed-${j}` }).then((p) => ({
          repo,
          tag,
          digest: p.digest,
        })),
      );
    }
    refs.push(...(await Promise.all(batch)));
  }
  log(
    `creating ${PODS} running pods (${PODS / REFS} per reference, one ReplicaSet each) in ${NAMESPACES} namespaces`,
  );
  const store = cluster.store;
  for (let n = 0; n < NAMESPACES; n++) store.create('/namespaces', { metadata: { name: `bench-${n}` } });
  const podsPerRef = Math.ceil(PODS / REFS);
  let created = 0;
  for (let r = 0; r < refs.length && created < PODS; r++) {
    const ref = refs[r]!;
    const ns = `bench-${r % NAMESPACES}`;
    const image = `${proxy.host}/${ref.repo}:${ref.tag}`;
    const rs = store.create('apps/replicasets', {
      metadata: { name: `w${r}`, namespace: ns },
      spec: {
        replicas: podsPerRef,
        selector: { matchLabels: { app: `w${r}` } },
        template: { metadata: { labels: { app: `w${r}` } }, spec: { containers: [{ name: 'app', image }] } },
      },
    });
    // One pod in ten runs an older digest: the plan has stale pods (a dry run evicts none).
    for (let k = 0; k < podsPerRef && created < PODS; k++, created++) {
      const digest = k === 0 && r % 10 === 0 ? `sha256:${'0'.repeat(64)}` : ref.digest;
      runningPod(store, `w${r}-${k}`, ns, image, `${proxy.host}/${ref.repo}@${digest}`, {
        owner: rs,
        imagePullPolicy: 'Always',
        labels: { app: `w${r}` },
      });
    }
  }
  for (let n = 0; n < NAMESPACES; n++) {
    if (!store.get('/serviceaccounts', `bench-${n}`, 'default')) {
      store.create('/serviceaccounts', { metadata: { name: 'default', namespace: `bench-${n}` } });
    }
  }

  // The round trip as the client sees it: median of sequential HEADs through the latency proxy.
  const client = new RegistryClient({ insecureRegistries: [proxy.host], concurrencyPerRegistry: 1 });
  const sampleRef = parseImageReference(`${proxy.host}/${refs[0]!.repo}:${refs[0]!.tag}`);
  await client.resolve(sampleRef, []);
  const rtts: number[] = [];
  for (let i = 0; i < 9; i++) {
    const t0 = performance.now();
    await client.resolve(sampleRef, []);
    rtts.push(performance.now() - t0);
  }
  const rttMs = median(rtts);

  // Pod listing as the CLI does it (client-node, pages of 500), timed in-process.
  const kc = new KubeConfig();
  kc.loadFromFile(cluster.kubeconfigPath);
  const core = kc.makeApiClient(CoreV1Api);
  const listings: number[] = [];
  for (let i = 0; i < 3; i++) {
    const t0 = performance.now();
    let cont: string | undefined;
    let n = 0;
    do {
      const page = await core.listPodForAllNamespaces({ limit: 500, ...(cont ? { _continue: cont } : {}) });
      n += page.items.length;
      cont = page.metadata?._continue || undefined;
    } while (cont);
    listings.push(performance.now() - t0);
    if (n !== PODS) throw new Error(`listed ${n} pods, expected ${PODS}`);
  }
  const podListingMs = median(listings);

  // Process start: the bundled CLI printing its version, median of 5 (compile cache warm, as in the image).
  const cacheDir = join(root, '.bench-tmp', 'compile-cache');
  const env = { NODE_COMPILE_CACHE: cacheDir, AUTO_UPDATER_USE_BUNDLE: '1' };
  const starts: number[] = [];
  for (let i = 0; i < 6; i++) starts.push((await runNode(['--version'], env)).wallMs);
  const processStartMs = median(starts.slice(1));

  // The run itself, through a relay that timestamps the first API connection.
  const probe = await firstConnectionProbe(Number(new URL(cluster.url).port));
  const kubeconfig = join(cluster.dir, 'bench.kubeconfig');
  const { readFileSync } = await import('node:fs');
  writeFileSync(
    kubeconfig,
    readFileSync(cluster.kubeconfigPath, 'utf8').replace(cluster.url, `https://127.0.0.1:${probe.port}`),
  );
  proxy.resetCounts();
  log('running the updater');
  const run = await runNode(
    [
      'run',
      '--kubeconfig',
      kubeconfig,
      '--all-namespaces',
      '--dry-run',
      '-o',
      'json',
      '--log-level',
      process.env.BENCH_LOG_LEVEL ?? 'warn',
      '--insecure-registry',
      proxy.host,
      '--registry-concurrency',
      String(CONCURRENCY),
    ],
    env,
  );
  probe.close();
  if (process.env.BENCH_LOG_LEVEL) process.stderr.write(run.stderr);
  if (run.code !== 0) throw new Error(`updater exited ${run.code}: ${run.stderr.slice(0, 2000)}`);
  const doc = JSON.parse(run.stdout);
  const counts = proxy.counts();

  // Serial baseline: one HEAD per pod, one after the other (tokens cached), timed in this run.
  log(`serial baseline over ${SAMPLE} pods`);
  const serial = new RegistryClient({ insecureRegistries: [proxy.host], concurrencyPerRegistry: 1 });
  const pods = store.listRefs('/pods').slice(0, SAMPLE);
  const s0 = performance.now();
  for (const p of pods) await serial.resolve(parseImageReference(p.spec.containers[0].image), []);
  const sampleMs = performance.now() - s0;
  const serialBaselineMs = Math.round((sampleMs / pods.length) * PODS);
  serial.close();
  client.close();

  const first = probe.first();
  const boundMs = processStartMs + podListingMs + Math.ceil(REFS / CONCURRENCY) * rttMs;
  const figures = {
    pods: doc.summary.pods,
    refs: REFS,
    repositories: REPOS,
    rttMs: Math.round(rttMs * 10) / 10,
    concurrency: CONCURRENCY,
    nodeFlags: NODE_FLAGS.join(' '),
    heads: counts.head,
    gets: counts.get,
    tokens: counts.token,
    minHeads: REFS,
    minTokens: REPOS,
    wallMs: Math.round(run.wallMs),
    processStartMs: Math.round(processStartMs),
    podListingMs: Math.round(podListingMs),
    boundMs: Math.round(boundMs),
    wallOverBound: Math.round((run.wallMs / boundMs) * 100) / 100,
    serialBaselineMs,
    serialSampledPods: pods.length,
    speedupVsSerial: Math.round((serialBaselineMs / run.wallMs) * 10) / 10,
    startToFirstRequestMs: first === undefined ? null : Math.round(first - run.startMs),
    peakRssMb: run.maxRssKb ? Math.round(run.maxRssKb / 1024) : null,
    plan: doc.summary,
    targets: {
      'heads = minHeads': counts.head === REFS,
      'tokens <= minTokens': counts.token <= REPOS,
      'gets = 0': counts.get === 0,
      'wallMs <= 1.5 x boundMs': run.wallMs <= 1.5 * boundMs,
      'speedupVsSerial >= 50': serialBaselineMs / run.wallMs >= 50,
      'startToFirstRequestMs <= 200': first !== undefined && first - run.startMs <= 200,
      'peakRssMb <= 96': run.maxRssKb !== undefined && run.maxRssKb / 1024 <= 96,
    },
  };
  process.stdout.write(`${JSON.stringify(figures, null, 2)}\n`);
} finally {
  await cleanup();
}
