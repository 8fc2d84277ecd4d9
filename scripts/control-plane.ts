// The real Kubernetes control plane for the test bed (test/harness/control-plane/): build the binaries for the
// pinned release (cached outside the repository), start them with a node agent, stop them.
//
//   node scripts/control-plane.ts build        build (or find cached) etcd, kube-apiserver, -controller-manager, -scheduler
//   node scripts/control-plane.ts up <dir>     start everything; <dir>/kubeconfig is cluster-admin; returns when nodes are Ready
//   node scripts/control-plane.ts down <dir>   stop everything `up` started under <dir>

import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { binDir, buildBinaries, pinnedRelease } from '../test/harness/control-plane/binaries.ts';
import { alive, startControlPlane, startProcess, stopPids } from '../test/harness/control-plane/index.ts';
import { Api } from '../test/harness/node-agent/api.ts';

const [cmd, dirArg] = process.argv.slice(2);
const AGENT_MAIN = fileURLToPath(new URL('../test/harness/node-agent/main.ts', import.meta.url));
const say = (line: string) => process.stderr.write(`control-plane: ${line}\n`);

function needDir(): string {
  if (!dirArg) {
    say(`${cmd} needs a state directory: node scripts/control-plane.ts ${cmd} <dir>`);
    process.exit(2);
  }
  return resolve(dirArg);
}

async function up(dir: string): Promise<number> {
  if (existsSync(join(dir, 'state.json'))) {
    const state = JSON.parse(readFileSync(join(dir, 'state.json'), 'utf8')) as {
      pids: Record<string, number>;
    };
    if (Object.values(state.pids).some(alive)) {
      say(
        `${dir} already has a running control plane: run \`node scripts/control-plane.ts down ${dir}\` first`,
      );
      return 1;
    }
  }
  await buildBinaries(say);
  const t0 = Date.now();
  const cp = await startControlPlane({ dir, agent: false, persist: true, log: say });
  const statePath = join(dir, 'state.json');
  const agent = startProcess(dir, 'node-agent', process.execPath, [AGENT_MAIN, dir], process.env, true);
  const state = JSON.parse(readFileSync(statePath, 'utf8'));
  state.pids['node-agent'] = agent.pid;
  writeFileSync(statePath, `${JSON.stringify(state, null, 2)}\n`);
  const api = new Api({ server: cp.url, caPem: cp.caPem, token: cp.adminToken });
  try {
    const deadline = Date.now() + 60_000;
    for (;;) {
      const nodes = await api.must('GET', '/api/v1/nodes');
      const items = nodes.items ?? [];
      const ready = items.filter(
        (n: {
          status?: { conditions?: { type: string; status: string }[] };
          spec?: { taints?: unknown[] };
        }) =>
          n.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') &&
          !n.spec?.taints?.length,
      );
      if (items.length > 0 && ready.length === items.length) break;
      if (agent.exitCode !== null)
        throw new Error(`the node agent exited (${agent.exitCode}): see ${dir}/logs/node-agent.log`);
      if (Date.now() > deadline)
        throw new Error(`nodes not Ready after 60 s: see ${dir}/logs/node-agent.log`);
      await new Promise((r) => setTimeout(r, 200));
    }
  } catch (e) {
    api.close();
    await stopPids(Object.values(state.pids as Record<string, number>));
    throw e;
  }
  api.close();
  process.stdout.write(
    `control plane ${pinnedRelease()} up in ${((Date.now() - t0) / 1000).toFixed(1)} s at ${cp.url}\n` +
      `kubeconfig: ${cp.kubeconfigPath}\nstop it: node scripts/control-plane.ts down ${dir}\n`,
  );
  return 0;
}

async function down(dir: string): Promise<number> {
  const statePath = join(dir, 'state.json');
  if (!existsSync(statePath)) {
    say(`no control plane state in ${dir} (nothing to stop)`);
    return 0;
  }
  const state = JSON.parse(readFileSync(statePath, 'utf8')) as { pids: Record<string, number> };
  // The agent first (it deletes nothing on its way out), then the components, most dependent first.
  const order = ['node-agent', 'kube-scheduler', 'kube-controller-manager', 'kube-apiserver', 'etcd'];
  for (const name of order) {
    const pid = state.pids[name];
    if (pid) await stopPids([pid]);
  }
  const left = Object.entries(state.pids).filter(([, pid]) => alive(pid));
  if (left.length > 0) {
    say(`still running: ${left.map(([n, p]) => `${n} (${p})`).join(', ')}`);
    return 1;
  }
  process.stdout.write(`control plane in ${dir} stopped\n`);
  return 0;
}

async function main(): Promise<number> {
  switch (cmd) {
    case 'build': {
      const r = await buildBinaries(say);
      process.stdout.write(
        r.built
          ? `control plane ${pinnedRelease()} built in ${r.seconds}s: ${r.dir}\n`
          : `control plane ${pinnedRelease()} cached: ${r.dir}\n`,
      );
      return 0;
    }
    case 'bin-dir':
      process.stdout.write(`${binDir()}\n`);
      return 0;
    case 'up':
      return up(needDir());
    case 'down':
      return down(needDir());
    default:
      process.stderr.write('usage: node scripts/control-plane.ts build | bin-dir | up <dir> | down <dir>\n');
      return 2;
  }
}

process.exitCode = await main();
