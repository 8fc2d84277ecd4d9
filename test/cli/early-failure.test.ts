// A run that fails or is interrupted early still ends like every run: its -o json document (exitCode 1 and an
// `error` naming what failed) on stdout, its run record for `status`, exit 1. Configuration errors stay exit 2 with
// nothing printed. Tested through main() (and the real executable for SIGTERM) against the API simulator.

import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import t from 'tap';
import { parseRunRecord } from '../../lib/report/record.ts';
import { startCluster } from '../harness/kube-sim/index.ts';
import { runCli } from '../scenarios/scenario.ts';

const cluster = await startCluster({ controllers: false });
t.teardown(() => cluster.stop());
const dir = mkdtempSync(join(tmpdir(), 'early-failure-'));
t.teardown(() => rmSync(dir, { recursive: true, force: true }));
const BIN = fileURLToPath(new URL('../../bin/k8s-auto-updater.js', import.meta.url));

const base = ['run', '--kubeconfig', cluster.kubeconfigPath, '-n', 'default', '--log-level', 'silent'];
const PODS = /^\/api\/v1\/namespaces\/default\/pods$/;

function record(file: string) {
  return parseRunRecord(readFileSync(file, 'utf8'));
}

t.test(
  'when the API server refuses the pod list (403) then the JSON document and the record say so, exit 1',
  async (t) => {
    const refusal = cluster.faults.add({ method: 'GET', path: PODS, status: 403 });
    t.teardown(() => cluster.faults.remove(refusal));
    const log = join(dir, 'refused.log');
    const res = await runCli([...base, '-o', 'json'], { AUTO_UPDATER_TERMINATION_LOG: log });
    t.equal(res.code, 1, res.stderr);
    t.equal(cluster.faults.hits(refusal), 1, 'the list was asked once and refused (a 403 is not retried)');
    const doc = res.json as { error: string };
    t.match(doc, {
      kind: 'RunResult',
      exitCode: 1,
      summary: { pods: 0, current: 0, stale: 0, skipped: 0, restarted: 0, failed: 0 },
      pods: [],
    });
    t.match(doc.error, /^listing pods failed: .*HTTP 403/);
    t.equal(res.stdout.trim().split('\n').at(-1), '}', 'one whole document, nothing after it');
    const rec = record(log);
    t.match(rec, { v: 1, exitCode: 1, dryRun: false, mode: 'registry', summary: { pods: 0 } });
    t.equal(rec?.error, doc.error, 'the record carries the same error for `status`');
  },
);

t.test('when the refused run prints text then the error line comes before the summary', async (t) => {
  const refusal = cluster.faults.add({ method: 'GET', path: PODS, status: 403 });
  t.teardown(() => cluster.faults.remove(refusal));
  const res = await runCli(base);
  t.equal(res.code, 1);
  t.match(
    res.stdout,
    /^error: listing pods failed: [^\n]*HTTP 403[^\n]*\n\n0 pods: 0 current, 0 stale, 0 skipped/,
  );
});

t.test('when the API server is down then the run still prints its document and record, exit 1', async (t) => {
  const kc = join(dir, 'down.yaml');
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
  const log = join(dir, 'down.log');
  const res = await runCli(['run', '--kubeconfig', kc, '-o', 'json', '--log-level', 'silent'], {
    AUTO_UPDATER_TERMINATION_LOG: log,
  });
  t.equal(res.code, 1, res.stderr);
  const doc = res.json as { error: string };
  t.match(doc, { kind: 'RunResult', exitCode: 1, pods: [] });
  t.match(doc.error, /^listing pods failed: .*(127\.0\.0\.1:1|ECONNREFUSED|no answer)/);
  t.match(record(log), { exitCode: 1, error: doc.error });
});

t.test(
  'when the kubeconfig is bad then it stays a configuration error: exit 2, no document, no record',
  async (t) => {
    const log = join(dir, 'config.log');
    const res = await runCli(['run', '--kubeconfig', join(dir, 'missing.yaml'), '-o', 'json'], {
      AUTO_UPDATER_TERMINATION_LOG: log,
    });
    t.equal(res.code, 2);
    t.equal(res.stdout, '');
    t.equal(existsSync(log), false, 'no run record: nothing ran');
  },
);

t.test('when a run ends normally then the document has error null and the record no error', async (t) => {
  const log = join(dir, 'ok.log');
  const res = await runCli([...base, '-o', 'json'], { AUTO_UPDATER_TERMINATION_LOG: log });
  t.equal(res.code, 0, res.stderr);
  t.equal((res.json as Record<string, unknown>).error, null);
  t.equal(record(log)?.error, undefined);
});

t.test(
  'when SIGTERM arrives while the pods are being listed then the process still writes its document and record, exit 1',
  async (t) => {
    // The list answers only after 4 s: SIGTERM lands while the run waits for it.
    const slow = cluster.faults.add({ method: 'GET', path: PODS, latencyMs: 4000, times: 1 });
    t.teardown(() => cluster.faults.remove(slow));
    const log = join(dir, 'sigterm.log');
    const child = spawn(process.execPath, [BIN, ...base, '-o', 'json'], {
      env: { ...process.env, AUTO_UPDATER_TERMINATION_LOG: log, KUBECONFIG: '' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    t.teardown(() => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => {
      stdout += d.toString();
    });
    child.stderr.on('data', (d: Buffer) => {
      stderr += d.toString();
    });
    const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
      child.on('exit', (code, signal) => resolve({ code, signal })),
    );
    const deadline = Date.now() + 20_000;
    while (cluster.faults.hits(slow) === 0 && Date.now() < deadline)
      await new Promise((r) => setTimeout(r, 20));
    t.equal(cluster.faults.hits(slow), 1, 'the pod list is in flight');
    const sent = Date.now();
    child.kill('SIGTERM');
    while (!stdout.trimEnd().endsWith('}') && Date.now() < deadline)
      await new Promise((r) => setTimeout(r, 20));
    t.ok(
      Date.now() - sent < 2000,
      `the document is out ${Date.now() - sent} ms after SIGTERM, before the list answers`,
    );
    const { code, signal } = await exited;
    t.equal(signal, null, `not killed by the signal: ${stderr}`);
    t.equal(code, 1);
    const doc = JSON.parse(stdout);
    t.match(doc, { kind: 'RunResult', exitCode: 1, pods: [] });
    t.equal(doc.error, 'interrupted (received SIGTERM) while listing pods: nothing more was done');
    t.match(record(log), { exitCode: 1, error: doc.error });
  },
);
