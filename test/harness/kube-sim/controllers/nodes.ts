// Simulated Nodes: the Node objects the kubelet creates and keeps Ready, and the scheduler's choice of a node
// for a pod (nodeName, nodeSelector, required node affinity, cordoning, round-robin among the rest).

import type { KObject } from '../store.ts';
import type { RuntimeFormat } from './image-ref.ts';
import { runtimeVersion } from './image-ref.ts';

/** Annotation (on a Node or a Pod) choosing the imageID format the simulated runtime reports. */
export const RUNTIME_ANNOTATION = 'sim.k8s-auto-updater.io/runtime';

export interface NodeSpec {
  name: string;
  /** The container runtime this node simulates (its imageID format). */
  runtime?: RuntimeFormat;
  labels?: Record<string, string>;
  unschedulable?: boolean;
}

/** A Node object for a simulated node. */
export function nodeObject(spec: NodeSpec, index: number, defaultRuntime: RuntimeFormat): KObject {
  const runtime = spec.runtime ?? defaultRuntime;
  return {
    apiVersion: 'v1',
    kind: 'Node',
    metadata: {
      name: spec.name,
      labels: {
        'kubernetes.io/hostname': spec.name,
        'kubernetes.io/os': 'linux',
        'kubernetes.io/arch': 'amd64',
        'beta.kubernetes.io/os': 'linux',
        'beta.kubernetes.io/arch': 'amd64',
        ...(spec.labels ?? {}),
      },
      annotations: { [RUNTIME_ANNOTATION]: runtime },
    },
    spec: { podCIDR: `10.244.${index}.0/24`, ...(spec.unschedulable ? { unschedulable: true } : {}) },
    status: nodeStatus(spec.name, index, runtime, new Date().toISOString().replace(/\.\d{3}Z$/, 'Z')),
  };
}

/** The status a healthy simulated node reports. */
export function nodeStatus(
  name: string,
  index: number,
  runtime: RuntimeFormat,
  since: string,
): KObject['status'] {
  const cond = (type: string, status: string, reason: string, message: string) => ({
    type,
    status,
    reason,
    message,
    lastHeartbeatTime: since,
    lastTransitionTime: since,
  });
  return {
    capacity: { cpu: '8', memory: '32Gi', pods: '10000', 'ephemeral-storage': '100Gi' },
    allocatable: { cpu: '8', memory: '32Gi', pods: '10000', 'ephemeral-storage': '100Gi' },
    conditions: [
      cond(
        'MemoryPressure',
        'False',
        'KubeletHasSufficientMemory',
        'kubelet has sufficient memory available',
      ),
      cond('DiskPressure', 'False', 'KubeletHasNoDiskPressure', 'kubelet has no disk pressure'),
      cond('PIDPressure', 'False', 'KubeletHasSufficientPID', 'kubelet has sufficient PID available'),
      cond('Ready', 'True', 'KubeletReady', 'kubelet is posting ready status'),
    ],
    addresses: [
      { type: 'InternalIP', address: `10.0.0.${10 + index}` },
      { type: 'Hostname', address: name },
    ],
    daemonEndpoints: { kubeletEndpoint: { Port: 10250 } },
    nodeInfo: {
      machineID: `sim-${name}`,
      systemUUID: `sim-${name}`,
      bootID: `sim-${name}`,
      kernelVersion: '6.1.0-sim',
      osImage: 'Debian GNU/Linux 12 (bookworm)',
      containerRuntimeVersion: runtimeVersion(runtime),
      kubeletVersion: 'v1.32.0',
      kubeProxyVersion: 'v1.32.0',
      operatingSystem: 'linux',
      architecture: 'amd64',
    },
  };
}

/** Whether a node is Ready. */
export function nodeReady(node: KObject): boolean {
  return node.status?.conditions?.some((c: KObject) => c.type === 'Ready' && c.status === 'True') ?? false;
}

function matchExpr(
  e: { key: string; operator: string; values?: string[] },
  value: string | undefined,
): boolean {
  switch (e.operator) {
    case 'In':
      return value !== undefined && (e.values ?? []).includes(value);
    case 'NotIn':
      return value === undefined || !(e.values ?? []).includes(value);
    case 'Exists':
      return value !== undefined;
    case 'DoesNotExist':
      return value === undefined;
    case 'Gt':
      return value !== undefined && Number(value) > Number(e.values?.[0]);
    case 'Lt':
      return value !== undefined && Number(value) < Number(e.values?.[0]);
    default:
      return false;
  }
}

/** Whether the pod may run on the node (readiness, cordon with toleration, nodeSelector, required affinity). */
export function fits(pod: KObject, node: KObject): boolean {
  if (node.metadata.deletionTimestamp || !nodeReady(node)) return false;
  const tolerates = (key: string) =>
    (pod.spec?.tolerations ?? []).some(
      (t: KObject) =>
        (t.key === key && (t.operator ?? 'Equal') !== '') || (t.operator === 'Exists' && !t.key),
    );
  if (node.spec?.unschedulable && !tolerates('node.kubernetes.io/unschedulable')) return false;
  const labels: Record<string, string> = node.metadata.labels ?? {};
  for (const [k, v] of Object.entries((pod.spec?.nodeSelector ?? {}) as Record<string, string>)) {
    if (labels[k] !== v) return false;
  }
  const terms =
    pod.spec?.affinity?.nodeAffinity?.requiredDuringSchedulingIgnoredDuringExecution?.nodeSelectorTerms;
  if (Array.isArray(terms) && terms.length > 0) {
    const ok = terms.some(
      (t: KObject) =>
        (t.matchExpressions ?? []).every((e: KObject) => matchExpr(e as never, labels[e.key])) &&
        (t.matchFields ?? []).every((e: KObject) =>
          matchExpr(e as never, e.key === 'metadata.name' ? node.metadata.name : undefined),
        ),
    );
    if (!ok) return false;
  }
  return true;
}
