// Digest mode end to end with multi-arch tags (an OCI index and a Docker manifest list): pods running the index
// digest or one of its platform children are current, the index body is fetched at most once per digest, and a
// moved tag makes all of them stale.

import t from 'tap';
import { deployment, replicaSet, runningPod } from '../harness/kube-sim/fixtures.ts';
import type { KObject } from '../harness/kube-sim/store.ts';
import { type FaultProxy, type ImageFormat, pushImage, startFaultProxy } from '../harness/registry/index.ts';
import { jsonPods, type Scenario, startScenario } from './scenario.ts';

const always = { imagePullPolicy: 'Always' as const };

/** A ReplicaSet (no Deployment) whose pods are inserted already Running on a child (platform) digest. */
function childPods(s: Scenario, name: string, image: string, imageIDs: string[]): KObject[] {
  const rs = s.create(
    'ReplicaSet',
    replicaSet(name, s.ns, image, { replicas: imageIDs.length, container: always }),
  );
  // Synchronously after the ReplicaSet: its controller then finds its pods already there and creates none.
  return imageIDs.map((id, i) =>
    runningPod(s.cluster.store, `${name}-${i}`, s.ns, image, id, {
      owner: rs,
      labels: { app: name },
      imagePullPolicy: 'Always',
      node: i % 2 ? 'node-b' : 'node-a',
    }),
  );
}

function manifestGets(proxy: FaultProxy, repo: string): string[] {
  return proxy
    .log()
    .filter((e) => e.method === 'GET' && e.path.startsWith(`/v2/${repo}/manifests/`))
    .map((e) => e.path);
}

t.test(
  'when pods run an index digest or one of its children then they are current, and each index body is fetched once',
  async (t) => {
    const s = await startScenario(t);
    if (!s) return;
    const proxy = await startFaultProxy(s.registry);
    t.teardown(() => proxy.stop());
    const insecure = ['--insecure-registry', proxy.host];
    const tags: Array<{ repo: string; format: ImageFormat }> = [
      { repo: 'shop/oci', format: 'oci-index' },
      { repo: 'shop/list', format: 'docker-list' },
    ];
    const pushed = new Map<string, Awaited<ReturnType<typeof pushImage>>>();
    for (const { repo, format } of tags) {
      const img = await pushImage(s.registry, repo, '1.0', { format, seed: `${repo}-v1` });
      pushed.set(repo, img);
      const image = `${proxy.host}/${repo}:1.0`;
      const short = repo.split('/')[1]!;
      s.create('Deployment', deployment(`${short}-idx`, s.ns, image, { replicas: 2, container: always }));
      childPods(
        s,
        `${short}-kid`,
        image,
        img.children!.map((c) => `${proxy.host}/${repo}@${c.digest}`),
      );
    }
    await s.ready(8);
    for (const { repo } of tags) {
      const short = repo.split('/')[1]!;
      const idx = s.live().filter((p) => p.metadata.name!.startsWith(`${short}-idx-`));
      t.ok(
        idx.every((p) => s.digestOf(p) === pushed.get(repo)!.digest),
        `${repo}: the kubelet reports the index digest for a pull by tag`,
      );
    }
    const uids = s.uids();
    proxy.resetCounts();

    const res = await s.run(insecure);
    t.equal(res.code, 0, res.stderr);
    t.same(res.json.summary, { pods: 8, current: 8, stale: 0, skipped: 0, restarted: 0, failed: 0 });
    for (const { repo } of tags) {
      const short = repo.split('/')[1]!;
      const img = pushed.get(repo)!;
      for (const p of jsonPods(res.json, `${short}-idx`)) {
        t.equal(p.containers[0].reason, 'up-to-date');
        t.equal(p.containers[0].currentDigest, img.digest);
      }
      const kids = jsonPods(res.json, `${short}-kid`);
      t.equal(kids.length, 2);
      for (const p of kids) {
        t.equal(p.verdict, 'current');
        t.equal(p.containers[0].reason, 'index-child', `${p.name}: a platform child of the index is current`);
        t.equal(p.containers[0].currentDigest, img.digest);
        t.ok(
          img.children!.some((c) => c.digest === p.containers[0].runningDigest),
          'the running digest is a child',
        );
      }
      const gets = manifestGets(proxy, repo);
      t.equal(gets.length, 1, `${repo}: the index body was fetched once for two child pods`);
      t.ok(gets[0]?.endsWith(`/manifests/${img.digest}`), 'the index is fetched by its digest');
    }
    t.equal(proxy.counts().head, 2, 'one HEAD per tag');
    t.same(s.uids(), uids, 'nothing was evicted');

    // The tag moves: index pods and child pods are all stale now, and come back on the new index.
    const moved = new Map<string, string>();
    for (const { repo, format } of tags) {
      moved.set(repo, (await pushImage(s.registry, repo, '1.0', { format, seed: `${repo}-v2` })).digest);
    }
    const res2 = await s.run([...insecure, '--parallel-workloads', '4']);
    t.equal(res2.code, 0, res2.stderr);
    t.equal(res2.json.summary.stale, 8, 'every pod is stale once the tag moved');
    t.equal(res2.json.summary.restarted, 8);
    for (const { repo } of tags) {
      const short = repo.split('/')[1]!;
      for (const p of jsonPods(res2.json, `${short}-kid`)) {
        t.equal(p.containers[0].reason, 'digest-changed');
        t.equal(p.containers[0].currentDigest, moved.get(repo));
      }
    }
    await s.ready(8);
    t.notOk(
      s.uids().some((u) => uids.includes(u)),
      'every pod was replaced',
    );
    for (const { repo } of tags) {
      const short = repo.split('/')[1]!;
      const pods = s.live().filter((p) => p.metadata.name!.startsWith(`${short}-`));
      t.ok(
        pods.every((p) => s.digestOf(p) === moved.get(repo)),
        `${repo}: replacements run the new index digest`,
      );
    }
  },
);
