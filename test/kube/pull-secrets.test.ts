import type { V1Secret } from '@kubernetes/client-node';
import t from 'tap';
import type { SecretReader } from '../../lib/kube/api.ts';
import { PullSecretSource } from '../../lib/kube/pull-secrets.ts';
import { apiError, pod } from './fakes.ts';

function fakeApi(objects: {
  secrets: Record<string, V1Secret | Error>;
  serviceAccounts: Record<string, string[] | Error>;
}) {
  const reads: string[] = [];
  const api = {
    async readNamespacedSecret({ namespace, name }: { namespace: string; name: string }) {
      reads.push(`secret ${namespace}/${name}`);
      await new Promise((r) => setImmediate(r));
      const s = objects.secrets[`${namespace}/${name}`];
      if (s instanceof Error) throw s;
      if (!s) throw apiError(404, `secrets "${name}" not found`, { reason: 'NotFound' });
      return s;
    },
    async readNamespacedServiceAccount({ namespace, name }: { namespace: string; name: string }) {
      reads.push(`sa ${namespace}/${name}`);
      await new Promise((r) => setImmediate(r));
      const sa = objects.serviceAccounts[`${namespace}/${name}`];
      if (sa instanceof Error) throw sa;
      if (!sa) throw apiError(404, `serviceaccounts "${name}" not found`, { reason: 'NotFound' });
      return { metadata: { name, namespace }, imagePullSecrets: sa.map((n) => ({ name: n })) };
    },
  };
  return { api: api as unknown as SecretReader, reads };
}

const secret = (namespace: string, name: string): V1Secret => ({
  metadata: { name, namespace },
  type: 'kubernetes.io/dockerconfigjson',
  data: { '.dockerconfigjson': Buffer.from('{"auths":{"r.example":{"auth":"dTpw"}}}').toString('base64') },
});

function sinkLog() {
  const lines: { obj: object; msg?: string }[] = [];
  return { lines, warn: (obj: object, msg?: string) => lines.push({ obj, msg }) };
}

t.test(
  'when many pods name the same secrets then each secret and ServiceAccount is fetched once',
  async (t) => {
    const { api, reads } = fakeApi({
      secrets: { 'shop/regcred': secret('shop', 'regcred') },
      serviceAccounts: { 'shop/default': [] },
    });
    const source = new PullSecretSource(api);
    const pods = Array.from({ length: 5 }, (_, i) =>
      pod({ name: `web-${i}`, namespace: 'shop', imagePullSecrets: ['regcred'] }),
    );
    const results = await Promise.all(pods.map((p) => source.forPod(p)));
    t.equal(results.length, 5);
    for (const r of results)
      t.same(
        r.secrets.map((s) => s.metadata?.name),
        ['regcred'],
      );
    t.same(reads.sort(), ['sa shop/default', 'secret shop/regcred']);
  },
);

t.test(
  "when the pod's ServiceAccount lists pull secrets then they are included after the pod's own",
  async (t) => {
    const { api } = fakeApi({
      secrets: { 'shop/own': secret('shop', 'own'), 'shop/from-sa': secret('shop', 'from-sa') },
      serviceAccounts: { 'shop/builder': ['from-sa', 'own'] },
    });
    const source = new PullSecretSource(api);
    const r = await source.forPod(
      pod({ name: 'web', namespace: 'shop', serviceAccountName: 'builder', imagePullSecrets: ['own'] }),
    );
    t.same(
      r.secrets.map((s) => s.metadata?.name),
      ['own', 'from-sa'],
    );
    t.same(r.warnings, []);
  },
);

t.test(
  'when a named secret is missing then it becomes a warning naming it, logged once, and the rest still load',
  async (t) => {
    const { api } = fakeApi({
      secrets: { 'shop/good': secret('shop', 'good') },
      serviceAccounts: { 'shop/default': [] },
    });
    const log = sinkLog();
    const source = new PullSecretSource(api, log);
    const p = pod({ name: 'web', namespace: 'shop', imagePullSecrets: ['gone', 'good'] });
    const first = await source.forPod(p);
    const second = await source.forPod(p);
    t.same(
      first.secrets.map((s) => s.metadata?.name),
      ['good'],
    );
    t.same(first.warnings, ['secret shop/gone not found: its registry credentials are not used']);
    t.same(second.warnings, first.warnings, 'every pod learns about its missing secret');
    t.equal(log.lines.length, 1, 'logged once per name');
  },
);

t.test(
  'when reading a secret is forbidden (403) then the warning says which permission is missing and no data is logged',
  async (t) => {
    const { api } = fakeApi({
      secrets: {
        'shop/locked': apiError(403, 'secrets "locked" is forbidden: dXNlcjpwYXNz', { reason: 'Forbidden' }),
      },
      serviceAccounts: { 'shop/default': [] },
    });
    const log = sinkLog();
    const r = await new PullSecretSource(api, log).forPod(
      pod({ name: 'web', namespace: 'shop', imagePullSecrets: ['locked'] }),
    );
    t.same(r.secrets, []);
    t.match(
      r.warnings[0],
      /secret shop\/locked cannot be read \(HTTP 403\).*grant the updater "get" on secrets/,
    );
    t.notMatch(JSON.stringify(log.lines), /dXNlcjpwYXNz/, 'server text is not echoed');
  },
);

t.test(
  'when the ServiceAccount cannot be read then its secrets are a warning and the pod secrets still load',
  async (t) => {
    const { api } = fakeApi({ secrets: { 'shop/own': secret('shop', 'own') }, serviceAccounts: {} });
    const r = await new PullSecretSource(api).forPod(
      pod({ name: 'web', namespace: 'shop', imagePullSecrets: ['own'] }),
    );
    t.same(
      r.secrets.map((s) => s.metadata?.name),
      ['own'],
    );
    t.same(r.warnings, ['serviceaccount shop/default not found: its imagePullSecrets are not used']);
  },
);
