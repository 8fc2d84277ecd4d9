// The run record a run leaves in its termination log: what parses as one, what does not, and writing it.

import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import {
  encodeRunRecord,
  parseRunRecord,
  type RunRecord,
  writeTerminationLog,
} from '../../lib/report/record.ts';

const RECORD: RunRecord = {
  v: 1,
  finishedAt: '2026-01-15T02:01:30.000Z',
  exitCode: 1,
  dryRun: true,
  mode: 'registry',
  summary: { pods: 3, current: 1, stale: 1, skipped: 1, restarted: 0, failed: 1 },
};

t.test('when a record is encoded then it parses back to the same record on one line', async (t) => {
  const text = encodeRunRecord(RECORD);
  t.notMatch(text, /\n/);
  t.same(parseRunRecord(text), RECORD);
});

t.test(
  'when the run orchestration writes its document then status reads it, extra fields ignored',
  async (t) => {
    // The shape lib/jobs/restart-stale.ts writes.
    const doc = JSON.stringify({ ...RECORD, plan: 'ignored', summary: { ...RECORD.summary, extra: 9 } });
    t.same(parseRunRecord(doc), RECORD);
    const { mode: _m, ...withoutMode } = RECORD;
    t.same(parseRunRecord(JSON.stringify(withoutMode)), withoutMode, 'mode is optional');
  },
);

t.test('when the message is not a run record then nothing is parsed', async (t) => {
  const notRecords = [
    undefined,
    '',
    'k8s-auto-updater: configuration error: --mode: "x"',
    '{"level":50,"msg":"boom"}',
    JSON.stringify({ ...RECORD, v: 2 }),
    JSON.stringify({ ...RECORD, summary: { ...RECORD.summary, pods: 'three' } }),
    JSON.stringify({ ...RECORD, exitCode: '0' }),
    'null',
    '[1]',
  ];
  for (const m of notRecords) t.equal(parseRunRecord(m), undefined, JSON.stringify(m));
});

t.test(
  'when the termination log path is writable then the record is written; else false, no throw',
  async (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'record-'));
    t.teardown(() => rmSync(dir, { recursive: true, force: true }));
    const file = join(dir, 'termination-log');
    t.equal(writeTerminationLog(RECORD, file), true);
    t.same(parseRunRecord(readFileSync(file, 'utf8')), RECORD);
    t.equal(writeTerminationLog(RECORD, join(dir, 'missing', 'x')), false);
  },
);
