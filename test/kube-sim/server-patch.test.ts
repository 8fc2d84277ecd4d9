// The simulator's patch engine and selector parsers as pure functions: the cases kubectl and client-node produce,
// checked against what the real API server computes.

import t from 'tap';
import {
  applyJsonPatch,
  applyMergePatch,
  applyPatch,
  applyStrategicMergePatch,
} from '../harness/kube-sim/patch.ts';
import {
  labelSelectorObjectMatcher,
  parseFieldSelector,
  parseLabelSelector,
} from '../harness/kube-sim/selectors.ts';
import { StoreError } from '../harness/kube-sim/store.ts';

const pod = () => ({
  metadata: { name: 'p', labels: { a: '1' }, finalizers: ['x'] },
  spec: {
    containers: [
      { name: 'app', image: 'a:1', args: ['--one', '--two'], env: [{ name: 'A', value: '1' }] },
      { name: 'side', image: 's:1' },
    ],
    tolerations: [{ key: 'k', operator: 'Exists' }],
  },
});

t.test('strategic merge patch', async (t) => {
  const cases: Array<[string, object, (out: ReturnType<typeof pod>) => unknown, unknown]> = [
    [
      'lists without a merge key are replaced',
      { spec: { containers: [{ name: 'app', args: ['--three'] }] } },
      (o) => o.spec.containers[0]!.args,
      ['--three'],
    ],
    [
      'tolerations are atomic',
      { spec: { tolerations: [{ key: 'other', operator: 'Exists' }] } },
      (o) => o.spec.tolerations,
      [{ key: 'other', operator: 'Exists' }],
    ],
    [
      'a new container is appended',
      { spec: { containers: [{ name: 'third', image: 't:1' }] } },
      (o) => o.spec.containers.map((c) => c.name),
      ['app', 'side', 'third'],
    ],
    [
      'null deletes a nested key',
      { spec: { containers: [{ name: 'app', env: null }] } },
      (o) => 'env' in o.spec.containers[0]!,
      false,
    ],
    [
      'finalizers merge as a set',
      { metadata: { finalizers: ['y', 'x'] } },
      (o) => o.metadata.finalizers,
      ['x', 'y'],
    ],
    [
      '$deleteFromPrimitiveList removes set members',
      { metadata: { '$deleteFromPrimitiveList/finalizers': ['x'] } },
      (o) => o.metadata.finalizers,
      [],
    ],
    [
      '$patch: replace on a list replaces it',
      { spec: { containers: [{ name: 'only', image: 'o:1' }, { $patch: 'replace' }] } },
      (o) => o.spec.containers,
      [{ name: 'only', image: 'o:1' }],
    ],
    [
      '$patch: replace on a map replaces it',
      { metadata: { labels: { b: '2', $patch: 'replace' } } },
      (o) => o.metadata.labels,
      { b: '2' },
    ],
  ];
  for (const [name, patch, pick, want] of cases) {
    t.same(pick(applyStrategicMergePatch(pod(), patch)), want, name);
  }
  const input = pod();
  applyStrategicMergePatch(input, { metadata: { labels: { a: '2' } } });
  t.equal(input.metadata.labels.a, '1', 'the input is not mutated');
});

t.test('JSON patch', async (t) => {
  const out = applyJsonPatch(pod(), [
    { op: 'add', path: '/spec/containers/-', value: { name: 'new' } },
    { op: 'copy', from: '/metadata/labels/a', path: '/metadata/labels/b' },
    { op: 'move', from: '/metadata/labels/a', path: '/metadata/labels/c' },
    { op: 'remove', path: '/spec/tolerations' },
    { op: 'add', path: '/metadata/annotations', value: { 'x~y/z': '1' } },
    { op: 'replace', path: '/metadata/annotations/x~0y~1z', value: '2' },
  ]);
  t.same(
    out.spec.containers.map((c: { name: string }) => c.name),
    ['app', 'side', 'new'],
  );
  t.same(out.metadata.labels, { b: '1', c: '1' });
  t.notOk('tolerations' in out.spec);
  t.same(out.metadata.annotations, { 'x~y/z': '2' }, 'JSON pointer escapes ~0 and ~1 are decoded');
  for (const bad of [
    [{ op: 'remove', path: '/spec/missing' }],
    [{ op: 'replace', path: '/metadata/nope', value: 1 }],
    [{ op: 'test', path: '/metadata/name', value: 'q' }],
    [{ op: 'frobnicate', path: '/x' }],
  ]) {
    t.throws(() => applyJsonPatch(pod(), bad), { code: 422 }, JSON.stringify(bad));
  }
  t.throws(() => applyJsonPatch(pod(), { op: 'add' }), { code: 400 }, 'a patch must be an array');
});

