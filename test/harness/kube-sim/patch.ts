// The three PATCH formats the API server accepts: JSON patch (RFC 6902), JSON merge patch (RFC 7386) and
// strategic merge patch (Kubernetes' list-merge-by-key variant, with the directives kubectl sends).

import { StoreError } from './store.ts';

// biome-ignore lint/suspicious/noExplicitAny: patches work on open JSON.
type Json = any;

export const JSON_PATCH = 'application/json-patch+json';
export const MERGE_PATCH = 'application/merge-patch+json';
export const STRATEGIC_MERGE_PATCH = 'application/strategic-merge-patch+json';
export const APPLY_PATCH = 'application/apply-patch+yaml';

function isObject(v: unknown): v is Record<string, Json> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function unprocessable(message: string): StoreError {
  return new StoreError(422, 'Invalid', message);
}

function decodePointer(path: string): string[] {
  if (path === '') return [];
  if (!path.startsWith('/')) throw unprocessable(`invalid JSON pointer "${path}"`);
  return path
    .slice(1)
    .split('/')
    .map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'));
}

function parentOf(doc: Json, tokens: string[], op: string): { parent: Json; last: string } {
  let cur = doc;
  for (const t of tokens.slice(0, -1)) {
    cur = Array.isArray(cur) ? cur[Number(t)] : isObject(cur) ? cur[t] : undefined;
    if (cur === undefined)
      throw unprocessable(
        `${op} operation does not apply: doc is missing path: "/${tokens.join('/')}": missing value`,
      );
  }
  return { parent: cur, last: tokens[tokens.length - 1]! };
}

function getAt(doc: Json, path: string, op: string): Json {
  let cur = doc;
  for (const t of decodePointer(path)) {
    cur = Array.isArray(cur) ? cur[Number(t)] : isObject(cur) ? cur[t] : undefined;
    if (cur === undefined)
      throw unprocessable(`${op} operation does not apply: doc is missing path: "${path}": missing value`);
  }
  return cur;
}

function removeAt(doc: Json, path: string, op: string): Json {
  const tokens = decodePointer(path);
  const { parent, last } = parentOf(doc, tokens, op);
  if (Array.isArray(parent)) {
    const i = Number(last);
    if (!Number.isInteger(i) || i < 0 || i >= parent.length)
      throw unprocessable(`${op} operation does not apply: doc is missing path: "${path}": missing value`);
    return parent.splice(i, 1)[0];
  }
  if (!isObject(parent) || !Object.hasOwn(parent, last)) {
    throw unprocessable(`${op} operation does not apply: doc is missing path: "${path}": missing value`);
  }
  const v = parent[last];
  delete parent[last];
  return v;
}

function addAt(doc: Json, path: string, value: Json, op: string, replace: boolean): Json {
  const tokens = decodePointer(path);
  if (tokens.length === 0) return value;
  const { parent, last } = parentOf(doc, tokens, op);
  if (Array.isArray(parent)) {
    const i = last === '-' ? parent.length : Number(last);
    if (!Number.isInteger(i) || i < 0 || i > parent.length || (replace && i >= parent.length)) {
      throw unprocessable(`${op} operation does not apply: doc is missing path: "${path}": missing value`);
    }
    parent.splice(i, replace ? 1 : 0, value);
  } else if (isObject(parent)) {
    if (replace && !Object.hasOwn(parent, last)) {
      throw unprocessable(`replace operation does not apply: doc is missing key: ${path}: missing value`);
    }
    parent[last] = value;
  } else {
    throw unprocessable(`${op} operation does not apply: doc is missing path: "${path}": missing value`);
  }
  return doc;
}

/** Applies an RFC 6902 patch to a copy of doc; throws 422 when an operation does not apply, like the API server. */
export function applyJsonPatch(doc: Json, patch: Json): Json {
  if (!Array.isArray(patch))
    throw new StoreError(
      400,
      'BadRequest',
      'json: cannot unmarshal object into Go value of type jsonpatch.Patch',
    );
  let out = structuredClone(doc);
  for (const p of patch) {
    const op = p?.op;
    switch (op) {
      case 'add':
        out = addAt(out, p.path, structuredClone(p.value), op, false);
        break;
      case 'replace':
        out = addAt(out, p.path, structuredClone(p.value), op, true);
        break;
      case 'remove':
        removeAt(out, p.path, op);
        break;
      case 'move': {
        const v = removeAt(out, p.from, op);
        out = addAt(out, p.path, v, op, false);
        break;
      }
      case 'copy':
        out = addAt(out, p.path, structuredClone(getAt(out, p.from, op)), op, false);
        break;
      case 'test':
        if (JSON.stringify(getAt(out, p.path, op)) !== JSON.stringify(p.value)) {
          throw unprocessable(`testing value ${p.path} failed: test failed`);
        }
        break;
      default:
        throw unprocessable(`Unexpected kind: ${op}`);
    }
  }
  return out;
}

/** Applies an RFC 7386 merge patch (null deletes, objects merge, everything else replaces). */
export function applyMergePatch(doc: Json, patch: Json): Json {
  if (!isObject(patch)) return structuredClone(patch);
  const out: Record<string, Json> = isObject(doc) ? structuredClone(doc) : {};
  for (const [k, v] of Object.entries(patch)) {
    if (v === null) delete out[k];
    else out[k] = applyMergePatch(out[k], v);
  }
  return out;
}

/**
 * Merge keys of the lists that strategic merge patch merges element-wise, by field name. Field names are unique
 * enough across the types the simulator serves (Service ports would merge by `port`, but Services are not served).
 */
