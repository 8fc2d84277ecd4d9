// Renders a run's plan and restart results: the stable JSON document (-o json, docs/output.md) or a readable table.

import { shortDigest } from '../image/digest.ts';
import type { ContainerPlan, Plan, PodPlan, RestartOutcome, RestartResult } from '../model/plan.ts';
import type { RunCounts } from './record.ts';

/** The run's counts, as in the JSON document and the run record `status` reads. */
export type RunSummary = RunCounts;

export interface RunReport {
  mode: 'registry' | 'docker';
  dryRun: boolean;
  plan: Plan;
  results: RestartResult[];
  finishedAt: string;
  exitCode: number;
  /** Why the run stopped early (API refused or down, interrupted …); absent when it ran to the end. */
  error?: string;
  stats: Record<string, number>;
  /** Problems that did not stop the run (unreadable pull secrets, registry faults …). */
  warnings: string[];
}

/** Outcomes that count as a failed restart (exit 1). The rest are restarted, dry-run, or not attempted. */
export const FAILED_OUTCOMES: ReadonlySet<RestartOutcome> = new Set([
  'pdb-blocked',
  'eviction-failed',
  'replacement-timeout',
  'replacement-same-digest',
  'replacement-crash-loop',
]);

export function summarize(plan: Plan, results: readonly RestartResult[]): RunSummary {
  return {
    pods: plan.summary.pods,
    current: plan.summary.current,
    stale: plan.summary.stale,
    skipped: plan.summary.skipped,
    restarted: results.filter((r) => r.outcome === 'restarted').length,
    failed: results.filter((r) => FAILED_OUTCOMES.has(r.outcome)).length,
  };
}

function containerJSON(c: ContainerPlan) {
  return {
    name: c.name,
    init: c.init,
    image: c.image,
    verdict: c.verdict,
    reason: c.reason,
    message: c.message,
    runningDigest: c.runningDigest ?? null,
    currentDigest: c.currentDigest ?? null,
  };
}

type ResultIndex = Map<string, RestartResult>;

function indexResults(r: RunReport): ResultIndex {
  return new Map(r.results.map((x) => [`${x.namespace}/${x.name}`, x]));
}

function podJSON(p: PodPlan, byPod: ResultIndex) {
  const res = byPod.get(`${p.namespace}/${p.name}`);
  return {
    namespace: p.namespace,
    name: p.name,
    uid: p.uid,
    nodeName: p.nodeName ?? null,
    workload: p.workload
      ? { kind: p.workload.top?.kind ?? p.workload.kind, name: p.workload.top?.name ?? p.workload.name }
      : null,
    verdict: p.verdict,
    reason: p.reason,
    message: p.message,
    containers: p.containers.map(containerJSON),
    restart: res
      ? {
          outcome: res.outcome,
          message: res.message,
          replacement: res.replacement ?? null,
          durationMs: res.durationMs,
        }
      : null,
  };
}

function headJSON(r: RunReport) {
  return {
    apiVersion: 'k8s-auto-updater.io/v1',
    kind: 'RunResult',
    mode: r.mode,
    dryRun: r.dryRun,
    generatedAt: r.plan.generatedAt,
    finishedAt: r.finishedAt,
    exitCode: r.exitCode,
    error: r.error ?? null,
    summary: summarize(r.plan, r.results),
  };
}

/** The `-o json` document. Field names are a stable contract (docs/output.md). */
export function toJSONDocument(r: RunReport): unknown {
  const byPod = indexResults(r);
  return {
    ...headJSON(r),
    pods: r.plan.pods.map((p) => podJSON(p, byPod)),
    warnings: r.warnings,
    stats: r.stats,
  };
}

const indent = (text: string, by: string) => text.replace(/\n/g, `\n${by}`);

/**
 * Writes the same document as JSON.stringify(toJSONDocument(r), null, 2), one pod at a time: 5,000 pods never sit in
 * memory as one string. Resolves once everything is handed to the stream, waiting for 'drain' when it asks to.
 */
export async function writeJSONDocument(r: RunReport, out: NodeJS.WritableStream): Promise<void> {
  const write = async (chunk: string) => {
    if (!out.write(chunk)) await new Promise<void>((resolve) => out.once('drain', () => resolve()));
  };
  const head = JSON.stringify(headJSON(r), null, 2);
  await write(`${head.slice(0, -2)},\n  "pods": [`);
  const byPod = indexResults(r);
  let first = true;
  for (const p of r.plan.pods) {
    await write(`${first ? '' : ','}\n    ${indent(JSON.stringify(podJSON(p, byPod), null, 2), '    ')}`);
    first = false;
  }
  const tail = { warnings: r.warnings, stats: r.stats };
  await write(`${r.plan.pods.length ? '\n  ' : ''}],\n  ${JSON.stringify(tail, null, 2).slice(4, -2)}\n}\n`);
}

function table(rows: string[][]): string {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length)));
  return rows
    .map((r) => r.map((cell, i) => (i === r.length - 1 ? cell : cell.padEnd(widths[i]!))).join('  '))
    .join('\n');
}

function workloadName(p: PodPlan): string {
  const w = p.workload;
  if (!w) return '-';
  return w.top ? `${w.top.kind}/${w.top.name}` : `${w.kind}/${w.name}`;
}

function detail(p: PodPlan): string {
  if (p.verdict !== 'stale') return p.message;
  return p.containers
    .filter((c) => c.verdict === 'stale')
    .map((c) => `${c.name}: ${shortDigest(c.runningDigest, '-')} -> ${shortDigest(c.currentDigest, '-')}`)
    .join(', ');
}

/** The readable report: stale and skipped pods (current ones are counted), restart outcomes, one summary line. */
export function toText(r: RunReport): string {
  const out: string[] = [];
  const shown = r.plan.pods.filter((p) => p.verdict !== 'current');
  if (shown.length > 0) {
    out.push(
      table([
        ['NAMESPACE', 'POD', 'WORKLOAD', 'VERDICT', 'REASON', 'DETAIL'],
        ...shown.map((p) => [p.namespace, p.name, workloadName(p), p.verdict, p.reason, detail(p)]),
      ]),
    );
  }
  if (r.results.length > 0) {
    out.push(
      '',
      table([
        ['NAMESPACE', 'POD', 'OUTCOME', 'TOOK', 'MESSAGE'],
        ...r.results.map((x) => [
          x.namespace,
          x.name,
          x.outcome,
          `${(x.durationMs / 1000).toFixed(1)}s`,
          x.message,
        ]),
      ]),
    );
  }
  for (const w of r.warnings) out.push(`warning: ${w}`);
  if (r.error !== undefined) out.push(`error: ${r.error}`);
  const s = summarize(r.plan, r.results);
  const verb = r.dryRun ? 'would restart' : 'restarted';
  out.push(
    '',
    `${s.pods} pods: ${s.current} current, ${s.stale} stale, ${s.skipped} skipped; ${verb} ${r.dryRun ? s.stale : s.restarted}, failed ${s.failed}` +
      (r.dryRun ? ' (dry run: nothing changed)' : ''),
  );
  return `${out.join('\n').replace(/^\n+/, '')}\n`;
}
