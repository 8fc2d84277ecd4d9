// Dev tool: regenerates proto/schema.json, the field tables the simulator needs to read kubectl's protobuf request
// bodies, from the gzipped FileDescriptorProtos that the Go protobuf runtime embeds in the kubectl binary.
// Usage: node test/harness/kube-sim/proto/extract-schema.ts [/usr/bin/kubectl]

import { readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gunzipSync } from 'node:zlib';
import { readFields } from './wire.ts';

interface Field {
  name: string;
  number: number;
  type: number;
  repeated: boolean;
  typeName?: string;
}

const FILES = [
  'k8s.io/apimachinery/pkg/apis/meta/v1/generated.proto',
  'k8s.io/apimachinery/pkg/runtime/generated.proto',
  'k8s.io/apimachinery/pkg/api/resource/generated.proto',
  'k8s.io/apimachinery/pkg/util/intstr/generated.proto',
  'k8s.io/api/core/v1/generated.proto',
  'k8s.io/api/apps/v1/generated.proto',
  'k8s.io/api/batch/v1/generated.proto',
  'k8s.io/api/policy/v1/generated.proto',
  'k8s.io/api/rbac/v1/generated.proto',
  'k8s.io/api/authorization/v1/generated.proto',
  'k8s.io/api/autoscaling/v1/generated.proto',
  'k8s.io/api/authentication/v1/generated.proto',
];

/** The kinds kubectl may send as protobuf to the simulator; the schema keeps what they reach. */
const ROOTS = [
  'k8s.io.api.core.v1.Pod',
  'k8s.io.api.core.v1.Namespace',
  'k8s.io.api.core.v1.Node',
  'k8s.io.api.core.v1.Secret',
  'k8s.io.api.core.v1.ConfigMap',
  'k8s.io.api.core.v1.ServiceAccount',
  'k8s.io.api.core.v1.Event',
  'k8s.io.api.apps.v1.Deployment',
  'k8s.io.api.apps.v1.ReplicaSet',
  'k8s.io.api.apps.v1.StatefulSet',
  'k8s.io.api.apps.v1.DaemonSet',
  'k8s.io.api.apps.v1.ControllerRevision',
  'k8s.io.api.batch.v1.Job',
  'k8s.io.api.batch.v1.CronJob',
  'k8s.io.api.policy.v1.Eviction',
  'k8s.io.api.policy.v1.PodDisruptionBudget',
  'k8s.io.api.rbac.v1.Role',
  'k8s.io.api.rbac.v1.RoleBinding',
  'k8s.io.api.rbac.v1.ClusterRole',
  'k8s.io.api.rbac.v1.ClusterRoleBinding',
  'k8s.io.api.authorization.v1.SelfSubjectAccessReview',
  'k8s.io.api.authorization.v1.SelfSubjectRulesReview',
  'k8s.io.api.autoscaling.v1.Scale',
  'k8s.io.api.authentication.v1.TokenRequest',
  'k8s.io.api.authentication.v1.SelfSubjectReview',
  'k8s.io.apimachinery.pkg.apis.meta.v1.DeleteOptions',
];

function str(b: Uint8Array): string {
  return Buffer.from(b).toString('utf8');
}

function parseField(b: Uint8Array): Field {
  const f: Field = { name: '', number: 0, type: 0, repeated: false };
  let jsonName: string | undefined;
  for (const x of readFields(b)) {
    if (x.no === 1) f.name = str(x.bytes!);
    else if (x.no === 3) f.number = Number(x.varint);
    else if (x.no === 4) f.repeated = Number(x.varint) === 3;
    else if (x.no === 5) f.type = Number(x.varint);
    else if (x.no === 6) f.typeName = str(x.bytes!).replace(/^\./, '');
    else if (x.no === 10) jsonName = str(x.bytes!);
  }
  // Kubernetes' .proto field names are already the JSON names; json_name would camel-case them again.
  void jsonName;
  return f;
}

function parseMessage(
  b: Uint8Array,
  prefix: string,
  out: Map<string, { fields: Field[]; map: boolean }>,
): void {
  let name = '';
  const fields: Field[] = [];
  const nested: Uint8Array[] = [];
  let map = false;
  for (const x of readFields(b)) {
    if (x.no === 1) name = str(x.bytes!);
    else if (x.no === 2) fields.push(parseField(x.bytes!));
    else if (x.no === 3) nested.push(x.bytes!);
    else if (x.no === 7) for (const o of readFields(x.bytes!)) if (o.no === 7 && o.varint) map = true;
  }
  const full = `${prefix}.${name}`;
  out.set(full, { fields, map });
  for (const n of nested) parseMessage(n, full, out);
}

function main(): void {
  const bin = readFileSync(process.argv[2] ?? '/usr/bin/kubectl');
  const magic = Buffer.from([0x1f, 0x8b, 0x08]);
  const messages = new Map<string, { fields: Field[]; map: boolean }>();
  const seen = new Set<string>();
  for (let i = bin.indexOf(magic); i >= 0; i = bin.indexOf(magic, i + 1)) {
    let fd: Buffer;
    try {
      fd = gunzipSync(bin.subarray(i, i + 1_000_000), { finishFlush: 2 });
    } catch {
      continue;
    }
    let fileName = '';
    let pkg = '';
    const msgs: Uint8Array[] = [];
    try {
      for (const x of readFields(fd)) {
        if (x.no === 1) fileName = str(x.bytes!);
        else if (x.no === 2) pkg = str(x.bytes!);
        else if (x.no === 4) msgs.push(x.bytes!);
      }
    } catch {
      continue;
    }
    if (!FILES.includes(fileName) || seen.has(fileName)) continue;
    seen.add(fileName);
    for (const m of msgs) parseMessage(m, pkg, messages);
  }
  const missing = FILES.filter((f) => !seen.has(f));
  if (missing.length) throw new Error(`descriptors not found in the binary: ${missing.join(', ')}`);
  const keep = new Set<string>();
  const visit = (n: string) => {
    if (keep.has(n)) return;
    const m = messages.get(n);
    if (!m) throw new Error(`message ${n} not found`);
    keep.add(n);
    for (const f of m.fields) if (f.typeName) visit(f.typeName);
  };
  for (const r of ROOTS) visit(r);
  // Compact form: message -> { map?: true, f: { number: [name, type, repeated(0|1), typeName?] } }
  const schema: Record<string, { map?: true; f: Record<number, (string | number)[]> }> = {};
  for (const n of [...keep].sort()) {
    const m = messages.get(n)!;
    const f: Record<number, (string | number)[]> = {};
    for (const x of m.fields)
      f[x.number] = [x.name, x.type, x.repeated ? 1 : 0, ...(x.typeName ? [x.typeName] : [])];
    schema[n] = { ...(m.map ? { map: true as const } : {}), f };
  }
  const out = join(dirname(fileURLToPath(import.meta.url)), 'schema.json');
  writeFileSync(out, `${JSON.stringify(schema)}\n`);
  console.log(`wrote ${out}: ${keep.size} messages`);
}

main();
