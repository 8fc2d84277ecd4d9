import type { V1Pod } from '@kubernetes/client-node';
import t from 'tap';
import { projectPod } from '../../lib/kube/pod-fields.ts';

const IMAGE = 'registry.example/team/app:1';
const IMAGE_ID = `registry.example/team/app@sha256:${'a'.repeat(64)}`;

// As JSON.parse gives it: every string a separate copy, dates as strings.
function wirePod(name: string): V1Pod {
  return JSON.parse(
    JSON.stringify({
      metadata: {
        name,
        namespace: 'shop',
        uid: `uid-${name}`,
        resourceVersion: '7',
        creationTimestamp: '2026-01-01T00:00:00Z',
        labels: { app: 'web', 'pod-template-hash': 'abc' },
        annotations: { 'k8s-auto-updater.io/enabled': 'true' },
        ownerReferences: [
          {
            apiVersion: 'apps/v1',
            kind: 'ReplicaSet',
            name: 'web-abc',
            uid: 'rs-1',
            controller: true,
            blockOwnerDeletion: true,
          },
        ],
        managedFields: [{ manager: 'kubelet', fieldsV1: { big: true } }],
      },
      spec: {
        nodeName: 'node-a',
        serviceAccountName: 'builder',
        imagePullSecrets: [{ name: 'regcred' }],
        containers: [
          { name: 'app', image: IMAGE, imagePullPolicy: 'Always', env: [{ name: 'A', value: 'b' }] },
        ],
        initContainers: [{ name: 'init', image: IMAGE }],
        volumes: [{ name: 'v', emptyDir: {} }],
      },
      status: {
        phase: 'Running',
        hostIP: '10.0.0.1',
        conditions: [
          { type: 'PodScheduled', status: 'True' },
          { type: 'Ready', status: 'True', lastTransitionTime: '2026-01-01T00:00:01Z' },
        ],
        containerStatuses: [
          {
            name: 'app',
            image: IMAGE,
            imageID: IMAGE_ID,
            ready: true,
            restartCount: 2,
            state: { running: { startedAt: '2026-01-01T00:00:01Z' } },
            lastState: { terminated: { exitCode: 1 } },
          },
        ],
      },
    }),
  );
}

t.test('when a pod is projected then exactly the fields the updater reads remain', async (t) => {
  t.same(projectPod(wirePod('web-1')), {
    metadata: {
      name: 'web-1',
      uid: 'uid-web-1',
      resourceVersion: '7',
      namespace: 'shop',
      creationTimestamp: '2026-01-01T00:00:00Z',
      labels: { app: 'web', 'pod-template-hash': 'abc' },
      annotations: { 'k8s-auto-updater.io/enabled': 'true' },
      ownerReferences: [
        { apiVersion: 'apps/v1', kind: 'ReplicaSet', name: 'web-abc', uid: 'rs-1', controller: true },
      ],
    },
    spec: {
      nodeName: 'node-a',
      serviceAccountName: 'builder',
      imagePullSecrets: [{ name: 'regcred' }],
      containers: [{ name: 'app', image: IMAGE, imagePullPolicy: 'Always' }],
      initContainers: [{ name: 'init', image: IMAGE }],
    },
    status: {
      phase: 'Running',
      conditions: [{ type: 'Ready', status: 'True' }],
      containerStatuses: [
        {
          name: 'app',
          image: IMAGE,
          imageID: IMAGE_ID,
          ready: true,
          restartCount: 2,
          state: { running: { startedAt: '2026-01-01T00:00:01Z' } },
        },
      ],
    },
  });
});

t.test('when a pod is terminating or has no status then that is kept as it is', async (t) => {
  const p = wirePod('web-2');
  (p.metadata as Record<string, unknown>).deletionTimestamp = '2026-01-02T00:00:00Z';
  delete p.status;
  const out = projectPod(p);
  t.equal(out.metadata?.deletionTimestamp as unknown, '2026-01-02T00:00:00Z');
  t.equal(out.status, undefined);
});
