import t from 'tap';
import { ListSplitter } from '../../lib/kube/list-stream.ts';

// Strings holding every character the scanner cares about, a nested `items` key (a ConfigMap volume's), and an
// escaped quote right before a closing brace.
const doc = {
  kind: 'PodList',
  apiVersion: 'v1',
  metadata: { resourceVersion: '42', continue: 'tok"en{[' },
  items: [
    { metadata: { name: 'a', annotations: { x: '}]{["\\', items: '[1]' } } },
    {
      metadata: { name: 'b' },
      spec: { volumes: [{ configMap: { items: [{ key: 'k', path: 'p' }] } }] },
      status: { message: 'ends with a quote "' },
    },
    { metadata: { name: 'ü-π-😀' } },
  ],
};
const text = JSON.stringify(doc);

function split(chunks: string[]): { items: unknown[]; rest: Record<string, unknown> } {
  const items: unknown[] = [];
  const s = new ListSplitter((i) => items.push(i));
  for (const c of chunks) s.push(c);
  return { items, rest: s.end() };
}

t.test('when a list arrives in one chunk then each item is parsed and the rest keeps metadata', async (t) => {
  const { items, rest } = split([text]);
  t.same(items, doc.items);
  t.same(rest, { ...doc, items: [] });
});

t.test('when the text is cut at any position then the result is the same', async (t) => {
  for (let i = 0; i <= text.length; i++) {
    const { items, rest } = split([text.slice(0, i), text.slice(i)]);
    if (
      JSON.stringify(items) !== JSON.stringify(doc.items) ||
      (rest.metadata as { continue?: string }).continue !== 'tok"en{['
    ) {
      t.fail(`cut at ${i} gave a different result`);
      return;
    }
  }
  t.pass('every cut position');
  const { items } = split([...text]);
  t.same(items, doc.items, 'one character per chunk');
});

t.test('when items come before metadata or are empty or null then the list is still read', async (t) => {
  t.same(split([JSON.stringify({ items: [{ a: 1 }], metadata: { continue: 'c' } })]), {
    items: [{ a: 1 }],
    rest: { items: [], metadata: { continue: 'c' } },
  });
  t.same(split(['{"kind":"PodList","items":[]}']).items, []);
  t.same(split(['{"kind":"PodList","items":null}']), { items: [], rest: { kind: 'PodList', items: null } });
});

t.test('when the text is not valid JSON then end or push throws', async (t) => {
  t.throws(() => split(['{"items":[{"a":1}']));
  t.throws(() => split(['{"items":[{"a":}]}']));
  t.throws(() => split(['<html>oops</html>']));
});
