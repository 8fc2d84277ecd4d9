// Plain pod and pull-secret objects for the docker-mode tests: a running, Ready ReplicaSet pod on a tag with
// imagePullPolicy Always (so the planner asks about it), and dockerconfigjson secrets.

import type { V1Pod, V1Secret } from '@kubernetes/client-node';

export interface PodSpec {
  name: string;
  /** The spec image, e.g. `127.0.0.1:PORT/app:v1`. */
  image: string;
  /** containerStatuses[0].imageID, e.g. `docker-pullable://127.0.0.1:PORT/app@sha256:…` or `docker://sha256:…`. */
  imageID: string;
  /** Names of pull secrets in pod.spec.imagePullSecrets. */
  pullSecrets?: string[];
}

/** A pod the planner will judge: Running, Ready, controlled by a ReplicaSet, pull policy Always. */
export function runningPod(p: PodSpec): V1Pod {
  return {
    metadata: {
      name: p.name,
      namespace: 'shop',
      uid: `uid-${p.name}`,
      ownerReferences: [
        {
          apiVersion: 'apps/v1',
          kind: 'ReplicaSet',
          name: `${p.name}-rs`,
          uid: `uid-${p.name}-rs`,
          controller: true,
        },
      ],
    },
    spec: {
      nodeName: 'node-a',
      containers: [{ name: 'app', image: p.image, imagePullPolicy: 'Always' }],
      ...(p.pullSecrets ? { imagePullSecrets: p.pullSecrets.map((name) => ({ name })) } : {}),
    },
    status: {
      phase: 'Running',
      conditions: [{ type: 'Ready', status: 'True' }],
      containerStatuses: [
        {
          name: 'app',
          image: p.image,
          imageID: p.imageID,
          ready: true,
          restartCount: 0,
        },
      ],
    },
  } as V1Pod;
}

/** A kubernetes.io/dockerconfigjson secret holding one username/password entry for `host`. */
export function dockerConfigSecret(name: string, host: string, username: string, password: string): V1Secret {
  const json = { auths: { [host]: { auth: Buffer.from(`${username}:${password}`).toString('base64') } } };
  return {
    metadata: { name, namespace: 'shop' },
    type: 'kubernetes.io/dockerconfigjson',
    data: { '.dockerconfigjson': Buffer.from(JSON.stringify(json)).toString('base64') },
  };
}

/** A pullSecrets dependency serving the named secrets of each pod from a table (missing names become warnings). */
export function secretTable(secrets: readonly V1Secret[]): {
  forPod(pod: V1Pod): Promise<{ secrets: V1Secret[]; warnings: string[] }>;
} {
  const byName = new Map(secrets.map((s) => [s.metadata?.name ?? '', s]));
  return {
    async forPod(pod) {
      const out: V1Secret[] = [];
      const warnings: string[] = [];
      for (const ref of pod.spec?.imagePullSecrets ?? []) {
        const s = byName.get(ref.name ?? '');
        if (s) out.push(s);
        else warnings.push(`secret shop/${ref.name} not found`);
      }
      return { secrets: out, warnings };
    },
  };
}
