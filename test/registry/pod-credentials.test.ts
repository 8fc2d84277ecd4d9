// The pod-credential collector both digest sources use: pull secrets in the kubelet's order, then the fallback;
// one keyring per (namespace, ServiceAccount, secret names); warnings once; a failing reader never rejects.

import t from 'tap';
import { parseImageReference } from '../../lib/image/reference.ts';
import { Credential, type SecretLike } from '../../lib/registry/credentials.ts';
import { PodCredentials, type PodLike } from '../../lib/registry/pod-credentials.ts';

const b64 = (s: string) => Buffer.from(s).toString('base64');
const secret = (namespace: string, name: string, user: string): SecretLike => ({
  metadata: { namespace, name },
  type: 'kubernetes.io/dockerconfigjson',
  data: { '.dockerconfigjson': b64(JSON.stringify({ auths: { 'reg.io': { auth: b64(`${user}:pw`) } } })) },
});
const pod = (name: string, secrets: string[], sa = 'default', namespace = 'shop'): PodLike => ({
  metadata: { name, namespace },
  spec: { serviceAccountName: sa, imagePullSecrets: secrets.map((n) => ({ name: n })) },
});
const fallback = new Credential({
  rawKey: 'reg.io',
  source: '--docker-config f',
  username: 'mounted',
  password: 'x',
});
const image = parseImageReference('reg.io/app:1');

function collector(read: (p: PodLike) => Promise<{ secrets: SecretLike[]; warnings: string[] }>) {
  const calls: string[] = [];
  const warnings: Array<[string, string]> = [];
  const c = new PodCredentials<PodLike>({
    secretsFor: (p) => {
      calls.push(p.metadata?.name ?? '');
      return read(p);
    },
    fallback: [fallback],
    warn: (obj, msg) => warnings.push([obj.pod, msg]),
  });
  return { c, calls, warnings };
}

t.test(
  'when a pod has pull secrets then they come first, in order, and the fallback after them',
  async (t) => {
    const { c } = collector(async () => ({
      secrets: [secret('shop', 'own', 'pod-user'), secret('shop', 'sa', 'sa-user')],
      warnings: [],
    }));
    const lookup = await c.forPod(pod('web-1', ['own']));
    t.same(
      lookup.lookup(image).map((x) => x.username),
      ['pod-user', 'sa-user', 'mounted'],
    );
    t.same(
      lookup.lookup(parseImageReference('other.io/app')).map((x) => x.username),
      [],
      'nothing for another registry',
    );
  },
);

t.test('when pods name the same secrets then the secrets are read once for all of them', async (t) => {
  const { c, calls } = collector(async () => ({ secrets: [secret('shop', 'own', 'u')], warnings: [] }));
  const lookups = await Promise.all([
    c.forPod(pod('web-1', ['own'])),
    c.forPod(pod('web-2', ['own'])),
    c.forPod(pod('web-3', ['own'])),
    c.forPod(pod('api-1', ['own'], 'api')),
    c.forPod(pod('web-1', ['own'], 'default', 'other')),
  ]);
  t.same(calls, ['web-1', 'api-1', 'web-1'], 'one read per namespace, ServiceAccount and secret names');
  t.equal(lookups[0], lookups[2], 'the same lookup object is shared');
  t.equal(PodCredentials.keyOf(pod('a', ['x', 'y'])), 'shop\ndefault\nx,y');
});

t.test(
  'when secrets cannot be read or parsed then each warning is logged once and nothing rejects',
  async (t) => {
    const broken: SecretLike = { metadata: { namespace: 'shop', name: 'broken' }, type: 'Opaque', data: {} };
    const { c, warnings } = collector(async () => ({
      secrets: [broken],
      warnings: ['secret shop/gone not found: its registry credentials are not used'],
    }));
    const a = await c.forPod(pod('web-1', ['gone', 'broken']));
    await c.forPod(pod('web-2', ['gone', 'broken'], 'other-sa'));
    t.same(
      a.lookup(image).map((x) => x.username),
      ['mounted'],
      'only the fallback is left',
    );
    t.same(warnings, [
      ['shop/web-1', 'secret shop/gone not found: its registry credentials are not used'],
      ['shop/web-1', 'secret shop/broken: type "Opaque" is not a docker config secret: ignored'],
    ]);
  },
);

t.test('when the secret reader throws then the pod gets the fallback and one warning', async (t) => {
  const { c, warnings } = collector(async () => {
    throw new Error('api down');
  });
  const lookup = await c.forPod(pod('web-1', ['own']));
  t.same(
    lookup.lookup(image).map((x) => x.username),
    ['mounted'],
  );
  t.same(warnings, [['shop/web-1', 'pull secrets of pod shop/web-1 unreadable (api down): using none']]);
  t.same(
    c.fallback.lookup(image).map((x) => x.username),
    ['mounted'],
  );
});
