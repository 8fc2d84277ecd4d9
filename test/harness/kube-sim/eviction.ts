// The pods/eviction subresource: deletes a pod only when its PodDisruptionBudget allows it, with the real API
// server's answers (429 when the budget is exhausted, 500 for two budgets, IfHealthyBudget for unready pods).

import { labelSelectorObjectMatcher } from './selectors.ts';
import { type DeleteOptions, type KObject, type Store, StoreError } from './store.ts';

const PDBS = 'policy/poddisruptionbudgets';
const PODS = '/pods';

// biome-ignore lint/suspicious/noExplicitAny: open JSON.
type Json = any;

function podReady(pod: KObject): boolean {
  return (pod.status?.conditions ?? []).some((c: Json) => c.type === 'Ready' && c.status === 'True');
}

function tooManyRequests(cause: string, retryAfterSeconds = 0): StoreError {
  return new StoreError(
    429,
    'TooManyRequests',
    "Cannot evict pod as it would violate the pod's disruption budget.",
    {
      causes: [{ reason: 'DisruptionBudget', message: cause }],
      // The real server suggests 10 s while the budget is unprocessed, and nothing when it is simply exhausted.
      ...(retryAfterSeconds ? { retryAfterSeconds } : {}),
    },
  );
}

/** The pod-deletion options carried by an Eviction body (policy/v1 `deleteOptions`). */
function deleteOptionsOf(eviction: Json, dryRun: boolean): DeleteOptions {
  const d = eviction?.deleteOptions ?? {};
  const out: DeleteOptions = { dryRun };
  if (typeof d.gracePeriodSeconds === 'number') out.gracePeriodSeconds = d.gracePeriodSeconds;
  if (d.preconditions) out.preconditions = d.preconditions;
  if (d.propagationPolicy) out.propagationPolicy = d.propagationPolicy;
  return out;
}

/**
 * addConditionAndDeletePod of the real registry: the pod first gets a DisruptionTarget condition (so its owner and
 * watchers can tell an eviction from a crash), then it is deleted with the eviction's options.
 */
function deletePod(store: Store, namespace: string, name: string, opts: DeleteOptions): void {
  if (!opts.dryRun) {
    store.mutate(
      PODS,
      namespace,
      name,
      (p) => {
        p.status ??= {};
        const conditions = (p.status.conditions ?? []).filter((c: Json) => c.type !== 'DisruptionTarget');
        conditions.push({
          type: 'DisruptionTarget',
          status: 'True',
          reason: 'EvictionByEvictionAPI',
          message: 'Eviction API: evicting',
          lastTransitionTime: new Date().toISOString().replace(/\.\d{3}Z$/, 'Z'),
        });
        p.status.conditions = conditions;
        return undefined;
      },
      { subresource: 'status' },
    );
  }
  store.delete(PODS, namespace, name, opts);
}

/**
 * Evicts a pod as POST …/pods/<name>/eviction does; returns the Success Status (HTTP 201) or throws the API's
 * error (404 pod, 400 name mismatch, 429 budget exhausted or not yet observed, 500 more than one budget).
 */
export function evictPod(
  store: Store,
  namespace: string,
  name: string,
  eviction: Json,
  dryRun = false,
): Json {
  if (eviction?.metadata?.name && eviction.metadata.name !== name) {
    throw new StoreError(400, 'BadRequest', `name in URL does not match name in Eviction object`);
  }
  const pod = store.mustGet(PODS, namespace, name);
  const opts = deleteOptionsOf(eviction, dryRun);
  const success = { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Success', code: 201 };
  const phase = pod.status?.phase;
  // canIgnorePDB: finished, pending or already terminating pods go without consulting any budget.
  if (['Succeeded', 'Failed', 'Pending'].includes(phase) || pod.metadata.deletionTimestamp) {
    deletePod(store, namespace, name, opts);
    return success;
  }
  const labels = pod.metadata.labels;
  const pdbs = store.listRefs(PDBS, namespace).filter((p) => {
    const sel = p.spec?.selector;
    // A nil or empty selector matches nothing here (unlike in the disruption controller).
    if (!sel || (!Object.keys(sel.matchLabels ?? {}).length && !(sel.matchExpressions ?? []).length))
      return false;
    return labelSelectorObjectMatcher(sel)(labels);
  });
  if (pdbs.length > 1) {
    throw new StoreError(
      500,
      'InternalError',
      'This pod has more than one PodDisruptionBudget, which the eviction subresource does not support.',
    );
  }
  if (pdbs.length === 0) {
    deletePod(store, namespace, name, opts);
    return success;
  }
  const pdb = pdbs[0]!;
  const st = pdb.status ?? {};
  const policy = pdb.spec?.unhealthyPodEvictionPolicy ?? 'IfHealthyBudget';
  if (!podReady(pod)) {
    const budgetHealthy =
      (st.currentHealthy ?? 0) >= (st.desiredHealthy ?? 0) && (st.desiredHealthy ?? 0) > 0;
    if (policy === 'AlwaysAllow' || budgetHealthy) {
      deletePod(store, namespace, name, opts);
      return success;
    }
  }
  if ((st.observedGeneration ?? 0) < (pdb.metadata.generation ?? 1)) {
    throw tooManyRequests(
      `The disruption budget ${pdb.metadata.name} is still being processed by the server.`,
      10,
    );
  }
  if ((st.disruptionsAllowed ?? 0) < 0) {
    throw new StoreError(
      403,
      'Forbidden',
      `pods "${name}" is forbidden: pdb disruptions allowed is negative`,
    );
  }
  if ((st.disruptionsAllowed ?? 0) === 0) {
    throw tooManyRequests(
      `The disruption budget ${pdb.metadata.name} needs ${st.desiredHealthy ?? 0} healthy pods and has ${st.currentHealthy ?? 0} currently`,
    );
  }
  if (!dryRun) {
    store.mutate(
      PDBS,
      namespace,
      pdb.metadata.name!,
      (p) => {
        p.status ??= {};
        p.status.disruptionsAllowed = (p.status.disruptionsAllowed ?? 0) - 1;
        p.status.disruptedPods = {
          ...(p.status.disruptedPods ?? {}),
          [name]: new Date().toISOString().replace(/\.\d{3}Z$/, 'Z'),
        };
        if (p.status.disruptionsAllowed === 0) {
          const conds = (p.status.conditions ?? []).filter((c: Json) => c.type !== 'DisruptionAllowed');
          conds.push({
            type: 'DisruptionAllowed',
            status: 'False',
            reason: 'InsufficientPods',
            message: '',
            observedGeneration: p.status.observedGeneration,
            lastTransitionTime: new Date().toISOString().replace(/\.\d{3}Z$/, 'Z'),
          });
          p.status.conditions = conds;
        }
        return undefined;
      },
      { subresource: 'status' },
    );
  }
  deletePod(store, namespace, name, opts);
  return success;
}
