// The chart's test bed on the real control plane (chart.test.ts, chart-schedule.test.ts): the real control plane
// whose node agent runs the updater's container in-process — `node /app/bin/k8s-auto-updater.js run` with the pod's
// env and args and its own bound ServiceAccount token as in-cluster config — plus the real helm and kubectl.

import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { Test } from 'tap';
import { runUpdater } from '../../lib/cli/run.ts';
import { mergeOptions, toRunConfig } from '../../lib/config/config.ts';
import { parseRunRecord, type RunRecord } from '../../lib/report/record.ts';
import { ConfigError, EXIT } from '../../lib/shared/errors.ts';
import { createLogger } from '../../lib/shared/log.ts';
import type { Json } from '../harness/node-agent/api.ts';
import { requireBin } from '../harness/require-bin.ts';
import { sink } from '../scenarios/scenario.ts';
import { type Bed, startBed } from './bed.ts';

export { CHART_DIR } from '../chart/helm.ts';

const exec = promisify(execFile);

export interface ContainerRun {
  pod: string;
  namespace: string;
  args: string[];
  code: number;
  record: RunRecord | undefined;
  stderr: string;
}

export interface ChartBed {
  bed: Bed;
  /** Every updater container run so far, oldest first. */
  runs: ContainerRun[];
  /** A scratch directory removed at the end. */
  work: string;
  /** Runs helm against the control plane; rejects with its stderr. */
  helm(args: string[]): Promise<string>;
  /** Runs kubectl against the control plane; rejects with its stderr. */
  kubectl(args: string[]): Promise<string>;
  /** Waits until the Job is Complete or Failed and returns which. */
  jobDone(ns: string, name: string, timeoutMs?: number): Promise<string>;
  /** Waits until the updater ran `count` times in all. */
  ranTimes(count: number, timeoutMs?: number): Promise<ContainerRun>;
}

/** The bed, or undefined (skipped) without helm, kubectl, the registry or the control plane build. */
export async function startChartBed(t: Test): Promise<ChartBed | undefined> {
  const helmBin = requireBin(t, 'helm');
  const kubectlBin = requireBin(t, 'kubectl');
  if (!helmBin || !kubectlBin) return undefined;
  const work = mkdtempSync(join(tmpdir(), 'cp-chart-'));
  t.teardown(() => rmSync(work, { recursive: true, force: true }));
  const runs: ContainerRun[] = [];
  let server = '';
  let caPem = '';

  const runContainer = async (pod: Json, container: Json, env: Record<string, string>, token: string) => {
    const name = pod.metadata.name as string;
    const sa = join(work, name);
    mkdirSync(sa, { recursive: true });
    writeFileSync(join(sa, 'token'), token);
    writeFileSync(join(sa, 'ca.crt'), caPem);
    writeFileSync(join(sa, 'namespace'), pod.metadata.namespace);
    const termination = join(sa, 'termination-log');
    const url = new URL(server);
    const processEnv: NodeJS.ProcessEnv = {
      ...env,
      HOSTNAME: name,
      KUBERNETES_SERVICE_HOST: url.hostname,
      KUBERNETES_SERVICE_PORT: url.port,
      AUTO_UPDATER_TERMINATION_LOG: termination,
    };
    const args: string[] = container.args ?? [];
    const err = sink();
    let code: number;
    try {
      if (args.length !== 1 || args[0] !== 'run')
        throw new ConfigError(`unexpected container args ${args.join(' ')}`);
      const config = toRunConfig(mergeOptions('run', {}, processEnv));
      const logger = await createLogger({ level: 'warn', format: 'json', stream: err.stream });
      code = await runUpdater(config, {
        logger,
        env: processEnv,
        stdout: sink().stream,
        serviceAccountDir: sa,
      });
    } catch (e) {
      err.stream.write(`${(e as Error).message}\n`);
      code = e instanceof ConfigError ? EXIT.config : EXIT.failure;
    }
    let record: RunRecord | undefined;
    try {
      record = parseRunRecord(readFileSync(termination, 'utf8'));
    } catch {
      record = undefined;
    }
    runs.push({ pod: name, namespace: pod.metadata.namespace, args, code, record, stderr: err.text() });
    return code;
  };

  const bed = await startBed(t, {
    execute: (pod, container, env, { token }) => runContainer(pod, container, env, token),
  });
  if (!bed) return undefined;
  server = bed.cp.url;
  caPem = bed.cp.caPem;
  const fail = (what: string) => (e: { stderr?: string; message: string }) => {
    throw new Error(`${what} failed: ${e.stderr || e.message}`);
  };
  const home = join(work, 'helm');
  const helmEnv = {
    ...process.env,
    HELM_CACHE_HOME: join(home, 'cache'),
    HELM_CONFIG_HOME: join(home, 'config'),
    HELM_DATA_HOME: join(home, 'data'),
  };
  return {
    bed,
    runs,
    work,
    helm: async (args) =>
      (
        await exec(helmBin, [...args, '--kubeconfig', bed.cp.kubeconfigPath], {
          env: helmEnv,
          timeout: 60_000,
        }).catch(fail(`helm ${args.join(' ')}`))
      ).stdout,
    kubectl: async (args) =>
      (
        await exec(kubectlBin, ['--kubeconfig', bed.cp.kubeconfigPath, ...args], { timeout: 30_000 }).catch(
          fail(`kubectl ${args.join(' ')}`),
        )
      ).stdout,
    async jobDone(ns, name, timeoutMs = 60_000) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const r = await bed.cp.api.request('GET', `/apis/batch/v1/namespaces/${ns}/jobs/${name}`);
        const c = (r.json?.status?.conditions ?? []).find(
          (x: Json) => x.status === 'True' && (x.type === 'Complete' || x.type === 'Failed'),
        );
        if (c) return c.type as string;
        if (Date.now() > deadline)
          throw new Error(`job ${ns}/${name} not done after ${timeoutMs} ms: ${r.text.slice(0, 500)}`);
        await new Promise((res) => setTimeout(res, 200));
      }
    },
    async ranTimes(count, timeoutMs = 60_000) {
      const deadline = Date.now() + timeoutMs;
      while (runs.length < count) {
        if (Date.now() > deadline)
          throw new Error(`the updater ran ${runs.length} times, not ${count}, in ${timeoutMs} ms`);
        await new Promise((res) => setTimeout(res, 200));
      }
      return runs[count - 1]!;
    },
  };
}
