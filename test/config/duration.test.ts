import t from 'tap';
import { formatDuration, parseDuration } from '../../lib/config/duration.ts';

t.test('when a duration is written with units then it parses to milliseconds', async (t) => {
  const cases: Array<[string, number]> = [
    ['90s', 90_000],
    ['5m', 300_000],
    ['1h30m', 5_400_000],
    ['250ms', 250],
    ['1m30s', 90_000],
    ['2', 2000],
    ['0.5', 500],
    [' 10s ', 10_000],
  ];
  for (const [text, ms] of cases) t.equal(parseDuration(text), ms, text);
});

t.test('when a duration is malformed then the error names the accepted forms', async (t) => {
  for (const bad of ['', '5x', 'm5', '5m garbage', '-1s', '1.5.2s']) {
    t.throws(() => parseDuration(bad), /is not a duration: use e\.g\. 90s/, JSON.stringify(bad));
  }
});

t.test('when formatting then the compact form round-trips', async (t) => {
  for (const ms of [250, 1000, 90_000, 5_400_000]) t.equal(parseDuration(formatDuration(ms)), ms);
});
