import type { V1Pod } from '@kubernetes/client-node';
import t from 'tap';
import { assessReplacement, replacementSelector } from '../../lib/apply/replacement.ts';
import { digest, pod } from '../kube/fakes.ts';
import { NEW, OLD, stalePlan } from './fake-cluster.ts';

const ds = { kind: 'DaemonSet', name: 'agent', namespace: 'shop', uid: 'ds-1' };
const rs = { kind: 'ReplicaSet', name: 'web', namespace: 'shop', uid: 'rs-1' };
const CHILD = digest('child');

function evicted(workload: typeof ds, nodeName = 'node-a') {
  return stalePlan(
    pod({
      name: 'old',
      namespace: 'shop',
      owner: workload,
      nodeName,
      containers: [{ name: 'app', imageID: `r/app@${OLD}` }],
    }),
    workload,
  );
}

function replacement(
  name: string,
  workload: typeof ds,
  opts: {
    nodeName?: string;
    imageID?: string;
    ready?: boolean;
    containers?: { name: string; imageID?: string }[];
  } = {},
): V1Pod {
  return pod({
    name,
    namespace: 'shop',
    owner: workload,
    nodeName: opts.nodeName,
    ready: opts.ready,
    containers: opts.containers ?? [{ name: 'app', imageID: opts.imageID ?? `r/app@${NEW}` }],
  });
}

t.test('when a DaemonSet pod comes up on another node then it is not taken as the replacement', async (t) => {
  const plan = evicted(ds);
  const a = assessReplacement([replacement('agent-x', ds, { nodeName: 'node-b' })], {
    plan,
    before: new Set([plan.uid]),
    crashLoopRestarts: 3,
  });
  t.same(a, { state: 'waiting', seen: [] });
  const b = assessReplacement([replacement('agent-y', ds, { nodeName: 'node-a' })], {
    plan,
    before: new Set([plan.uid]),
    crashLoopRestarts: 3,
  });
  t.match(b, { state: 'restarted', replacement: 'agent-y' });
});

t.test(
  'when a pod existed before the eviction then it is not the replacement even if Ready on the new digest',
  async (t) => {
    const plan = evicted(rs);
    const sibling = replacement('web-sibling', rs);
    const a = assessReplacement([sibling], {
      plan,
      before: new Set([plan.uid, sibling.metadata?.uid as string]),
      crashLoopRestarts: 3,
    });
    t.equal(a.state, 'waiting');
  },
);

t.test(
  'when the replacement runs a child of the accepted multi-arch index then it counts as restarted',
  async (t) => {
    const plan = evicted(rs);
    const first = plan.containers[0];
    if (first) first.acceptedDigests = [NEW, CHILD];
    const a = assessReplacement([replacement('web-n', rs, { imageID: `docker-pullable://r/app@${CHILD}` })], {
      plan,
      before: new Set([plan.uid]),
      crashLoopRestarts: 3,
    });
    t.match(a, { state: 'restarted', changes: [{ name: 'app', from: OLD, to: CHILD, kind: 'accepted' }] });
  },
);

t.test('when statuses come in another order then containers are matched by name', async (t) => {
  const plan = evicted(rs);
  const p = replacement('web-n', rs, {
    containers: [
      { name: 'sidecar', imageID: `r/side@${OLD}` },
      { name: 'app', imageID: `r/app@${NEW}` },
    ],
  });
  const a = assessReplacement([p], { plan, before: new Set([plan.uid]), crashLoopRestarts: 3 });
  t.match(a, { state: 'restarted', changes: [{ name: 'app', kind: 'accepted' }] });
});

t.test('when the replacement is not Ready yet on the old digest then it is still waiting', async (t) => {
  const plan = evicted(rs);
  const a = assessReplacement([replacement('web-n', rs, { ready: false, imageID: `r/app@${OLD}` })], {
    plan,
    before: new Set([plan.uid]),
    crashLoopRestarts: 3,
  });
  t.same(a, { state: 'waiting', seen: ['web-n'] });
});

t.test(
  'when the replacement reports only an image ID then it counts as restarted, marked unverified',
  async (t) => {
    const plan = evicted(rs);
    const a = assessReplacement([replacement('web-n', rs, { imageID: `docker://${NEW}` })], {
      plan,
      before: new Set([plan.uid]),
      crashLoopRestarts: 3,
    });
    t.match(a, { state: 'restarted', changes: [{ kind: 'unknown' }] });
  },
);

t.test(
  'when the selector is built then labels that differ between a pod and its replacement are left out',
  async (t) => {
    t.equal(
      replacementSelector({
        app: 'web',
        tier: 'front',
        'pod-template-hash': 'abc',
        'controller-revision-hash': 'x',
        'statefulset.kubernetes.io/pod-name': 'db-0',
        'apps.kubernetes.io/pod-index': '0',
        'pod-template-generation': '3',
      }),
      'app=web,tier=front',
    );
    t.equal(replacementSelector({ 'pod-template-hash': 'abc' }), undefined);
  },
);
