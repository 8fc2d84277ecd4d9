import t from 'tap';
import { ApiKeyConfigError, checkAuthorization, inScope, parseApiKeys } from '../../lib/serve/keys.ts';

const KEY = 'k3y-0123456789abcdef-ci';
const OTHER = 'other-0123456789abcdef';

t.test(
  "when keys are configured then names, keys and scopes are read and XCNT's key is full scope",
  async (t) => {
    const keys = parseApiKeys({
      AUTO_UPDATER_API_KEYS: `# CI keys\nci ${KEY} classifier=stable,canary\n\nteam-a ${OTHER} namespace=a,b classifier=stable\n`,
      UPDATE_MANAGER_API_KEY: 'xcnt-0123456789abcdef',
    });
    t.same(
      keys.map((k) => [k.name, k.scope]),
      [
        ['ci', { classifiers: ['stable', 'canary'], namespaces: [] }],
        ['team-a', { classifiers: ['stable'], namespaces: ['a', 'b'] }],
        ['update-manager', { classifiers: [], namespaces: [] }],
      ],
    );
    t.notOk(
      JSON.stringify(keys.map((k) => ({ ...k, digest: k.digest.toString('hex') }))).includes(KEY),
      'the key itself is not kept',
    );
  },
);

t.test('when the keys are malformed then the error names the line and the fix, never the key', async (t) => {
  const rows: [string, RegExp][] = [
    ['ci', /line 1: write "<name> <key>/],
    ['ci short', /line 1: the key of "ci" is shorter than 16 characters/],
    [`ci ${KEY}\nci ${OTHER}`, /line 2: the key name "ci" is used twice/],
    [`ci ${KEY} team=x`, /line 1: "team" is not a scope/],
  ];
  t.equal(rows.length, 4);
  for (const [text, message] of rows) {
    const err = (() => {
      try {
        parseApiKeys({ AUTO_UPDATER_API_KEYS: text });
      } catch (e) {
        return e as Error;
      }
    })();
    t.ok(err instanceof ApiKeyConfigError, text);
    t.match(err?.message, message);
    t.notMatch(err?.message ?? '', KEY);
  }
});

t.test('when a request presents a key then only the whole key under APIKey or Bearer passes', async (t) => {
  const keys = parseApiKeys({ AUTO_UPDATER_API_KEYS: `ci ${KEY}` });
  const rows: [string | undefined, string][] = [
    [`APIKey ${KEY}`, 'ok'],
    [`Bearer ${KEY}`, 'ok'],
    [`apikey ${KEY}`, 'ok'],
    [`APIKey ${KEY}extra`, 'invalid'],
    [`APIKey ${KEY.slice(0, -1)}`, 'invalid'],
    [`Basic ${KEY}`, 'scheme'],
    [`Token ${KEY}`, 'scheme'],
    [KEY, 'scheme'],
    ['', 'missing'],
    [undefined, 'missing'],
  ];
  t.equal(rows.length, 10);
  for (const [header, want] of rows) {
    const r = checkAuthorization(header, keys);
    t.equal(r.ok ? 'ok' : r.reason, want, String(header));
  }
});

t.test('when a key has a scope then requests outside it are refused', async (t) => {
  const [k] = parseApiKeys({ AUTO_UPDATER_API_KEYS: `team ${KEY} namespace=a classifier=stable` });
  if (!k) throw new Error('no key');
  t.equal(inScope(k, { classifier: 'stable', namespaces: ['a'] }), true);
  t.equal(inScope(k, { classifier: 'canary', namespaces: ['a'] }), false);
  t.equal(inScope(k, { classifier: 'stable', namespaces: ['a', 'b'] }), false);
  t.equal(inScope(k, { classifier: 'stable' }), false, 'a namespaced key may not act on every namespace');
  const [all] = parseApiKeys({ AUTO_UPDATER_API_KEYS: `all ${KEY}` });
  t.equal(inScope(all!, { classifier: 'x' }), true);
});
