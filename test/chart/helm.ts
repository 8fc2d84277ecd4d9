// Runs the real helm against the chart for tests: private HELM_* directories, values as a file, rendered
// manifests parsed with the yaml package.

import { spawnSync } from 'node:child_process';
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseAllDocuments } from 'yaml';

export const CHART_DIR = fileURLToPath(new URL('../../chart', import.meta.url));

// biome-ignore lint/suspicious/noExplicitAny: rendered Kubernetes objects are read field by field in tests.
export type Manifest = Record<string, any>;

export interface HelmResult {
  code: number;
  stdout: string;
  stderr: string;
}

export interface Helm {
  /** Runs helm with arguments; never throws on a non-zero exit. */
  run(args: string[]): HelmResult;
  /** `helm template` with values (written to a file, so types survive); throws with stderr when it fails. */
  template(values: Record<string, unknown>, opts?: { release?: string; namespace?: string }): Manifest[];
  /** `helm template` expected to fail: returns stderr (throws if it succeeds). */
  templateError(values: Record<string, unknown>, extraArgs?: string[]): string;
  /**
   * NOTES.txt as `helm install` would print it. helm template skips NOTES, so a copy of the chart renders the
   * same text through `tpl` into a manifest.
   */
  notes(values: Record<string, unknown>, opts?: { release?: string; namespace?: string }): string;
  /** Removes the temp directories. */
  cleanup(): void;
}

/** A helm runner with its own cache/config/data directories under a temp dir. */
export function helmRunner(helmPath: string): Helm {
  const home = mkdtempSync(join(tmpdir(), 'helm-test-'));
  const env = {
    ...process.env,
    HELM_CACHE_HOME: join(home, 'cache'),
    HELM_CONFIG_HOME: join(home, 'config'),
    HELM_DATA_HOME: join(home, 'data'),
  };
  let n = 0;
  const run = (args: string[]): HelmResult => {
    const r = spawnSync(helmPath, args, { env, encoding: 'utf8', timeout: 60_000 });
    return { code: r.status ?? 1, stdout: r.stdout ?? '', stderr: r.stderr ?? String(r.error ?? '') };
  };
  const valuesFile = (values: Record<string, unknown>) => {
    const file = join(home, `values-${++n}.json`);
    writeFileSync(file, JSON.stringify(values));
    return file;
  };
  return {
    run,
    template(values, opts = {}) {
      const r = run([
        'template',
        opts.release ?? 'k8s-auto-updater',
        CHART_DIR,
        '--namespace',
        opts.namespace ?? 'updater',
        '-f',
        valuesFile(values),
      ]);
      if (r.code !== 0) throw new Error(`helm template failed (${r.code}): ${r.stderr}`);
      return parseAllDocuments(r.stdout)
        .map((d) => d.toJS() as Manifest | null)
        .filter((d): d is Manifest => d !== null);
    },
    templateError(values, extraArgs = []) {
      const r = run(['template', 'x', CHART_DIR, '-f', valuesFile(values), ...extraArgs]);
      if (r.code === 0) throw new Error('helm template succeeded but was expected to fail');
      return r.stderr;
    },
    notes(values, opts = {}) {
      const copy = join(home, `chart-${++n}`);
      cpSync(CHART_DIR, copy, { recursive: true });
      writeFileSync(join(copy, 'notes-src.txt'), readFileSync(join(CHART_DIR, 'templates', 'NOTES.txt')));
      writeFileSync(
        join(copy, 'templates', 'zz-notes.yaml'),
        'kind: RenderedNotes\ntext: {{ tpl (.Files.Get "notes-src.txt") . | toJson }}\n',
      );
      const r = run([
        'template',
        opts.release ?? 'k8s-auto-updater',
        copy,
        '--namespace',
        opts.namespace ?? 'updater',
        '--show-only',
        'templates/zz-notes.yaml',
        '-f',
        valuesFile(values),
      ]);
      if (r.code !== 0) throw new Error(`helm template (notes) failed (${r.code}): ${r.stderr}`);
      return String(parseAllDocuments(r.stdout)[0]?.toJS()?.text ?? '');
    },
    cleanup() {
      rmSync(home, { recursive: true, force: true });
    },
  };
}

/** The first object of a kind (and name, when given); throws when absent so a test fails clearly. */
export function find(objects: Manifest[], kind: string, name?: string): Manifest {
  const o = objects.find((x) => x.kind === kind && (name === undefined || x.metadata?.name === name));
  if (!o) throw new Error(`no ${kind}${name ? ` ${name}` : ''} rendered`);
  return o;
}

/** The updater container of the rendered CronJob. */
export function container(objects: Manifest[]): Manifest {
  return find(objects, 'CronJob').spec.jobTemplate.spec.template.spec.containers[0];
}

/** The container's plain env vars as a map (valueFrom entries map to undefined). */
export function envOf(objects: Manifest[]): Record<string, string | undefined> {
  return Object.fromEntries(
    (container(objects).env as { name: string; value?: string }[]).map((e) => [e.name, e.value]),
  );
}
