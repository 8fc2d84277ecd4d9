// `npm run demo`: the main job on an embedded default. Starts a real registry and a simulated Kubernetes cluster,
// deploys a few workloads, moves their tags, then runs the updater (a dry run, then for real) and shows the plan,
// the restarts and the events. Installs Debian's docker-registry (and openssl) first when missing and running as root.

import { execFileSync } from 'node:child_process';
import { main } from '../lib/cli/main.ts';
import { haveBin } from '../test/harness/require-bin.ts';

const NS = 'demo';
const bold = (s: string) => (process.stdout.isTTY ? `\x1b[1m${s}\x1b[0m` : s);
const say = (s: string) => process.stdout.write(`\n${bold(`== ${s}`)}\n`);

function ensurePackages(): void {
  const missing = [
    ['docker-registry', 'docker-registry'],
    ['openssl', 'openssl'],
  ].filter(([bin]) => !haveBin(bin!));
  if (missing.length === 0) return;
  const pkgs = missing.map(([, pkg]) => pkg!);
  if (process.getuid?.() !== 0 || !haveBin('apt-get')) {
    process.stderr.write(
      `demo: needs Debian packages ${pkgs.join(', ')}: install them (apt-get install ${pkgs.join(' ')}) and run again\n`,
    );
    process.exit(2);
  }
  say(`Installing ${pkgs.join(', ')} with apt-get (one time)`);
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  execFileSync('apt-get', ['update', '-qq'], { stdio: 'inherit', env });
  execFileSync('apt-get', ['install', '-y', '-qq', '--no-install-recommends', ...pkgs], {
    stdio: 'inherit',
    env,
  });
}

ensurePackages();
// Imported after the install check: the harnesses look for their binaries when used, not when loaded.
const { startCluster } = await import('../test/harness/kube-sim/index.ts');
const fx = await import('../test/harness/kube-sim/fixtures.ts');
const { pushImage, startRegistry } = await import('../test/harness/registry/index.ts');
type KObject = import('../test/harness/kube-sim/store.ts').KObject;

const registry = await startRegistry();
const cluster = await startCluster({ controllers: { readyDelayMs: 300, terminationDelayMs: 200 } });
const stopAll = async () => {
  await cluster.stop();
  await registry.stop();
};
process.on('SIGINT', () => void stopAll().then(() => process.exit(130)));

function podsTable(): string {
  const pods = cluster.store.list('/pods', NS);
  const rows = [['POD', 'READY', 'STATUS', 'IMAGE', 'RUNNING DIGEST']];
  for (const p of pods) {
    const st = p.status?.containerStatuses?.[0];
    const ready = p.status?.conditions?.some((c: KObject) => c.type === 'Ready' && c.status === 'True');
    const digest = (st?.imageID ?? '').split('@')[1] ?? '-';
    rows.push([
      p.metadata.name!,
      ready ? 'yes' : 'no',
      p.metadata.deletionTimestamp ? 'Terminating' : (p.status?.phase ?? '-'),
      p.spec.containers[0].image.replace(`${registry.host}/`, '<registry>/'),
      digest.slice(0, 19),
    ]);
  }
  const w = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  return rows.map((r) => r.map((c, i) => c.padEnd(w[i]!)).join('  ')).join('\n');
}

async function allReady(count: number): Promise<void> {
  await cluster.controllers!.waitFor((st) => {
    const pods = st.listRefs('/pods', NS).filter((p) => !p.metadata.deletionTimestamp);
    return (
      pods.length === count &&
      pods.every((p) => p.status?.conditions?.some((c: KObject) => c.type === 'Ready' && c.status === 'True'))
    );
  }, 30_000);
}

async function updater(args: string[]): Promise<number> {
  process.stdout.write(`\n$ k8s-auto-updater ${args.join(' ')}\n`);
  return main(
    [
      'run',
      '--kubeconfig',
      cluster.kubeconfigPath,
      '--insecure-registry',
      registry.host,
      '--log-format',
      'pretty',
      ...args,
    ],
    { ...process.env, FORCE_COLOR: process.stdout.isTTY ? '1' : '0' },
  );
}

/** Pushes generation n of the demo's four images (a new generation moves every tag to new bytes). */
async function pushImages(n: number): Promise<void> {
  await pushImage(registry, 'demo/web', '1.0', { format: 'docker', seed: `web-${n}` });
  await pushImage(registry, 'demo/multiarch', 'latest', {
    format: 'oci-index',
    seed: `ma-${n}`,
    platforms: ['linux/amd64', 'linux/arm64'],
  });
  await pushImage(registry, 'demo/legacy', '2.3', { format: 'oci', seed: `legacy-${n}` });
  await pushImage(registry, 'demo/cache', '1.0', { format: 'docker', seed: `cache-${n}` });
}

let code = 1;
try {
  say(
    `A real registry (Debian docker-registry) on ${registry.url}, a simulated Kubernetes API on ${cluster.url}`,
  );
  const img = (repo: string, tag: string) => `${registry.host}/demo/${repo}:${tag}`;
  await pushImages(1);

  cluster.store.create('/namespaces', { metadata: { name: NS } });
  const always = { container: { imagePullPolicy: 'Always' as const } };
  cluster.store.create(
    'apps/deployments',
    fx.deployment('web', NS, img('web', '1.0'), { replicas: 3, ...always }),
  );
  cluster.store.create('policy/poddisruptionbudgets', fx.pdb('web', NS, { app: 'web' }, { minAvailable: 2 }));
  cluster.store.create(
    'apps/deployments',
    fx.deployment('multiarch', NS, img('multiarch', 'latest'), { replicas: 2 }),
  );
  cluster.store.create('/pods', fx.barePod('legacy', NS, img('legacy', '2.3'), always));
  cluster.store.create(
    'apps/deployments',
    fx.deployment('cache', NS, img('cache', '1.0'), {
      replicas: 1,
      container: { imagePullPolicy: 'IfNotPresent' },
    }),
  );
  say(
    'Deployed: web (3 replicas, PodDisruptionBudget minAvailable=2), multiarch (multi-arch index, :latest), legacy (a bare pod), cache (IfNotPresent)',
  );
  await allReady(7);
  process.stdout.write(`${podsTable()}\n`);

  say('New images pushed: every tag now points to new bytes');
  await pushImages(2);

  say('The plan (dry run: nothing changes)');
  await updater(['-n', NS, '--dry-run', '--log-level', 'warn']);

  say('The real run: evictions through the Eviction API, one pod per workload at a time');
  code = await updater(['-n', NS]);

  say('Events recorded');
  for (const e of cluster.store.list('/events', NS)) {
    process.stdout.write(
      `${e.type.padEnd(8)} ${e.reason.padEnd(18)} ${e.involvedObject.kind}/${e.involvedObject.name}: ${e.message}\n`,
    );
  }
  say('Pods now');
  await allReady(7);
  process.stdout.write(`${podsTable()}\n`);
  process.stdout.write(
    '\nThe bare pod and the IfNotPresent pod were kept on purpose: evicting a bare pod loses it for good, and an\n' +
      'IfNotPresent pod would restart on the cached old image. See docs/output.md for every reason.\n',
  );
} finally {
  await stopAll();
}
process.exitCode = code;
