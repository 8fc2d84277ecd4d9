// Server-side printing (`Accept: …;as=Table`): the meta.k8s.io/v1 Table kubectl renders for `kubectl get`,
// with the columns the real API server prints for the workload kinds and NAME/AGE for the rest.

import type { KObject } from './store.ts';

// biome-ignore lint/suspicious/noExplicitAny: open JSON.
type Json = any;

interface Column {
  name: string;
  type: string;
  format?: string;
  priority?: number;
  cell: (o: KObject, now: number) => string | number | boolean;
}

/** kubectl's HumanDuration (k8s.io/apimachinery/pkg/util/duration). */
export function humanDuration(ms: number): string {
  const s = Math.floor(ms / 1000);
  if (s < -1) return '<invalid>';
  if (s < 0) return '0s';
  if (s < 120) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 10) return s % 60 === 0 ? `${m}m` : `${m}m${s % 60}s`;
  if (m < 180) return `${m}m`;
  const h = Math.floor(m / 60);
  if (h < 8) return m % 60 === 0 ? `${h}h` : `${h}h${m % 60}m`;
  if (h < 48) return `${h}h`;
  const d = Math.floor(h / 24);
  if (h < 192) return h % 24 === 0 ? `${d}d` : `${d}d${h % 24}h`;
  if (d < 365 * 2) return `${d}d`;
  return `${Math.floor(d / 365)}y`;
}

const since = (ts: string | undefined, now: number) =>
  ts ? humanDuration(now - Date.parse(ts)) : '<unknown>';

const NAME: Column = { name: 'Name', type: 'string', format: 'name', cell: (o) => o.metadata.name ?? '' };
const AGE: Column = {
  name: 'Age',
  type: 'string',
  cell: (o, now) => since(o.metadata.creationTimestamp, now),
};

/** The STATUS column of `kubectl get pods` (pkg/printers/internalversion printPod, simplified). */
export function podStatusReason(o: KObject): string {
  let reason: string = o.status?.reason || o.status?.phase || 'Unknown';
  for (const cs of o.status?.initContainerStatuses ?? []) {
    if (cs.state?.terminated && cs.state.terminated.exitCode === 0) continue;
    if (cs.state?.terminated)
      reason = `Init:${cs.state.terminated.reason || `ExitCode:${cs.state.terminated.exitCode}`}`;
    else if (cs.state?.waiting?.reason && cs.state.waiting.reason !== 'PodInitializing')
      reason = `Init:${cs.state.waiting.reason}`;
    else reason = `Init:0/${(o.spec?.initContainers ?? []).length}`;
    return o.metadata.deletionTimestamp ? 'Terminating' : reason;
  }
  let running = false;
  for (const cs of [...(o.status?.containerStatuses ?? [])].reverse()) {
    if (cs.state?.waiting?.reason) reason = cs.state.waiting.reason;
    else if (cs.state?.terminated?.reason) reason = cs.state.terminated.reason;
    else if (cs.state?.terminated) reason = `ExitCode:${cs.state.terminated.exitCode}`;
    else if (cs.ready && cs.state?.running) running = true;
  }
  if (reason === 'Completed' && running) reason = 'Running';
  if (o.metadata.deletionTimestamp) reason = o.status?.reason === 'NodeLost' ? 'Unknown' : 'Terminating';
  return reason;
}

