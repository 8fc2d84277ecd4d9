import t from 'tap';
import { parseImageReference } from '../../lib/image/reference.ts';
import { RegistryClient } from '../../lib/registry/client.ts';
import { DigestResolver } from '../../lib/registry/resolver.ts';
import { pushImage, startFaultProxy, startRegistry } from '../harness/registry/index.ts';
import { requireBin } from '../harness/require-bin.ts';

t.test(
  'when a burst of first requests hits a Bearer registry then no HEAD is wasted on the 401 challenge',
  async (t) => {
    if (!requireBin(t, 'docker-registry')) return;
    const reg = await startRegistry({ auth: 'bearer' });
    t.teardown(() => reg.stop());
    const refs: string[] = [];
    for (let i = 0; i < 12; i++) {
      await pushImage(reg, `burst/repo${i % 3}`, `v${i}`, { format: 'docker', seed: `b${i}` });
      refs.push(`burst/repo${i % 3}:v${i}`);
    }
    const proxy = await startFaultProxy(reg, { fault: { latencyMs: 20 } });
    t.teardown(() => proxy.stop());
    const client = new RegistryClient({ insecureRegistries: [proxy.host], concurrencyPerRegistry: 8 });
    t.teardown(() => client.close());
    const resolver = new DigestResolver(client, { concurrencyPerRegistry: 8 });
    const results = await Promise.all(
      refs.map((r) => resolver.resolve(parseImageReference(`${proxy.host}/${r}`), [])),
    );
    t.ok(
      results.every((r) => r.ok),
      'every reference resolved',
    );
    const counts = proxy.counts();
    t.equal(counts.head, refs.length, 'one HEAD per reference: the burst waited for the first challenge');
    t.equal(counts.token, 3, 'one token per repository');
    t.equal(counts.get, 0);
  },
);
