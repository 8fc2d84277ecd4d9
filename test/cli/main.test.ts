// The CLI program in-process: --help and --version exit 0, usage errors and every bad flag or environment value
// exit 2 with a message naming the option and the fix, before any request reaches the cluster.

import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import pkg from '../../package.json' with { type: 'json' };
import { startCluster } from '../harness/kube-sim/index.ts';
import { runCli } from '../scenarios/scenario.ts';

const cluster = await startCluster({ controllers: false });
t.teardown(() => cluster.stop());
// A pass-through fault on every path: it only counts the requests the API server receives.
const recorder = cluster.faults.add({ path: /.*/ });
const requests = () => cluster.faults.hits(recorder);

const dir = mkdtempSync(join(tmpdir(), 'main-test-'));
t.teardown(() => rmSync(dir, { recursive: true, force: true }));
const notJson = join(dir, 'config.json');
writeFileSync(notJson, '{"auths": {"reg.example.com": {"auth": "dXNlcjpwYXNz"');
const noCreds = join(dir, 'empty-config.json');
writeFileSync(noCreds, '{"auths": {}}');
const notPem = join(dir, 'ca.pem');
writeFileSync(notPem, 'this is not a certificate\n');
const base = ['run', '--kubeconfig', cluster.kubeconfigPath, '-n', 'default', '--log-level', 'warn'];

t.test('when the configuration is valid then the run reaches the cluster and exits 0', async (t) => {
  const before = requests();
  const res = await runCli([...base, '-o', 'json']);
  t.equal(res.code, 0, res.stderr);
  t.equal(res.json.summary.pods, 0);
  t.ok(requests() > before, 'the request counter sees the run (so the checks below can fail)');
  t.match(res.json, {
    apiVersion: 'k8s-auto-updater.io/v1',
    kind: 'RunResult',
    mode: 'registry',
    dryRun: false,
    exitCode: 0,
    summary: { pods: 0, current: 0, stale: 0, skipped: 0, restarted: 0, failed: 0 },
    pods: [],
    warnings: [],
    stats: { heads: 0, gets: 0, tokens: 0, faultedRegistries: 0 },
  });
  t.ok(Date.parse(res.json.generatedAt) <= Date.parse(res.json.finishedAt), 'timestamps are ISO and ordered');
});

t.test('when a termination log path is set then the run leaves its summary there for `status`', async (t) => {
  const file = join(dir, 'termination-log');
  const res = await runCli([...base, '--dry-run'], { AUTO_UPDATER_TERMINATION_LOG: file });
  t.equal(res.code, 0, res.stderr);
  const doc = JSON.parse(readFileSync(file, 'utf8'));
  t.match(doc, { v: 1, exitCode: 0, dryRun: true, mode: 'registry', summary: { pods: 0 } });
});

t.test('--help and --version exit 0 and print to stdout', async (t) => {
  const help = await runCli(['--help']);
  t.equal(help.code, 0);
  t.match(help.stdout, /Usage: k8s-auto-updater/);
  t.match(help.stdout, /\brun\b/);
  t.match(help.stdout, /\bstatus\b/);
  const runHelp = await runCli(['run', '--help']);
  t.equal(runHelp.code, 0);
  t.match(runHelp.stdout, /--max-restarts <n>/);
  t.match(runHelp.stdout, /env:\s+AUTO_UPDATER_MAX_RESTARTS/, 'each option names its environment twin');
  t.match(runHelp.stdout, /default: 5m/, 'durations are shown as written');
  t.match(runHelp.stdout, /one of: text, json/);
  const version = await runCli(['--version']);
  t.equal(version.code, 0);
  t.equal(version.stdout.trim(), pkg.version);
  t.equal(version.stderr, '');
});

t.test('usage errors exit 2 and point at --help', async (t) => {
  for (const argv of [
    ['run', '--frobnicate'],
    ['--frobnicate'],
    ['run', '--namespace'],
    ['status', '--kubeconfig'],
    ['run', 'extra-argument'],
  ]) {
    const before = requests();
    const res = await runCli(argv);
    t.equal(res.code, 2, `${argv.join(' ')} → exit 2`);
    t.match(res.stderr, /error: /, 'commander says what is wrong');
    t.match(res.stderr, /run with --help for usage/);
    t.equal(requests(), before, 'no API request');
  }
});

interface Bad {
  name: string;
  args?: string[];
  env?: NodeJS.ProcessEnv;
  /** Must appear in the message: the flag or variable, and the fix. */
  want: RegExp[];
  /** Leave out the base arguments' `-n default`. */
  noNamespace?: boolean;
}

