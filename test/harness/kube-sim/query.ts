// Query parameters shared by the verbs: selectors, dryRun, DeleteOptions (body or query) and includeObject.

import type { ResourceType } from './resources.ts';
import { matchRequirements, parseFieldSelector, parseLabelSelector } from './selectors.ts';
import { type DeleteOptions, type KObject, StoreError } from './store.ts';
import type { IncludeObject } from './table.ts';

// biome-ignore lint/suspicious/noExplicitAny: open JSON.
type Json = any;

/** A predicate for `labelSelector` and `fieldSelector`; throws a 400 StoreError for malformed or unsupported ones. */
export function selection(q: URLSearchParams, t: ResourceType): (o: KObject) => boolean {
  const ls = q.get('labelSelector');
  const fs = q.get('fieldSelector');
  const reqs = ls ? parseLabelSelector(ls) : [];
  const fieldMatch = fs ? parseFieldSelector(fs, t.kind) : undefined;
  return (o) => matchRequirements(reqs, o.metadata.labels) && (!fieldMatch || fieldMatch(o));
}

/** `includeObject` of Table requests (default Metadata, as the real server). */
export function includeObject(q: URLSearchParams): IncludeObject {
  const v = q.get('includeObject');
  return v === 'None' || v === 'Object' ? v : 'Metadata';
}

/** Whether `dryRun=All` was asked; throws 400 for other values, like the real server. */
export function isDryRun(q: URLSearchParams): boolean {
  const v = q.getAll('dryRun');
  if (v.some((x) => x !== 'All')) {
    throw new StoreError(400, 'BadRequest', `unsupported dry run option: ${v.join(',')}`);
  }
  return v.includes('All');
}

/** DeleteOptions from a body (JSON or decoded protobuf) or the query string; throws 422 for a bad propagationPolicy. */
export function deleteOptions(body: Json, q: URLSearchParams): DeleteOptions {
  const o: DeleteOptions = {};
  const grace =
    body?.gracePeriodSeconds ??
    (q.has('gracePeriodSeconds') ? Number(q.get('gracePeriodSeconds')) : undefined);
  if (typeof grace === 'number' && !Number.isNaN(grace)) o.gracePeriodSeconds = grace;
  let policy = body?.propagationPolicy ?? q.get('propagationPolicy') ?? undefined;
  const orphan =
    body?.orphanDependents ?? (q.has('orphanDependents') ? q.get('orphanDependents') === 'true' : undefined);
  if (!policy && orphan === true) policy = 'Orphan';
  if (policy) {
    if (!['Background', 'Foreground', 'Orphan'].includes(policy)) {
      throw new StoreError(
        422,
        'Invalid',
        `DeleteOptions.meta.k8s.io "" is invalid: propagationPolicy: Unsupported value: "${policy}"`,
      );
    }
    o.propagationPolicy = policy;
  }
  if (body?.preconditions) o.preconditions = body.preconditions;
  const dry = body?.dryRun ?? q.getAll('dryRun');
  if (Array.isArray(dry) && dry.includes('All')) o.dryRun = true;
  return o;
}
