// Renders `status` results: aligned key/value text for people, and one JSON document with stable field names
// (documented in docs/status.md) for scripts.

import type { CronJobFacts } from './cronjob.ts';

/** `status --schedule`: an offline check of a schedule. */
export interface ScheduleReport {
  kind: 'Schedule';
  v: 1;
  schedule: string;
  timeZone: string;
  nextRuns: string[];
}

/** `status`: the CronJob as the cluster has it, plus computed next runs. */
export interface CronJobReport extends CronJobFacts {
  kind: 'CronJobStatus';
  v: 1;
  /** Next run times (ISO 8601 UTC) in the CronJob's time zone; empty when suspended or unparseable. */
  nextRuns: string[];
  /** Why no next runs could be computed from the stored schedule, else null. */
  scheduleError: string | null;
}

export type StatusReport = ScheduleReport | CronJobReport;

/** One JSON document and a newline. */
export function renderJson(report: StatusReport): string {
  return `${JSON.stringify(report, null, 2)}\n`;
}

/** Aligned key/value lines; continuation lines for lists. */
export function renderText(report: StatusReport): string {
  return table(report.kind === 'Schedule' ? scheduleRows(report) : cronJobRows(report));
}

type Row = [key: string, value: string];

function table(rows: Row[]): string {
  const width = Math.max(...rows.map(([k]) => k.length)) + 2;
  return rows.map(([k, v]) => `${k.padEnd(width)}${v}`.trimEnd()).join('\n') + '\n';
}

function listRows(key: string, values: string[], empty: string): Row[] {
  if (values.length === 0) return [[key, empty]];
  return values.map((v, i) => [i === 0 ? key : '', v]);
}

/** A run time as the wall clock of its zone with the zone's abbreviation, and the UTC instant. */
export function formatTime(isoTime: string, timeZone: string): string {
  const d = new Date(isoTime);
  const parts = Object.fromEntries(
    new Intl.DateTimeFormat('en-US', {
      timeZone,
      hourCycle: 'h23',
      year: 'numeric',
      month: '2-digit',
      day: '2-digit',
      hour: '2-digit',
      minute: '2-digit',
      timeZoneName: 'short',
    })
      .formatToParts(d)
      .map((p) => [p.type, p.value]),
  );
  const local = `${parts.year}-${parts.month}-${parts.day} ${parts.hour}:${parts.minute} ${parts.timeZoneName}`;
  const utc = d.toISOString().replace('.000Z', 'Z');
  return timeZone === 'UTC' ? local : `${local} (${utc})`;
}

function scheduleRows(r: ScheduleReport): Row[] {
  return [
    ['Schedule', `${r.schedule} (valid)`],
    ['Time zone', r.timeZone],
    ...listRows(
      'Next runs',
      r.nextRuns.map((t) => formatTime(t, r.timeZone)),
      'none: this schedule never fires',
    ),
  ];
}

function when(t: string | null, never: string): string {
  return t === null ? never : t.replace('.000Z', 'Z');
}

function cronJobRows(r: CronJobReport): Row[] {
  const tz = r.timeZone ?? 'UTC';
  let nextEmpty = 'none: this schedule never fires';
  if (r.suspended) nextEmpty = 'none: the CronJob is suspended (manual runs still work)';
  else if (r.scheduleError) nextEmpty = `unknown: ${r.scheduleError}`;
  const rows: Row[] = [
    ['CronJob', `${r.namespace}/${r.name}`],
    ['Schedule', r.schedule],
    ['Time zone', r.timeZone ?? 'UTC (not set: the controller time zone, normally UTC)'],
    ['Suspended', r.suspended ? 'yes' : 'no'],
    ['Last scheduled', when(r.lastScheduleTime, 'never')],
    ['Last successful', when(r.lastSuccessfulTime, 'never')],
    ...listRows('Active jobs', r.activeJobs, 'none'),
    ...listRows(
      'Next runs',
      r.nextRuns.map((t) => formatTime(t, tz)),
      nextEmpty,
    ),
  ];
  const run = r.lastRun;
  if (!run) {
    rows.push(['Last run', 'no finished run recorded yet']);
    return rows;
  }
  const reason = run.reason ? ` (${run.reason})` : '';
  rows.push(['Last run', `job ${run.job} ${run.result}${reason} at ${when(run.finishedAt, 'unknown time')}`]);
  rows.push(['  Pod', run.pod ?? 'gone']);
  if (run.record) {
    const s = run.record.summary;
    rows.push(['  Exit code', String(run.record.exitCode)]);
    rows.push(['  Dry run', run.record.dryRun ? 'yes' : 'no']);
    if (run.record.mode) rows.push(['  Mode', run.record.mode]);
    if (run.record.error) rows.push(['  Error', run.record.error]);
    rows.push(['  Pods', `${s.pods} checked: ${s.current} current, ${s.stale} stale, ${s.skipped} skipped`]);
    rows.push(['  Restarts', `${s.restarted} restarted, ${s.failed} failed`]);
  } else if (run.message) {
    rows.push(['  Summary', 'none recorded; termination message:']);
    for (const line of run.message.split('\n').slice(-10)) rows.push(['', `| ${line}`]);
  } else {
    rows.push(['  Summary', 'none recorded (the pod left no termination message)']);
  }
  return rows;
}