const BAD: Bad[] = [
  {
    name: 'integer below minimum',
    args: ['--max-restarts=-1'],
    want: [/--max-restarts: -1 is below the minimum 0/],
  },
  {
    name: 'integer above maximum from env',
    env: { AUTO_UPDATER_PARALLEL_WORKLOADS: '100' },
    want: [/environment variable AUTO_UPDATER_PARALLEL_WORKLOADS: 100 is above the maximum 64/],
  },
  {
    name: 'not a number',
    args: ['--registry-concurrency', 'lots'],
    want: [/--registry-concurrency: "lots" is not a whole number/],
  },
  {
    name: 'bad duration',
    args: ['--pod-timeout', '5x'],
    want: [/--pod-timeout: "5x" is not a duration/, /use e\.g\. 90s, 5m/],
  },
  {
    name: 'duration below minimum from env',
    env: { AUTO_UPDATER_REGISTRY_TIMEOUT: '1ms' },
    want: [/environment variable AUTO_UPDATER_REGISTRY_TIMEOUT: 1ms is shorter than the minimum/],
  },
  { name: 'bad enum', args: ['-o', 'yaml'], want: [/--output: "yaml" is not one of text, json/] },
  {
    name: 'bad enum from env',
    env: { AUTO_UPDATER_MODE: 'podman' },
    want: [/environment variable AUTO_UPDATER_MODE: "podman" is not one of registry, docker/],
  },
  {
    name: 'bad boolean from env',
    env: { AUTO_UPDATER_DRY_RUN: 'maybe' },
    want: [/environment variable AUTO_UPDATER_DRY_RUN: "maybe" is not a boolean: use true or false/],
  },
  {
    name: 'bad namespace',
    args: ['-n', 'Shop'],
    want: [/--namespace: "Shop" is not a valid namespace name/],
  },
  {
    name: 'two namespace scopes',
    args: ['-A'],
    want: [/--namespace and --all-namespaces cannot be combined: choose one way/],
  },
  {
    name: 'bad namespace regex from env',
    env: { AUTO_UPDATER_NAMESPACE_REGEX: '[' },
    want: [/environment variable AUTO_UPDATER_NAMESPACE_REGEX: "\[" is not a valid regular expression/],
    noNamespace: true,
  },
  {
    name: 'namespace flag with a namespace regex from env',
    env: { AUTO_UPDATER_NAMESPACE_REGEX: 'team-.*' },
    want: [/--namespace and environment variable AUTO_UPDATER_NAMESPACE_REGEX cannot be combined/],
  },
  {
    name: 'malformed selector',
    args: ['-l', 'app in (web'],
    want: [/--selector: "app in \(web" is not a valid label selector/, /Example: /],
  },
  {
    name: 'insecure registry with a scheme',
    args: ['--insecure-registry', 'http://reg:5000'],
    want: [/--insecure-registry: .* give host or host:port, no scheme or path/],
  },
  {
    name: 'missing CA file from env',
    env: { AUTO_UPDATER_REGISTRY_CA: join(dir, 'missing.pem') },
    want: [/environment variable AUTO_UPDATER_REGISTRY_CA: cannot read .*missing\.pem: ENOENT/],
  },
  {
    name: 'CA file without a certificate',
    args: ['--registry-ca', notPem],
    want: [/--registry-ca: .*ca\.pem.* no PEM certificate/],
  },
  {
    name: 'docker config that is not JSON',
    args: ['--docker-config', notJson],
    want: [/--docker-config: .*config\.json is not a readable JSON docker config/],
  },
  {
    name: 'docker config without credentials',
    args: ['--docker-config', noCreds],
    want: [/--docker-config: .*empty-config\.json holds no usable credentials/],
  },
  {
    name: 'missing kubeconfig',
    args: ['--kubeconfig', join(dir, 'nope.yaml')],
    want: [/kubeconfig .*nope\.yaml \(from --kubeconfig\) does not exist: pass an existing file/],
  },
  {
    name: 'unknown context',
    args: ['--context', 'prod'],
    want: [/context "prod" not found .* available contexts: kube-sim\. Fix --context/],
  },
  {
    name: 'docker host that is a path',
    args: ['--mode', 'docker', '--docker-host', '/var/run/docker.sock'],
    want: [/--docker-host: "\/var\/run\/docker\.sock" must be unix:\/\/\//],
  },
];

for (const bad of BAD) {
  t.test(`when given a ${bad.name} then it exits 2 before any API call`, async (t) => {
    const before = requests();
    const args = bad.noNamespace ? base.filter((a, i) => a !== '-n' && base[i - 1] !== '-n') : base;
    const res = await runCli([...args, ...(bad.args ?? [])], bad.env ?? {});
    t.equal(res.code, 2, res.stderr);
    t.match(res.stderr, /^k8s-auto-updater: configuration error: /);
    for (const re of bad.want) t.match(res.stderr, re);
    t.equal(res.stdout, '', 'no result printed');
    t.equal(requests(), before, 'no request reached the API server');
  });
}

t.test('a status option is validated the same way', async (t) => {
  const res = await runCli(['status', '--kubeconfig', cluster.kubeconfigPath, '--next', '0']);
  t.equal(res.code, 2);
  t.match(res.stderr, /--next: 0 is below the minimum 1/);
});

t.test('the output format follows flag, then environment, then default', async (t) => {
  const byDefault = await runCli(base);
  t.equal(byDefault.code, 0, byDefault.stderr);
  t.equal(byDefault.json, undefined, 'text by default');
  t.match(byDefault.stdout, /0 pods: 0 current/);
  const fromEnv = await runCli(base, { AUTO_UPDATER_OUTPUT: 'json' });
  t.equal(fromEnv.json?.kind, 'RunResult', 'the environment twin selects JSON');
  const flag = await runCli([...base, '-o', 'text'], { AUTO_UPDATER_OUTPUT: 'json' });
  t.equal(flag.json, undefined, 'the flag wins over the environment');
  const silent = await runCli(base, { AUTO_UPDATER_LOG_LEVEL: 'silent' });
  t.equal(silent.code, 0);
  t.equal(silent.stderr, '', 'the log level twin is honoured too');
});

t.test('when the cluster cannot be reached then it is a runtime failure, exit 1', async (t) => {
  const kc = join(dir, 'unreachable.yaml');
  writeFileSync(
    kc,
    [
      'apiVersion: v1',
      'kind: Config',
      'clusters: [{name: c, cluster: {server: "https://127.0.0.1:1"}}]',
      'users: [{name: u, user: {token: t}}]',
      'contexts: [{name: x, context: {cluster: c, user: u, namespace: default}}]',
      'current-context: x',
      '',
    ].join('\n'),
  );
  const res = await runCli(['run', '--kubeconfig', kc, '-o', 'json']);
  t.equal(res.code, 1, res.stderr);
  t.match(res.stderr, /127\.0\.0\.1:1|ECONNREFUSED|connect/);
});
