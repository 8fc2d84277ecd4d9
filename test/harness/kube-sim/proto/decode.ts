// Decodes the Kubernetes protobuf envelope (`k8s\0` + runtime.Unknown) that kubectl's typed clients send, into the
// JSON object the rest of the simulator works with, using the field tables in schema.json.

import { readFileSync } from 'node:fs';
import { StoreError } from '../store.ts';
import { readFields, type WireField } from './wire.ts';

// biome-ignore lint/suspicious/noExplicitAny: decoded objects are open JSON.
type Json = any;
type FieldSpec = [name: string, type: number, repeated: 0 | 1, typeName?: string];
type Schema = Record<string, { map?: true; f: Record<string, FieldSpec> }>;

const MAGIC = Buffer.from([0x6b, 0x38, 0x73, 0x00]);
const META = 'k8s.io.apimachinery.pkg.apis.meta.v1';

/**
 * Embedded Go structs with `json:",inline"`: protobuf nests them under a field, JSON flattens them into the parent
 * (a Volume is `{name, emptyDir}`, not `{name, volumeSource: {emptyDir}}`). Every `localObjectReference` field
 * (ConfigMap/Secret key selectors, env and volume sources) is inlined too.
 */
const INLINE = new Set([
  'k8s.io.api.core.v1.Volume.volumeSource',
  'k8s.io.api.core.v1.Probe.handler',
  'k8s.io.api.core.v1.PersistentVolumeSpec.persistentVolumeSource',
  'k8s.io.api.core.v1.EphemeralContainer.ephemeralContainerCommon',
]);

/**
 * Non-pointer fields with `omitempty` that gogo-protobuf always writes: their zero value means "unset", and JSON
 * would omit them. Pointer fields (replicas, gracePeriodSeconds, runAsUser…) keep their zeros.
 */
const OMIT_ZERO: Record<string, readonly string[]> = {
  'k8s.io.apimachinery.pkg.apis.meta.v1.ObjectMeta': ['generation'],
  'k8s.io.api.core.v1.Container': ['stdin', 'stdinOnce', 'tty'],
  'k8s.io.api.core.v1.EphemeralContainerCommon': ['stdin', 'stdinOnce', 'tty'],
  'k8s.io.api.core.v1.PodSpec': ['hostNetwork', 'hostPID', 'hostIPC'],
  'k8s.io.api.core.v1.VolumeMount': ['readOnly'],
  'k8s.io.api.core.v1.ContainerPort': ['hostPort'],
  'k8s.io.api.core.v1.Probe': [
    'initialDelaySeconds',
    'timeoutSeconds',
    'periodSeconds',
    'successThreshold',
    'failureThreshold',
  ],
  'k8s.io.api.apps.v1.DeploymentSpec': ['minReadySeconds', 'paused'],
  'k8s.io.api.apps.v1.ReplicaSetSpec': ['minReadySeconds'],
  'k8s.io.api.apps.v1.StatefulSetSpec': ['minReadySeconds'],
  'k8s.io.api.apps.v1.DaemonSetSpec': ['minReadySeconds'],
};

function omitZero(message: string, field: string, v: Json): boolean {
  if (v !== 0 && v !== false) return false;
  if (field === 'readOnly' && message.endsWith('VolumeSource')) return true;
  return OMIT_ZERO[message]?.includes(field) ?? false;
}

let schema: Schema | undefined;
function loadSchema(): Schema {
  schema ??= JSON.parse(readFileSync(new URL('./schema.json', import.meta.url), 'utf8')) as Schema;
  return schema;
}

/** Whether a request body is in the Kubernetes protobuf encoding. */
export function isKubernetesProtobuf(contentType: string | undefined): boolean {
  return /^application\/vnd\.kubernetes\.protobuf/i.test(contentType ?? '');
}

/** The proto message name of an apiVersion/kind pair (core `v1` → k8s.io.api.core.v1). */
function messageName(apiVersion: string, kind: string): string {
  if (kind === 'DeleteOptions') return `${META}.DeleteOptions`;
  const [group, version] = apiVersion.includes('/') ? apiVersion.split('/') : ['core', apiVersion];
  const pkg = group!.replace(/\.k8s\.io$/, '').replace(/\.authorization$/, '');
  return `k8s.io.api.${pkg}.${version}.${kind}`;
}

function int64(v: bigint): number {
  return Number(BigInt.asIntN(64, v));
}

function scalar(type: number, f: WireField): Json {
  switch (type) {
    case 1:
      return Buffer.from(f.fixed!).readDoubleLE(0);
    case 2:
      return Buffer.from(f.fixed!).readFloatLE(0);
    case 3:
    case 4:
    case 13:
      return int64(f.varint!);
    case 5:
    case 14:
      return Number(BigInt.asIntN(32, f.varint!));
    case 8:
      return f.varint !== 0n;
    case 9:
      return Buffer.from(f.bytes!).toString('utf8');
    case 12:
      return Buffer.from(f.bytes!).toString('base64');
    case 17:
      return Number((f.varint! >> 1n) ^ -(f.varint! & 1n));
    default:
      throw new StoreError(400, 'BadRequest', `protobuf: unsupported field type ${type}`);
  }
}