t.test('merge patch replaces lists and deletes with null', async (t) => {
  const out = applyMergePatch(pod(), { spec: { containers: [{ name: 'x' }] }, metadata: { labels: null } });
  t.same(out.spec.containers, [{ name: 'x' }]);
  t.notOk('labels' in out.metadata);
});

t.test('applyPatch dispatches by Content-Type and refuses the rest with 415', async (t) => {
  const p = applyPatch('application/merge-patch+json; charset=utf-8', pod(), { metadata: { name: 'q' } });
  t.equal(p.metadata.name, 'q');
  const err = (() => {
    try {
      applyPatch('application/apply-patch+yaml', pod(), {});
    } catch (e) {
      return e;
    }
  })();
  t.ok(err instanceof StoreError && err.code === 415);
});

t.test('label selector parsing', async (t) => {
  t.same(parseLabelSelector('a=1, b != 2,c in (x, y),d notin (z),e,!f'), [
    { key: 'a', op: 'eq', value: '1' },
    { key: 'b', op: 'neq', value: '2' },
    { key: 'c', op: 'in', values: ['x', 'y'] },
    { key: 'd', op: 'notin', values: ['z'] },
    { key: 'e', op: 'exists' },
    { key: 'f', op: 'notexists' },
  ]);
  t.same(parseLabelSelector('app.kubernetes.io/name==web'), [
    { key: 'app.kubernetes.io/name', op: 'eq', value: 'web' },
  ]);
  for (const bad of ['a in ()', 'a=b=c', '=x', 'a in x', 'bad key=1']) {
    t.throws(() => parseLabelSelector(bad), { code: 400 }, bad);
  }
});

t.test('LabelSelector objects match like the API server', async (t) => {
  const m = labelSelectorObjectMatcher({
    matchLabels: { app: 'web' },
    matchExpressions: [
      { key: 'tier', operator: 'In', values: ['a', 'b'] },
      { key: 'canary', operator: 'DoesNotExist' },
    ],
  });
  t.ok(m({ app: 'web', tier: 'a' }));
  t.notOk(m({ app: 'web', tier: 'c' }));
  t.notOk(m({ app: 'web', tier: 'a', canary: 'yes' }));
  t.ok(labelSelectorObjectMatcher({})({ any: 'thing' }), 'an empty selector matches everything');
  t.notOk(labelSelectorObjectMatcher(undefined)({ any: 'thing' }), 'a missing selector matches nothing');
  t.notOk(labelSelectorObjectMatcher({ matchExpressions: [{ key: 'a', operator: 'Bogus' }] })({ a: '1' }));
});

t.test('field selectors are checked per kind', async (t) => {
  const f = parseFieldSelector('spec.nodeName=n1,status.phase!=Failed', 'Pod');
  t.ok(f({ metadata: {}, spec: { nodeName: 'n1' }, status: { phase: 'Running' } }));
  t.notOk(f({ metadata: {}, spec: { nodeName: 'n1' }, status: { phase: 'Failed' } }));
  t.ok(
    parseFieldSelector('spec.nodeName=', 'Pod')({ metadata: {}, spec: {} }),
    'an empty value matches unbound pods',
  );
  t.throws(() => parseFieldSelector('spec.nodeName=x', 'ConfigMap'), { code: 400 });
  t.throws(() => parseFieldSelector('nonsense', 'Pod'), { code: 400 });
});
