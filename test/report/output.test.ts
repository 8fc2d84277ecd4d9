import { Writable } from 'node:stream';
import t from 'tap';
import type { PodPlan } from '../../lib/model/plan.ts';
import { type RunReport, toJSONDocument, toText, writeJSONDocument } from '../../lib/report/output.ts';

function pod(name: string, verdict: PodPlan['verdict']): PodPlan {
  return {
    namespace: 'shop',
    name,
    uid: `uid-${name}`,
    nodeName: 'node-a',
    verdict,
    reason: verdict === 'stale' ? 'digest-changed' : verdict === 'current' ? 'up-to-date' : 'bare-pod',
    message: 'why "quoted"\nand on two lines',
    workload: {
      kind: 'ReplicaSet',
      name: 'web-1',
      namespace: 'shop',
      uid: 'rs',
      top: { kind: 'Deployment', name: 'web' },
    },
    containers: [
      {
        name: 'app',
        init: false,
        image: 'r.example.com/web:1',
        verdict,
        reason: 'digest-changed',
        message: 'm',
        runningDigest: `sha256:${'a'.repeat(64)}`,
        currentDigest: `sha256:${'b'.repeat(64)}`,
        acceptedDigests: [`sha256:${'b'.repeat(64)}`],
      },
    ],
  };
}

function report(pods: PodPlan[]): RunReport {
  const summary = { pods: pods.length, current: 0, stale: 0, skipped: 0 };
  for (const p of pods) summary[p.verdict]++;
  return {
    mode: 'registry',
    dryRun: false,
    plan: { generatedAt: '2026-11-21T10:00:00.000Z', pods, summary },
    results: pods
      .filter((p) => p.verdict === 'stale')
      .map((p) => ({
        namespace: p.namespace,
        name: p.name,
        outcome: 'restarted' as const,
        message: 'ok',
        replacement: `${p.name}-new`,
        durationMs: 12,
      })),
    finishedAt: '2026-11-21T10:00:01.000Z',
    exitCode: 0,
    stats: { heads: 3, gets: 0, tokens: 1 },
    warnings: ['registry x: down'],
  };
}

async function streamed(r: RunReport, highWaterMark = 16): Promise<string> {
  const chunks: string[] = [];
  // A tiny buffer makes write() ask for 'drain', exercising the back-pressure path.
  const out = new Writable({
    highWaterMark,
    write(chunk, _enc, cb) {
      chunks.push(String(chunk));
      setImmediate(cb);
    },
  });
  await writeJSONDocument(r, out);
  return chunks.join('');
}

for (const n of [0, 1, 3]) {
  t.test(
    `when ${n} pods are written as a stream then the text equals the pretty-printed document`,
    async (t) => {
      const pods = [pod('a', 'stale'), pod('b', 'current'), pod('c', 'skipped')].slice(0, n);
      const r = report(pods);
      t.equal(await streamed(r), `${JSON.stringify(toJSONDocument(r), null, 2)}\n`);
    },
  );
}

t.test(
  'when the document is parsed then the stable fields are there and acceptedDigests is not',
  async (t) => {
    const doc = JSON.parse(await streamed(report([pod('a', 'stale')])));
    t.same(doc.summary, { pods: 1, current: 0, stale: 1, skipped: 0, restarted: 1, failed: 0 });
    t.same(doc.pods[0].workload, { kind: 'Deployment', name: 'web' });
    t.same(doc.pods[0].restart, {
      outcome: 'restarted',
      message: 'ok',
      replacement: 'a-new',
      durationMs: 12,
    });
    t.notOk('acceptedDigests' in doc.pods[0].containers[0]);
  },
);

t.test('when the text report is rendered then current pods are counted, not listed', async (t) => {
  const text = toText(report([pod('a', 'stale'), pod('b', 'current')]));
  t.match(
    text,
    /shop\s+a\s+Deployment\/web\s+stale\s+digest-changed\s+app: sha256:aaaaaaaaaaaa -> sha256:bbbbbbbbbbbb/,
  );
  t.notMatch(text, /\bb\s+Deployment/);
  t.match(text, /2 pods: 1 current, 1 stale, 0 skipped; restarted 1, failed 0/);
  t.match(text, /warning: registry x: down/);
});