function rfc3339(seconds: number, nanos: number, micro: boolean): string {
  const iso = new Date(seconds * 1000).toISOString().replace(/\.\d{3}Z$/, '');
  return micro ? `${iso}.${String(Math.floor(nanos / 1000)).padStart(6, '0')}Z` : `${iso}Z`;
}

/** Decodes one message; well-known apimachinery types become their JSON forms (Time → string, Quantity → string…). */
function decodeMessage(name: string, b: Uint8Array): Json {
  const s = loadSchema();
  switch (name) {
    case `${META}.Time`:
    case `${META}.MicroTime`: {
      let sec = 0;
      let nanos = 0;
      for (const f of readFields(b)) {
        if (f.no === 1) sec = int64(f.varint!);
        if (f.no === 2) nanos = Number(f.varint!);
      }
      return sec === 0 && nanos === 0 ? undefined : rfc3339(sec, nanos, name.endsWith('MicroTime'));
    }
    case `${META}.Duration`: {
      const ns = readFields(b).find((f) => f.no === 1)?.varint ?? 0n;
      return `${Number(ns) / 1e9}s`;
    }
    case 'k8s.io.apimachinery.pkg.util.intstr.IntOrString': {
      const fs = readFields(b);
      const type = Number(fs.find((f) => f.no === 1)?.varint ?? 0n);
      if (type === 1) return Buffer.from(fs.find((f) => f.no === 3)?.bytes ?? []).toString('utf8');
      return Number(BigInt.asIntN(32, fs.find((f) => f.no === 2)?.varint ?? 0n));
    }
    case 'k8s.io.apimachinery.pkg.api.resource.Quantity':
      return Buffer.from(readFields(b).find((f) => f.no === 1)?.bytes ?? []).toString('utf8');
    case 'k8s.io.apimachinery.pkg.runtime.RawExtension':
    case `${META}.FieldsV1`: {
      const raw = readFields(b).find((f) => f.no === 1)?.bytes;
      return raw?.length ? JSON.parse(Buffer.from(raw).toString('utf8')) : undefined;
    }
  }
  const m = s[name];
  if (!m)
    throw new StoreError(415, 'UnsupportedMediaType', `protobuf: the simulator has no schema for ${name}`);
  const out: Json = {};
  for (const f of readFields(b)) {
    const spec = m.f[String(f.no)];
    if (!spec) continue; // unknown fields are dropped, as the real decoder does
    const [field, type, repeated, typeName] = spec;
    let values: Json[];
    if (type === 11) {
      values = [decodeMessage(typeName!, f.bytes!)];
    } else if (f.wt === 2 && type !== 9 && type !== 12) {
      values = packed(type, f.bytes!);
    } else {
      values = [scalar(type, f)];
    }
    for (const v of values) {
      if (repeated) {
        const sub = type === 11 ? s[typeName!] : undefined;
        if (sub?.map) {
          out[field] ??= {};
          if (v?.key !== undefined) out[field][v.key] = v.value ?? '';
        } else {
          out[field] ??= [];
          out[field].push(v);
        }
      } else if (
        (INLINE.has(`${name}.${field}`) || field === 'localObjectReference') &&
        v &&
        typeof v === 'object'
      ) {
        Object.assign(out, v);
      } else if (v !== undefined && v !== '' && !omitZero(name, field, v)) {
        out[field] = v;
      }
    }
  }
  return out;
}

function packed(type: number, b: Uint8Array): Json[] {
  const out: Json[] = [];
  let pos = 0;
  while (pos < b.length) {
    if (type === 1) {
      out.push(Buffer.from(b.subarray(pos, pos + 8)).readDoubleLE(0));
      pos += 8;
    } else if (type === 2) {
      out.push(Buffer.from(b.subarray(pos, pos + 4)).readFloatLE(0));
      pos += 4;
    } else {
      let v = 0n;
      let shift = 0n;
      for (;;) {
        const byte = b[pos++]!;
        v |= BigInt(byte & 0x7f) << shift;
        if ((byte & 0x80) === 0) break;
        shift += 7n;
      }
      out.push(scalar(type, { no: 0, wt: 0, varint: v }));
    }
  }
  return out;
}

/**
 * Decodes a `application/vnd.kubernetes.protobuf` body into its JSON object (with apiVersion and kind);
 * throws 400 for a malformed body and 415 for a kind the simulator has no schema for.
 */
export function decodeKubernetesProtobuf(body: Buffer): Json {
  if (body.length < 4 || !body.subarray(0, 4).equals(MAGIC)) {
    throw new StoreError(400, 'BadRequest', 'protobuf: the body does not start with the k8s\\0 prefix');
  }
  try {
    let apiVersion = '';
    let kind = '';
    let raw: Uint8Array = new Uint8Array();
    for (const f of readFields(body.subarray(4))) {
      if (f.no === 1) {
        for (const t of readFields(f.bytes!)) {
          if (t.no === 1) apiVersion = Buffer.from(t.bytes!).toString('utf8');
          if (t.no === 2) kind = Buffer.from(t.bytes!).toString('utf8');
        }
      } else if (f.no === 2) raw = f.bytes!;
    }
    const obj = decodeMessage(messageName(apiVersion, kind), raw);
    return { apiVersion, kind, ...obj };
  } catch (e) {
    if (e instanceof StoreError) throw e;
    throw new StoreError(400, 'BadRequest', `protobuf: ${(e as Error).message}`);
  }
}