const COLUMNS: Record<string, Column[]> = {
  Pod: [
    NAME,
    {
      name: 'Ready',
      type: 'string',
      cell: (o) =>
        `${(o.status?.containerStatuses ?? []).filter((c: Json) => c.ready).length}/${(o.spec?.containers ?? []).length}`,
    },
    { name: 'Status', type: 'string', cell: podStatusReason },
    {
      name: 'Restarts',
      type: 'string',
      cell: (o) =>
        String(
          (o.status?.containerStatuses ?? []).reduce((n: number, c: Json) => n + (c.restartCount ?? 0), 0),
        ),
    },
    AGE,
    { name: 'IP', type: 'string', priority: 1, cell: (o) => o.status?.podIP ?? '<none>' },
    { name: 'Node', type: 'string', priority: 1, cell: (o) => o.spec?.nodeName ?? '<none>' },
  ],
  Deployment: [
    NAME,
    {
      name: 'Ready',
      type: 'string',
      cell: (o) => `${o.status?.readyReplicas ?? 0}/${o.spec?.replicas ?? 0}`,
    },
    { name: 'Up-to-date', type: 'integer', cell: (o) => o.status?.updatedReplicas ?? 0 },
    { name: 'Available', type: 'integer', cell: (o) => o.status?.availableReplicas ?? 0 },
    AGE,
    {
      name: 'Images',
      type: 'string',
      priority: 1,
      cell: (o) => (o.spec?.template?.spec?.containers ?? []).map((c: Json) => c.image).join(','),
    },
  ],
  ReplicaSet: [
    NAME,
    { name: 'Desired', type: 'integer', cell: (o) => o.spec?.replicas ?? 0 },
    { name: 'Current', type: 'integer', cell: (o) => o.status?.replicas ?? 0 },
    { name: 'Ready', type: 'integer', cell: (o) => o.status?.readyReplicas ?? 0 },
    AGE,
  ],
  StatefulSet: [
    NAME,
    {
      name: 'Ready',
      type: 'string',
      cell: (o) => `${o.status?.readyReplicas ?? 0}/${o.spec?.replicas ?? 0}`,
    },
    AGE,
  ],
  DaemonSet: [
    NAME,
    { name: 'Desired', type: 'integer', cell: (o) => o.status?.desiredNumberScheduled ?? 0 },
    { name: 'Current', type: 'integer', cell: (o) => o.status?.currentNumberScheduled ?? 0 },
    { name: 'Ready', type: 'integer', cell: (o) => o.status?.numberReady ?? 0 },
    AGE,
  ],
  Job: [
    NAME,
    {
      name: 'Status',
      type: 'string',
      cell: (o) => {
        const c = (o.status?.conditions ?? []).find(
          (x: Json) => x.status === 'True' && ['Complete', 'Failed'].includes(x.type),
        );
        return c ? c.type : 'Running';
      },
    },
    {
      name: 'Completions',
      type: 'string',
      cell: (o) => `${o.status?.succeeded ?? 0}/${o.spec?.completions ?? 1}`,
    },
    AGE,
  ],
  CronJob: [
    NAME,
    { name: 'Schedule', type: 'string', cell: (o) => o.spec?.schedule ?? '' },
    { name: 'Suspend', type: 'boolean', cell: (o) => String(o.spec?.suspend ?? false) },
    { name: 'Active', type: 'integer', cell: (o) => (o.status?.active ?? []).length },
    { name: 'Last Schedule', type: 'string', cell: (o, now) => since(o.status?.lastScheduleTime, now) },
    AGE,
  ],
  Node: [
    NAME,
    {
      name: 'Status',
      type: 'string',
      cell: (o) => {
        const ready = (o.status?.conditions ?? []).find((c: Json) => c.type === 'Ready');
        const s = ready?.status === 'True' ? 'Ready' : 'NotReady';
        return o.spec?.unschedulable ? `${s},SchedulingDisabled` : s;
      },
    },
    AGE,
  ],
  PodDisruptionBudget: [
    NAME,
    { name: 'Min Available', type: 'string', cell: (o) => String(o.spec?.minAvailable ?? 'N/A') },
    { name: 'Max Unavailable', type: 'string', cell: (o) => String(o.spec?.maxUnavailable ?? 'N/A') },
    { name: 'Allowed Disruptions', type: 'integer', cell: (o) => o.status?.disruptionsAllowed ?? 0 },
    AGE,
  ],
  Namespace: [NAME, { name: 'Status', type: 'string', cell: (o) => o.status?.phase ?? '' }, AGE],
};

export type IncludeObject = 'None' | 'Metadata' | 'Object';

/** Whether an Accept header asks for a Table (kubectl get sends `application/json;as=Table;v=v1;g=meta.k8s.io,…`). */
export function wantsTable(accept: string | undefined): boolean {
  return !!accept && /as=Table/.test(accept) && /g=meta\.k8s\.io/.test(accept);
}

/** A Table of objects of one kind; list metadata (resourceVersion, continue) is passed through. */
export function toTable(
  kind: string,
  objects: KObject[],
  listMeta: Json,
  include: IncludeObject = 'Metadata',
): Json {
  const cols = COLUMNS[kind] ?? [NAME, AGE];
  const now = Date.now();
  return {
    kind: 'Table',
    apiVersion: 'meta.k8s.io/v1',
    metadata: listMeta,
    columnDefinitions: cols.map((c) => ({
      name: c.name,
      type: c.type,
      format: c.format ?? '',
      description: c.name,
      priority: c.priority ?? 0,
    })),
    rows: objects.map((o) => ({
      cells: cols.map((c) => c.cell(o, now)),
      ...(include === 'None'
        ? {}
        : {
            object:
              include === 'Object'
                ? o
                : { kind: 'PartialObjectMetadata', apiVersion: 'meta.k8s.io/v1', metadata: o.metadata },
          }),
    })),
  };
}
