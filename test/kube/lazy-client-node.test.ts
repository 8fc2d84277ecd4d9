// The hot path must not load @kubernetes/client-node (~0.5 s and ~80 MB): a run with a token kubeconfig never
// resolves it, while a kubeconfig with an exec plugin does (the fallback). Runs the CLI in a child process with a
// module-resolution hook that reports every client-node module it resolves.

import { execFile } from 'node:child_process';
import { chmodSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import t from 'tap';
import { startCluster } from '../harness/kube-sim/index.ts';

const run = promisify(execFile);
const MAIN = fileURLToPath(new URL('../../lib/cli/main.ts', import.meta.url));

const HOOK = `data:text/javascript,${encodeURIComponent(
  [
    "import { registerHooks } from 'node:module';",
    'registerHooks({ resolve(s, c, next) { const r = next(s, c);',
    "  if (r.url.includes('/@kubernetes/client-node/')) process.stderr.write('CLIENT-NODE ' + s + '\\n');",
    '  return r; } });',
  ].join('\n'),
)}`;
const RUNNER = `const { main } = await import(${JSON.stringify(pathToFileURL(MAIN).href)}); process.exitCode = await main(process.argv.slice(1), process.env);`;

async function cli(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const r = await run(process.execPath, [
      '--import',
      HOOK,
      '--input-type=module',
      '-e',
      RUNNER,
      '--',
      ...args,
    ]);
    return { code: 0, ...r };
  } catch (e) {
    const err = e as { code: number; stdout: string; stderr: string };
    return { code: err.code, stdout: err.stdout, stderr: err.stderr };
  }
}

t.test('client-node is loaded only for credentials the lean loader delegates', async (t) => {
  const c = await startCluster({ controllers: false });
  t.teardown(() => c.stop());
  c.store.create('/namespaces', { metadata: { name: 'shop' } });
  const args = ['run', '-n', 'shop', '--dry-run', '-o', 'json', '--log-level', 'warn'];

  t.test('when the kubeconfig has a bearer token then the run never resolves client-node', async (t) => {
    const r = await cli([...args, '--kubeconfig', c.kubeconfigPath]);
    t.equal(r.code, 0, r.stderr);
    t.match(JSON.parse(r.stdout), { summary: { pods: 0 } });
    t.notMatch(r.stderr, /CLIENT-NODE/);
  });

  t.test('when the user runs an exec plugin then client-node is loaded and the run succeeds', async (t) => {
    const plugin = join(c.dir, 'plugin.mjs');
    writeFileSync(
      plugin,
      `#!${process.execPath}\nprocess.stdout.write(JSON.stringify({ apiVersion: 'client.authentication.k8s.io/v1', ` +
        `kind: 'ExecCredential', status: { token: ${JSON.stringify(c.adminToken)} } }));\n`,
    );
    chmodSync(plugin, 0o755);
    const kubeconfig = join(c.dir, 'exec.kubeconfig');
    writeFileSync(
      kubeconfig,
      JSON.stringify({
        clusters: [
          {
            name: 's',
            cluster: { server: c.url, 'certificate-authority-data': Buffer.from(c.caPem).toString('base64') },
          },
        ],
        users: [
          { name: 'u', user: { exec: { apiVersion: 'client.authentication.k8s.io/v1', command: plugin } } },
        ],
        contexts: [{ name: 's', context: { cluster: 's', user: 'u', namespace: 'shop' } }],
        'current-context': 's',
      }),
    );
    const r = await cli([...args, '--kubeconfig', kubeconfig]);
    t.equal(r.code, 0, r.stderr);
    t.match(r.stderr, /CLIENT-NODE @kubernetes\/client-node/);
  });
});
