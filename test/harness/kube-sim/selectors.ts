// Label and field selectors as the API server parses and evaluates them (query strings and LabelSelector objects).

import type { KObject } from './store.ts';
import { StoreError } from './store.ts';

export type Requirement =
  | { key: string; op: 'eq' | 'neq'; value: string }
  | { key: string; op: 'in' | 'notin'; values: string[] }
  | { key: string; op: 'exists' | 'notexists' };

export type Matcher = (labels: Record<string, string> | undefined) => boolean;

const KEY_RE =
  /^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*\/)?[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$/;
const VALUE_RE = /^([A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)?$/;

function invalid(selector: string, why: string): StoreError {
  return new StoreError(400, 'BadRequest', `unable to parse requirement: ${why} in selector "${selector}"`);
}

/** Splits a selector on the commas that are not inside `( … )`. */
function splitTop(s: string): string[] {
  const out: string[] = [];
  let depth = 0;
  let cur = '';
  for (const ch of s) {
    if (ch === '(') depth++;
    if (ch === ')') depth--;
    if (ch === ',' && depth === 0) {
      out.push(cur);
      cur = '';
    } else cur += ch;
  }
  out.push(cur);
  return out.map((p) => p.trim()).filter((p) => p !== '');
}

/** Parses a `labelSelector` query value (=, ==, !=, in, notin, key, !key); throws a 400 StoreError when malformed. */
export function parseLabelSelector(selector: string): Requirement[] {
  const reqs: Requirement[] = [];
  for (const part of splitTop(selector)) {
    const notExists = part.match(/^!\s*(\S+)$/);
    const setBased = part.match(/^(\S+?)\s+(in|notin)\s*\(([^)]*)\)$/);
    const equality = part.match(/^([^=!\s]+)\s*(==|=|!=)\s*(\S*)$/);
    const exists = part.match(/^([^=!\s()]+)$/);
    const checkKey = (k: string) => {
      if (!KEY_RE.test(k)) throw invalid(selector, `invalid label key "${k}"`);
      return k;
    };
    const checkValue = (v: string) => {
      if (!VALUE_RE.test(v) || v.length > 63) throw invalid(selector, `invalid label value: "${v}"`);
      return v;
    };
    if (notExists) {
      reqs.push({ key: checkKey(notExists[1]!), op: 'notexists' });
    } else if (setBased) {
      const m = setBased;
      const values = m[3]!
        .split(',')
        .map((v) => v.trim())
        .filter((v) => v !== '')
        .map(checkValue);
      if (values.length === 0)
        throw invalid(selector, "for 'in', 'notin' operators, values set can't be empty");
      reqs.push({ key: checkKey(m[1]!), op: m[2] as 'in' | 'notin', values });
    } else if (equality) {
      const m = equality;
      reqs.push({ key: checkKey(m[1]!), op: m[2] === '!=' ? 'neq' : 'eq', value: checkValue(m[3]!) });
    } else if (exists) {
      reqs.push({ key: checkKey(exists[1]!), op: 'exists' });
    } else {
      throw invalid(selector, `unexpected expression "${part}"`);
    }
  }
  return reqs;
}

/** Whether labels satisfy every requirement (the empty list matches everything). */
export function matchRequirements(reqs: Requirement[], labels: Record<string, string> | undefined): boolean {
  const l = labels ?? {};
  for (const r of reqs) {
    const has = Object.hasOwn(l, r.key);
    const v = l[r.key];
    switch (r.op) {
      case 'eq':
        if (v !== r.value) return false;
        break;
      case 'neq':
        if (v === r.value) return false;
        break;
      case 'in':
        if (!has || !r.values.includes(v!)) return false;
        break;
      case 'notin':
        if (has && r.values.includes(v!)) return false;
        break;
      case 'exists':
        if (!has) return false;
        break;
      case 'notexists':
        if (has) return false;
        break;
    }
  }
  return true;
}

export interface LabelSelectorObject {
  matchLabels?: Record<string, string>;
  matchExpressions?: Array<{ key: string; operator: string; values?: string[] }>;
}

/**
 * A matcher for a LabelSelector object (PDB, workload selectors). As in the API server's policy code,
 * an empty selector matches everything and a missing one matches nothing.
 */
export function labelSelectorObjectMatcher(sel: LabelSelectorObject | undefined | null): Matcher {
  if (!sel) return () => false;
  const reqs: Requirement[] = [];
  for (const [key, value] of Object.entries(sel.matchLabels ?? {})) reqs.push({ key, op: 'eq', value });
  for (const e of sel.matchExpressions ?? []) {
    switch (e.operator) {
      case 'In':
        reqs.push({ key: e.key, op: 'in', values: e.values ?? [] });
        break;
      case 'NotIn':
        reqs.push({ key: e.key, op: 'notin', values: e.values ?? [] });
        break;
      case 'Exists':
        reqs.push({ key: e.key, op: 'exists' });
        break;
      case 'DoesNotExist':
        reqs.push({ key: e.key, op: 'notexists' });
        break;
      default:
        return () => false;
    }
  }
  return (labels) => matchRequirements(reqs, labels);
}

export interface FieldRequirement {
  field: string;
  op: 'eq' | 'neq';
  value: string;
}

/** Field paths each kind can be selected by (beyond metadata.name / metadata.namespace, which all kinds support). */
const FIELDS: Record<string, Record<string, (o: KObject) => string | undefined>> = {
  Pod: {
    'spec.nodeName': (o) => o.spec?.nodeName ?? '',
    'spec.restartPolicy': (o) => o.spec?.restartPolicy ?? '',
    'spec.schedulerName': (o) => o.spec?.schedulerName ?? '',
    'spec.serviceAccountName': (o) => o.spec?.serviceAccountName ?? '',
    'status.phase': (o) => o.status?.phase ?? '',
    'status.podIP': (o) => o.status?.podIP ?? '',
    'status.nominatedNodeName': (o) => o.status?.nominatedNodeName ?? '',
  },
  Event: {
    'involvedObject.kind': (o) => o.involvedObject?.kind ?? '',
    'involvedObject.name': (o) => o.involvedObject?.name ?? '',
    'involvedObject.namespace': (o) => o.involvedObject?.namespace ?? '',
    'involvedObject.uid': (o) => o.involvedObject?.uid ?? '',
    'involvedObject.apiVersion': (o) => o.involvedObject?.apiVersion ?? '',
    'involvedObject.resourceVersion': (o) => o.involvedObject?.resourceVersion ?? '',
    'involvedObject.fieldPath': (o) => o.involvedObject?.fieldPath ?? '',
    reason: (o) => o.reason ?? '',
    source: (o) => o.source?.component ?? '',
    type: (o) => o.type ?? '',
  },
  Secret: { type: (o) => o.type ?? '' },
  Node: { 'spec.unschedulable': (o) => String(o.spec?.unschedulable ?? false) },
  Namespace: { 'status.phase': (o) => o.status?.phase ?? '' },
  ReplicaSet: { 'status.replicas': (o) => String(o.status?.replicas ?? 0) },
  Job: { 'status.successful': (o) => String(o.status?.succeeded ?? 0) },
};

/**
 * Parses a `fieldSelector` for one kind; throws the API's 400 for unsupported fields, as the real server does
 * ("field label not supported").
 */
export function parseFieldSelector(selector: string, kind: string): (o: KObject) => boolean {
  const reqs: FieldRequirement[] = [];
  for (const part of splitTop(selector)) {
    const m = part.match(/^([^=!\s]+)\s*(==|=|!=)\s*(.*)$/);
    if (!m)
      throw new StoreError(400, 'BadRequest', `invalid selector: '${selector}'; can't understand '${part}'`);
    reqs.push({ field: m[1]!, op: m[2] === '!=' ? 'neq' : 'eq', value: m[3]!.trim() });
  }
  const getters = reqs.map((r) => {
    if (r.field === 'metadata.name') return (o: KObject) => o.metadata.name ?? '';
    if (r.field === 'metadata.namespace') return (o: KObject) => o.metadata.namespace ?? '';
    const g = FIELDS[kind]?.[r.field];
    if (!g) {
      throw new StoreError(400, 'BadRequest', `field label not supported: ${r.field}`);
    }
    return g;
  });
  return (o) =>
    reqs.every((r, i) => {
      const v = getters[i]!(o);
      return r.op === 'eq' ? v === r.value : v !== r.value;
    });
}
