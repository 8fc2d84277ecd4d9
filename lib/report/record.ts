// The run record: the compact JSON a run writes to its container's termination log so that `status` (and
// `kubectl get pod -o jsonpath='{..terminated.message}'`) can tell what the last run did without log access.

import { writeFileSync } from 'node:fs';

/** Where Kubernetes reads a container's termination message unless the pod spec says otherwise. */
export const TERMINATION_LOG = '/dev/termination-log';

/** Kubernetes keeps at most 4096 bytes of a termination message. */
const MAX_BYTES = 4096;

export interface RunCounts {
  pods: number;
  current: number;
  stale: number;
  skipped: number;
  restarted: number;
  failed: number;
}

export interface RunRecord {
  v: 1;
  /** ISO 8601 UTC time the run finished. */
  finishedAt: string;
  exitCode: number;
  dryRun: boolean;
  /** Where digests came from ("registry" or "docker"); absent in records of older versions. */
  mode?: string;
  /** Why the run stopped early (first 500 characters); absent when it ran to the end. */
  error?: string;
  summary: RunCounts;
}

/** The longest error a record keeps: the whole record must fit the 4096-byte termination message. */
export const MAX_RECORD_ERROR = 500;

const COUNT_KEYS: readonly (keyof RunCounts)[] = [
  'pods',
  'current',
  'stale',
  'skipped',
  'restarted',
  'failed',
];

/** Serialises a record as one compact line, keys in a fixed order. */
export function encodeRunRecord(r: RunRecord): string {
  const summary = Object.fromEntries(COUNT_KEYS.map((k) => [k, r.summary[k]]));
  const mode = r.mode === undefined ? {} : { mode: r.mode };
  const error = r.error === undefined ? {} : { error: r.error.slice(0, MAX_RECORD_ERROR) };
  return JSON.stringify({
    v: 1,
    finishedAt: r.finishedAt,
    exitCode: r.exitCode,
    dryRun: r.dryRun,
    ...mode,
    ...error,
    summary,
  });
}

/** Parses a termination message into a record; undefined for anything else (e.g. log lines). Never throws. */
export function parseRunRecord(text: string | undefined | null): RunRecord | undefined {
  if (!text) return undefined;
  let o: unknown;
  try {
    o = JSON.parse(text.trim());
  } catch {
    return undefined;
  }
  if (!o || typeof o !== 'object') return undefined;
  const r = o as Record<string, unknown>;
  const s = r.summary as Record<string, unknown> | undefined;
  if (r.v !== 1 || typeof r.finishedAt !== 'string' || typeof r.exitCode !== 'number') return undefined;
  if (!s || typeof s !== 'object' || !COUNT_KEYS.every((k) => typeof s[k] === 'number')) return undefined;
  return {
    v: 1,
    finishedAt: r.finishedAt,
    exitCode: r.exitCode,
    dryRun: r.dryRun === true,
    ...(typeof r.mode === 'string' ? { mode: r.mode } : {}),
    ...(typeof r.error === 'string' ? { error: r.error } : {}),
    summary: Object.fromEntries(COUNT_KEYS.map((k) => [k, s[k] as number])) as unknown as RunCounts,
  };
}

/**
 * Writes the record to the termination log. Returns false when the file cannot be written (not in a pod, or a
 * workstation without /dev/termination-log): the record is a convenience, never a reason to fail a run.
 */
export function writeTerminationLog(r: RunRecord, path: string = TERMINATION_LOG): boolean {
  const text = encodeRunRecord(r);
  if (Buffer.byteLength(text) > MAX_BYTES) return false;
  try {
    // flag 'r+' on the real device: never create a stray file on a workstation where the path does not exist.
    writeFileSync(path, text, { flag: path === TERMINATION_LOG ? 'r+' : 'w' });
    return true;
  } catch {
    return false;
  }
}
