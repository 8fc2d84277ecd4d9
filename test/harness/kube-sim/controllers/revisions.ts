// ControllerRevisions for StatefulSets and DaemonSets: one per pod template, numbered like the real controllers
// number them, so `kubectl rollout history` and `rollout undo` work on those kinds.

import type { KObject } from '../store.ts';
import { K } from './cache.ts';
import type { Ctx } from './context.ts';
import { ownerRef } from './util.ts';

/**
 * Makes sure a ControllerRevision named `name` holds owner's current template, and that it carries the highest
 * revision number (a template that came back, e.g. after `rollout undo`, becomes the newest revision again).
 */
export function ensureControllerRevision(ctx: Ctx, owner: KObject, name: string, hashLabel: string): void {
  const { store, cache } = ctx;
  const revs = cache.ownedBy(owner.metadata.uid!, K.controllerrevisions);
  const max = Math.max(0, ...revs.map((r) => Number(r.revision ?? 0)));
  const existing = cache.get(K.controllerrevisions, owner.metadata.namespace, name);
  if (existing) {
    if (Number(existing.revision ?? 0) < max) {
      store.mutate(K.controllerrevisions, owner.metadata.namespace, name, (o) => {
        o.revision = max + 1;
        return undefined;
      });
    }
    return;
  }
  store.create(K.controllerrevisions, {
    metadata: {
      name,
      namespace: owner.metadata.namespace,
      labels: { ...(owner.spec?.template?.metadata?.labels ?? {}), 'controller-revision-hash': hashLabel },
      ownerReferences: [ownerRef(owner)],
    },
    data: { spec: { template: { ...structuredClone(owner.spec?.template ?? {}), $patch: 'replace' } } },
    revision: max + 1,
  });
}