const MERGE_KEYS: Record<string, string> = {
  containers: 'name',
  initContainers: 'name',
  ephemeralContainers: 'name',
  env: 'name',
  volumes: 'name',
  volumeMounts: 'mountPath',
  volumeDevices: 'devicePath',
  ports: 'containerPort',
  imagePullSecrets: 'name',
  ownerReferences: 'uid',
  conditions: 'type',
  hostAliases: 'ip',
  topologySpreadConstraints: 'topologyKey',
  containerStatuses: 'name',
  initContainerStatuses: 'name',
  resourceClaims: 'name',
  addresses: 'type',
};

/** Lists of scalars merged as sets. */
const SET_LISTS = new Set(['finalizers']);

/** Applies a strategic merge patch: lists with a known merge key merge element-wise; directives are honoured. */
export function applyStrategicMergePatch(doc: Json, patch: Json): Json {
  if (!isObject(patch))
    throw new StoreError(400, 'BadRequest', 'strategic merge patch must be a JSON object');
  return smpMap(isObject(doc) ? structuredClone(doc) : {}, patch);
}

function smpMap(orig: Record<string, Json>, patch: Record<string, Json>): Record<string, Json> {
  if (patch.$patch === 'replace') {
    const { $patch: _p, ...rest } = patch;
    return stripDirectives(rest);
  }
  if (patch.$patch === 'delete') return {};
  const out: Record<string, Json> = orig;
  const orders: Record<string, Json[]> = {};
  for (const [k, v] of Object.entries(patch)) {
    if (k === '$patch' || k === '$retainKeys') continue;
    if (k.startsWith('$setElementOrder/')) {
      orders[k.slice('$setElementOrder/'.length)] = v;
      continue;
    }
    if (k.startsWith('$deleteFromPrimitiveList/')) {
      const field = k.slice('$deleteFromPrimitiveList/'.length);
      if (Array.isArray(out[field]) && Array.isArray(v)) {
        out[field] = out[field].filter((x: Json) => !v.includes(x));
      }
      continue;
    }
    if (v === null) {
      delete out[k];
    } else if (isObject(v)) {
      out[k] = smpMap(isObject(out[k]) ? out[k] : {}, v);
    } else if (Array.isArray(v)) {
      out[k] = smpList(k, out[k], v);
    } else {
      out[k] = v;
    }
  }
  for (const [field, order] of Object.entries(orders)) {
    if (Array.isArray(out[field])) out[field] = reorder(field, out[field], order);
  }
  if (Array.isArray(patch.$retainKeys)) {
    const keep = new Set<string>(patch.$retainKeys);
    for (const k of Object.keys(out)) if (!keep.has(k)) delete out[k];
  }
  return out;
}

function stripDirectives(v: Json): Json {
  if (Array.isArray(v)) return v.map(stripDirectives);
  if (!isObject(v)) return v;
  const out: Record<string, Json> = {};
  for (const [k, x] of Object.entries(v)) if (!k.startsWith('$')) out[k] = stripDirectives(x);
  return out;
}

function smpList(field: string, orig: Json, patch: Json[]): Json[] {
  const mergeKey = MERGE_KEYS[field];
  if (patch.some((e) => isObject(e) && e.$patch === 'replace')) {
    return stripDirectives(patch.filter((e) => !(isObject(e) && e.$patch === 'replace')));
  }
  if (SET_LISTS.has(field)) {
    const base: Json[] = Array.isArray(orig) ? [...orig] : [];
    for (const x of patch) if (!base.includes(x)) base.push(x);
    return base;
  }
  if (!mergeKey || !patch.every(isObject)) return stripDirectives(patch);
  const out: Json[] = Array.isArray(orig) ? [...orig] : [];
  for (const p of patch) {
    const keyValue = p[mergeKey];
    const i = out.findIndex((o) => isObject(o) && o[mergeKey] === keyValue);
    if (p.$patch === 'delete') {
      if (i >= 0) out.splice(i, 1);
      continue;
    }
    if (i >= 0) out[i] = smpMap(structuredClone(out[i]), p);
    else out.push(smpMap({}, p));
  }
  return out;
}

/** `$setElementOrder`: listed elements first in the given order, the rest after, as the API server sorts them. */
function reorder(field: string, list: Json[], order: Json[]): Json[] {
  const mergeKey = MERGE_KEYS[field];
  const keyOf = (x: Json) => (mergeKey && isObject(x) ? x[mergeKey] : x);
  const pos = new Map(order.map((o, i) => [JSON.stringify(keyOf(o)), i]));
  const rank = (x: Json) => pos.get(JSON.stringify(keyOf(x))) ?? Number.MAX_SAFE_INTEGER;
  return list
    .map((x, i) => ({ x, i }))
    .sort((a, b) => rank(a.x) - rank(b.x) || a.i - b.i)
    .map((e) => e.x);
}

/** Applies a patch body of the given Content-Type; throws 415 for types the simulator does not implement. */
export function applyPatch(contentType: string, doc: Json, patch: Json): Json {
  const ct = contentType.split(';')[0]!.trim().toLowerCase();
  switch (ct) {
    case JSON_PATCH:
      return applyJsonPatch(doc, patch);
    case MERGE_PATCH:
      return applyMergePatch(doc, patch);
    case STRATEGIC_MERGE_PATCH:
      return applyStrategicMergePatch(doc, patch);
    default:
      throw new StoreError(
        415,
        'UnsupportedMediaType',
        `the body of the request was in an unknown format - accepted media types include: ${JSON_PATCH}, ${MERGE_PATCH}, ${STRATEGIC_MERGE_PATCH}`,
      );
  }
}
