// Validates a CronJob schedule the way Kubernetes accepts it (five fields or a few @macros, no seconds, no
// Quartz extensions) and computes its next run times in the CronJob's time zone with cron-parser.

import { CronExpressionParser } from 'cron-parser';
import { ConfigError } from '../shared/errors.ts';

/** The descriptors Kubernetes' cron parser (robfig/cron ParseStandard) accepts, and their five-field meaning. */
export const SCHEDULE_MACROS: Readonly<Record<string, string>> = {
  '@yearly': '0 0 1 1 *',
  '@annually': '0 0 1 1 *',
  '@monthly': '0 0 1 * *',
  '@weekly': '0 0 * * 0',
  '@daily': '0 0 * * *',
  '@midnight': '0 0 * * *',
  '@hourly': '0 * * * *',
};

const FIELD_NAMES = ['minute', 'hour', 'day of month', 'month', 'day of week'] as const;
const MONTH_NAMES = /^(jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)$/i;
const DAY_NAMES = /^(sun|mon|tue|wed|thu|fri|sat)$/i;
const EXAMPLE = 'e.g. "0 3 * * *" (03:00 every day) or @daily';

export interface ParsedSchedule {
  /** The expression as given (trimmed). */
  expression: string;
  /** The five fields cron-parser evaluates (a macro expanded). */
  fields: string;
  /** IANA time zone the times are computed in ("UTC" when none was given). */
  timeZone: string;
}

/**
 * Checks a schedule and time zone against what Kubernetes accepts; throws ConfigError naming the expression,
 * what is wrong and the fix (a 6-field expression with seconds is the common mistake).
 */
export function parseSchedule(expression: string, timeZone?: string): ParsedSchedule {
  const expr = expression.trim();
  const tz = checkTimeZone(timeZone);
  const bad = (why: string) =>
    new ConfigError(`schedule "${expression}" is not a valid Kubernetes CronJob schedule: ${why}`);
  if (expr === '')
    throw bad(`it is empty; give five fields: minute hour day-of-month month day-of-week, ${EXAMPLE}`);
  if (/^(CRON_)?TZ=/i.test(expr)) {
    throw bad(
      'a TZ= or CRON_TZ= prefix is not supported by Kubernetes; set the time zone separately (--time-zone, chart value timeZone)',
    );
  }
  let fields: string;
  if (expr.startsWith('@')) {
    const macro = SCHEDULE_MACROS[expr.toLowerCase()];
    if (macro === undefined) {
      throw bad(
        `unknown descriptor; Kubernetes accepts ${Object.keys(SCHEDULE_MACROS).join(', ')}, or five fields`,
      );
    }
    fields = macro;
  } else {
    const parts = expr.split(/\s+/);
    if (parts.length === 6) {
      throw bad(
        `it has 6 fields, but Kubernetes has no seconds field; drop the first field ("${parts.slice(1).join(' ')}" ` +
          'runs at second 0 of those minutes)',
      );
    }
    if (parts.length !== 5) {
      throw bad(
        `it has ${parts.length} field(s); give exactly five: minute hour day-of-month month day-of-week, ${EXAMPLE}`,
      );
    }
    for (const [i, field] of parts.entries()) checkField(field, i, bad);
    fields = parts.join(' ');
  }
  try {
    // Parsing once here surfaces range errors (minute 61, day 30 of February) before any run time is asked for.
    CronExpressionParser.parse(fields, { tz, currentDate: new Date(0) }).next();
  } catch (e) {
    throw new ConfigError(`schedule "${expression}" is not valid: ${(e as Error).message}`, { cause: e });
  }
  return { expression: expr, fields, timeZone: tz };
}

// Characters robfig/cron accepts; cron-parser also knows L, W, # and H, which Kubernetes would refuse.
function checkField(field: string, index: number, bad: (why: string) => ConfigError): void {
  const name = FIELD_NAMES[index]!;
  const words = field.match(/[a-z]+/gi) ?? [];
  const names = index === 3 ? MONTH_NAMES : index === 4 ? DAY_NAMES : undefined;
  for (const w of words) {
    if (!names?.test(w)) {
      throw bad(
        `the ${name} field "${field}" contains "${w}", which Kubernetes does not accept (no L, W, # or H extensions)`,
      );
    }
  }
  if (!/^[0-9a-z*?,/-]+$/i.test(field)) {
    throw bad(`the ${name} field "${field}" has characters other than digits, names, * ? , / -`);
  }
}

function checkTimeZone(timeZone: string | undefined): string {
  if (timeZone === undefined || timeZone === '') return 'UTC';
  // Kubernetes refuses "Local": the controller's own zone would make the schedule depend on where it runs.
  if (timeZone.toLowerCase() === 'local') {
    throw new ConfigError(
      'time zone "Local" is not accepted by Kubernetes: give an IANA name such as Europe/Berlin or UTC',
    );
  }
  try {
    new Intl.DateTimeFormat('en', { timeZone });
  } catch {
    throw new ConfigError(
      `time zone "${timeZone}" is not a known IANA time zone: use a name such as UTC, Europe/Berlin or America/New_York`,
    );
  }
  return timeZone;
}

/** The next `count` run times strictly after `from`; a schedule that can never fire yields fewer. Never throws. */
export function nextRuns(schedule: ParsedSchedule, from: Date, count: number): Date[] {
  const it = CronExpressionParser.parse(schedule.fields, { tz: schedule.timeZone, currentDate: from });
  const out: Date[] = [];
  while (out.length < count) {
    try {
      out.push(it.next().toDate());
    } catch {
      break;
    }
  }
  return out;
}
