// Server-side defaulting, as the real API server fills fields in on create and update (a subset: the fields that
// clients of this project and kubectl read back, e.g. imagePullPolicy, restartPolicy, status.phase of a new pod).

import type { KObject } from './store.ts';

// biome-ignore lint/suspicious/noExplicitAny: open JSON.
type Json = any;

/** The kubelet's default pull policy: Always for `:latest` or no tag, IfNotPresent otherwise (digests included). */
export function defaultPullPolicy(image: string | undefined): string {
  if (!image) return 'IfNotPresent';
  if (image.includes('@')) return 'IfNotPresent';
  const lastSlash = image.lastIndexOf('/');
  const colon = image.indexOf(':', lastSlash + 1);
  if (colon < 0) return 'Always';
  return image.slice(colon + 1) === 'latest' ? 'Always' : 'IfNotPresent';
}

function defaultContainers(list: Json[] | undefined): void {
  for (const c of list ?? []) {
    c.imagePullPolicy ??= defaultPullPolicy(c.image);
    c.terminationMessagePath ??= '/dev/termination-log';
    c.terminationMessagePolicy ??= 'File';
    c.resources ??= {};
    for (const p of c.ports ?? []) p.protocol ??= 'TCP';
  }
}

function defaultPodSpec(spec: Json, restartPolicy = 'Always'): void {
  if (!spec || typeof spec !== 'object') return;
  spec.restartPolicy ??= restartPolicy;
  spec.terminationGracePeriodSeconds ??= 30;
  spec.dnsPolicy ??= 'ClusterFirst';
  spec.schedulerName ??= 'default-scheduler';
  spec.securityContext ??= {};
  defaultContainers(spec.containers);
  defaultContainers(spec.initContainers);
}

function defaultTemplate(spec: Json, restartPolicy?: string): void {
  const tpl = spec?.template;
  if (!tpl || typeof tpl !== 'object') return;
  tpl.metadata ??= {};
  defaultPodSpec(tpl.spec, restartPolicy);
}

/** Fills in defaults in place (idempotent); unknown kinds are left alone. */
export function applyDefaults(o: KObject): void {
  const spec = o.spec;
  switch (o.kind) {
    case 'Pod':
      defaultPodSpec(spec);
      if (spec && typeof spec === 'object') {
        spec.serviceAccountName ??= 'default';
        spec.serviceAccount ??= spec.serviceAccountName;
        spec.priority ??= 0;
        spec.enableServiceLinks ??= true;
      }
      o.status ??= {};
      o.status.phase ??= 'Pending';
      o.status.qosClass ??= 'BestEffort';
      break;
    case 'Deployment':
      if (!spec) break;
      spec.replicas ??= 1;
      spec.strategy ??= {};
      spec.strategy.type ||= 'RollingUpdate';
      if (spec.strategy.type === 'RollingUpdate') {
        spec.strategy.rollingUpdate ??= {};
        spec.strategy.rollingUpdate.maxUnavailable ??= '25%';
        spec.strategy.rollingUpdate.maxSurge ??= '25%';
      }
      spec.revisionHistoryLimit ??= 10;
      spec.progressDeadlineSeconds ??= 600;
      defaultTemplate(spec);
      break;
    case 'ReplicaSet':
      if (!spec) break;
      spec.replicas ??= 1;
      defaultTemplate(spec);
      break;
    case 'StatefulSet':
      if (!spec) break;
      spec.replicas ??= 1;
      spec.podManagementPolicy ??= 'OrderedReady';
      spec.updateStrategy ??= {};
      spec.updateStrategy.type ||= 'RollingUpdate';
      if (spec.updateStrategy.type === 'RollingUpdate') {
        spec.updateStrategy.rollingUpdate ??= {};
        spec.updateStrategy.rollingUpdate.partition ??= 0;
      }
      spec.revisionHistoryLimit ??= 10;
      defaultTemplate(spec);
      break;
    case 'DaemonSet':
      if (!spec) break;
      spec.updateStrategy ??= {};
      spec.updateStrategy.type ||= 'RollingUpdate';
      if (spec.updateStrategy.type === 'RollingUpdate') {
        spec.updateStrategy.rollingUpdate ??= {};
        spec.updateStrategy.rollingUpdate.maxUnavailable ??= 1;
        spec.updateStrategy.rollingUpdate.maxSurge ??= 0;
      }
      spec.revisionHistoryLimit ??= 10;
      defaultTemplate(spec);
      break;
    case 'Job':
      if (!spec) break;
      if (spec.completions === undefined && spec.parallelism === undefined) spec.completions = 1;
      spec.parallelism ??= 1;
      spec.backoffLimit ??= 6;
      spec.completionMode ??= 'NonIndexed';
      spec.suspend ??= false;
      defaultTemplate(spec, 'Never');
      break;
    case 'CronJob':
      if (!spec) break;
      spec.concurrencyPolicy ??= 'Allow';
      spec.suspend ??= false;
      spec.successfulJobsHistoryLimit ??= 3;
      spec.failedJobsHistoryLimit ??= 1;
      if (spec.jobTemplate?.spec) {
        spec.jobTemplate.spec.backoffLimit ??= 6;
        defaultTemplate(spec.jobTemplate.spec, 'Never');
      }
      break;
    case 'Secret':
      o.type ??= 'Opaque';
      break;
    case 'Event':
      o.type ??= 'Normal';
      o.count ??= 1;
      break;
  }
}
