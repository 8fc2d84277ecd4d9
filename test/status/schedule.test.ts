// Offline schedule validation: what Kubernetes accepts, the errors for what it refuses, and next run times in
// time zones across DST changes.

import t from 'tap';
import { ConfigError } from '../../lib/shared/errors.ts';
import { nextRuns, parseSchedule } from '../../lib/status/schedule.ts';
import { scheduleReport } from '../../lib/status/status.ts';

const FROM = new Date('2026-01-15T10:07:00Z');

t.test('when a schedule is one Kubernetes accepts then it parses', async (t) => {
  const good: [string, string | undefined, string][] = [
    ['0 3 * * *', undefined, '2026-01-16T03:00:00.000Z'],
    ['*/15 * * * *', undefined, '2026-01-15T10:15:00.000Z'],
    ['0 9-17 * * 1-5', undefined, '2026-01-15T11:00:00.000Z'],
    ['30 4 1,15 * *', undefined, '2026-02-01T04:30:00.000Z'],
    ['0 0 * JAN,feb MON', undefined, '2026-01-19T00:00:00.000Z'],
    ['0 12 ? * *', undefined, '2026-01-15T12:00:00.000Z'],
    ['@hourly', undefined, '2026-01-15T11:00:00.000Z'],
    ['@daily', undefined, '2026-01-16T00:00:00.000Z'],
    ['@midnight', undefined, '2026-01-16T00:00:00.000Z'],
    ['@weekly', undefined, '2026-01-18T00:00:00.000Z'],
    ['@monthly', undefined, '2026-02-01T00:00:00.000Z'],
    ['@yearly', undefined, '2027-01-01T00:00:00.000Z'],
    ['@annually', undefined, '2027-01-01T00:00:00.000Z'],
    ['  0 3 * * *  ', undefined, '2026-01-16T03:00:00.000Z'],
    ['0 3 * * *', 'Europe/Berlin', '2026-01-16T02:00:00.000Z'],
    ['0 3 * * *', 'America/New_York', '2026-01-16T08:00:00.000Z'],
    ['0 3 * * *', 'Asia/Kolkata', '2026-01-15T21:30:00.000Z'],
    ['0 3 * * *', 'UTC', '2026-01-16T03:00:00.000Z'],
  ];
  for (const [expr, tz, first] of good) {
    const parsed = parseSchedule(expr, tz);
    t.equal(parsed.timeZone, tz ?? 'UTC', `${expr} keeps its zone`);
    t.equal(
      nextRuns(parsed, FROM, 1)[0]?.toISOString(),
      first,
      `${expr} in ${tz ?? 'UTC'} first fires at ${first}`,
    );
  }
});

t.test(
  'when a schedule or time zone is not one Kubernetes accepts then a ConfigError says why',
  async (t) => {
    const bad: [string, string | undefined, RegExp][] = [
      ['0 0 3 * * *', undefined, /6 fields.*no seconds field.*"0 3 \* \* \*"/],
      ['* * * * * *', undefined, /6 fields/],
      ['0 3 * *', undefined, /4 field\(s\).*exactly five/],
      ['', undefined, /empty/],
      ['61 * * * *', undefined, /61/],
      ['0 25 * * *', undefined, /25/],
      ['0 0 30 2 *', undefined, /not valid/],
      ['0 0 L * *', undefined, /"L".*does not accept/],
      ['0 0 * * 5#3', undefined, /characters other than/],
      ['H 0 * * *', undefined, /"H"/],
      ['0 0 * * MONDAY', undefined, /"MONDAY"/],
      ['0 0 * JAN-FOO *', undefined, /"FOO"/],
      ['@every 5m', undefined, /unknown descriptor.*@hourly/],
      ['@reboot', undefined, /unknown descriptor/],
      ['@secondly', undefined, /unknown descriptor/],
      ['CRON_TZ=Europe/Berlin 0 3 * * *', undefined, /CRON_TZ=.*time zone separately/],
      ['TZ=UTC 0 3 * * *', undefined, /TZ=/],
      ['0 3 * * *', 'Mars/Olympus', /"Mars\/Olympus" is not a known IANA time zone/],
      ['0 3 * * *', 'Local', /"Local" is not accepted/],
    ];
    for (const [expr, tz, message] of bad) {
      t.throws(() => parseSchedule(expr, tz), ConfigError, `${JSON.stringify(expr)} in ${tz} is refused`);
      t.throws(() => parseSchedule(expr, tz), { message }, `${JSON.stringify(expr)} error explains`);
    }
  },
);

t.test('when the error is about the expression then it names the expression', async (t) => {
  t.throws(() => parseSchedule('0 0 3 * * *'), { message: /^schedule "0 0 3 \* \* \*"/ });
});

t.test('when DST starts in the zone then a time in the skipped hour still fires once that day', async (t) => {
  // 2026-03-29: Berlin jumps from 02:00 CET to 03:00 CEST, so 02:30 does not exist that day.
  const runs = nextRuns(parseSchedule('30 2 * * *', 'Europe/Berlin'), new Date('2026-03-27T12:00:00Z'), 3);
  t.same(
    runs.map((d) => d.toISOString()),
    ['2026-03-28T01:30:00.000Z', '2026-03-29T01:30:00.000Z', '2026-03-30T00:30:00.000Z'],
  );
});

t.test(
  'when DST ends in the zone then a daily time keeps its wall clock and the UTC offset moves',
  async (t) => {
    // 2026-10-25: Berlin goes from CEST (UTC+2) back to CET (UTC+1).
    const runs = nextRuns(parseSchedule('0 3 * * *', 'Europe/Berlin'), new Date('2026-10-24T00:00:00Z'), 3);
    t.same(
      runs.map((d) => d.toISOString()),
      ['2026-10-24T01:00:00.000Z', '2026-10-25T02:00:00.000Z', '2026-10-26T02:00:00.000Z'],
    );
  },
);

t.test('when the same schedule has no zone then it runs on UTC whatever the DST', async (t) => {
  const runs = nextRuns(parseSchedule('0 3 * * *'), new Date('2026-10-24T00:00:00Z'), 2);
  t.same(
    runs.map((d) => d.toISOString()),
    ['2026-10-24T03:00:00.000Z', '2026-10-25T03:00:00.000Z'],
  );
});

t.test(
  'when the next N runs are asked for then exactly N strictly later times come back in order',
  async (t) => {
    const runs = nextRuns(parseSchedule('*/20 * * * *'), new Date('2026-01-15T10:20:00Z'), 4);
    t.same(
      runs.map((d) => d.toISOString()),
      [
        '2026-01-15T10:40:00.000Z',
        '2026-01-15T11:00:00.000Z',
        '2026-01-15T11:20:00.000Z',
        '2026-01-15T11:40:00.000Z',
      ],
    );
  },
);

t.test('when --schedule is checked offline then the report carries the zone and run times', async (t) => {
  t.same(scheduleReport('@daily', 'Asia/Tokyo', FROM, 2), {
    kind: 'Schedule',
    v: 1,
    schedule: '@daily',
    timeZone: 'Asia/Tokyo',
    nextRuns: ['2026-01-15T15:00:00.000Z', '2026-01-16T15:00:00.000Z'],
  });
});
