import t from 'tap';
import {
  type CandidateFacts,
  type Decision,
  decide,
  MAX_CHECKS,
  nextToCheck,
  rankCandidates,
} from '../../lib/policy/decide.ts';
import { type PolicySpec, policyFor } from '../../lib/policy/spec.ts';

const RUNNING_DIGEST = 'sha256:running';
const NOW = Date.parse('2026-12-04T12:00:00Z');

function spec(annotations: Record<string, string>, container = 'app'): PolicySpec {
  const s = policyFor(annotations, container);
  if ('annotation' in s) throw new Error(`${s.annotation}: ${s.message}`);
  return s;
}

/**
 * Runs the whole decision the way the run does: rank, check what nextToCheck asks for with `facts` (a digest per tag
 * by default), decide. Returns the decision and the tags checked, in order.
 */
function run(
  s: PolicySpec,
  running: string,
  tags: string[],
  opts: { facts?: Record<string, CandidateFacts>; lastApplied?: string } = {},
): { decision: Decision; checked: string[] } {
  const ranking = rankCandidates(s, running, tags, opts.lastApplied);
  const ctx = { spec: s, runningDigest: RUNNING_DIGEST, now: NOW };
  const facts = new Map<string, CandidateFacts>();
  const checked: string[] = [];
  for (let c = nextToCheck(ranking, facts, ctx); c; c = nextToCheck(ranking, facts, ctx)) {
    checked.push(c.tag);
    facts.set(c.tag, opts.facts?.[c.tag] ?? { digest: `sha256:${c.tag}`, createdMs: NOW - 365 * 86_400_000 });
    if (checked.length > 20) throw new Error('nextToCheck does not converge');
  }
  return { decision: decide(ranking, facts, ctx), checked };
}

const brief = (d: Decision) => `${d.action} ${d.reason}${d.to ? ` ${d.to}` : ''}`;

t.test(
  "when k8sUpdater's frontier examples are decided then changes right of the frontier apply, others notify",
  async (t) => {
    const s = spec({ 'k8s-auto-updater.io/policy': 'major', 'k8s-auto-updater.io/apply': 'frontier:2' });
    const rows: [string, string[], string][] = [
      ['5.3.2.0', ['5.3.2.1'], 'update newer-version 5.3.2.1'],
      ['5.3.2.0', ['5.3.3.2'], 'update newer-version 5.3.3.2'],
      ['5.3.2.0', ['5.4.1'], 'notify shape-differs 5.4.1'],
      ['5.3.2.0', ['5.4.1.0'], 'notify beyond-frontier 5.4.1.0'],
      ['5.3.2.0', ['6.0.0.0'], 'notify beyond-frontier 6.0.0.0'],
      ['5.3.2.0', ['5.3.2.1', '5.3.3.2', '5.4.1.0'], 'update newer-version 5.3.3.2'],
    ];
    t.equal(rows.length, 6);
    for (const [running, tags, want] of rows)
      t.equal(brief(run(s, running, tags).decision), want, `${running} → ${tags}`);
    const both = run(s, '5.3.2.0', ['5.3.2.1', '5.3.3.2', '5.4.1.0']).decision;
    t.same(
      both.newest,
      { tag: '5.4.1.0', reason: 'beyond-frontier' },
      'the held newer version is reported beside the update',
    );
  },
);

t.test(
  "when the Rancher updater's table is decided then upgrades apply, downgrades and latest never",
  async (t) => {
    const s = spec({ 'k8s-auto-updater.io/policy': 'major' });
    const rows: [string, string[], string][] = [
      ['1.0', ['1.0', '2.0'], 'update newer-version 2.0'],
      ['2.0', ['1.3', '2.0'], 'none up-to-date'],
      ['1.0', ['latest'], 'none up-to-date'],
      ['latest', ['latest', '1.0'], 'none not-a-version'],
    ];
    t.equal(rows.length, 4);
    for (const [running, tags, want] of rows)
      t.equal(brief(run(s, running, tags).decision), want, `${running} → ${tags}`);
  },
);

t.test(
  'when numeric components, families, prefixes and calendar versions are decided then each stays in its line',
  async (t) => {
    const major = spec({ 'k8s-auto-updater.io/policy': 'major' });
    const rows: [string, string[], string][] = [
      ['3.9', ['3.10', '3.8'], 'update newer-version 3.10'],
      ['3.2.1-alpine', ['3.3.0', '3.2.2-alpine', '4.0.0-slim'], 'update newer-version 3.2.2-alpine'],
      [
        '1.21.0-alpine3.16',
        ['1.22.0-alpine3.17', '1.21.1-alpine3.16'],
        'update newer-version 1.21.1-alpine3.16',
      ],
      ['v1.2.3', ['1.9.9', 'v1.3.0'], 'update newer-version v1.3.0'],
      ['2024.05.01', ['2024.11.30', '2024.5.2', 'latest'], 'update newer-version 2024.11.30'],
      ['2024.05.01-r3', ['2024.05.01-r4', '2024.05.01-r2'], 'update newer-version 2024.05.01-r4'],
      ['1.21.0', ['1.22', '1.21'], 'notify shape-differs 1.22'],
      ['alpine3.16-1.2', ['alpine3.16-1.10', 'alpine3.17-1.0'], 'update newer-version alpine3.16-1.10'],
    ];
    t.equal(rows.length, 8);
    for (const [running, tags, want] of rows)
      t.equal(brief(run(major, running, tags).decision), want, `${running} → ${tags}`);
  },
);

t.test(
  'when patch, minor and semver policies are decided then only the allowed components move',
  async (t) => {
    const rows: [string, string, string[], string][] = [
      ['patch', '1.4.2', ['1.4.3', '1.5.0', '2.0.0'], 'update newer-version 1.4.3'],
      ['patch', '1.4.2', ['1.5.0', '2.0.0'], 'none up-to-date'],
      ['minor', '1.4.2', ['1.4.3', '1.5.0', '2.0.0'], 'update newer-version 1.5.0'],
      ['major', '1.4.2', ['1.4.3', '1.5.0', '2.0.0'], 'update newer-version 2.0.0'],
      ['semver:~1.4', '1.4.2', ['1.4.9', '1.5.0'], 'update newer-version 1.4.9'],
      ['semver:>=2 <3', '1.4.2', ['2.9.1', '3.0.0', '2.10.0'], 'update newer-version 2.10.0'],
      ['semver:^1', 'v1.4', ['v1.9', 'v2.0'], 'update newer-version v1.9'],
      ['never', '1.4.2', ['1.4.3'], 'none policy-never'],
      ['digest', '1.4.2', ['1.4.3'], 'none digest-policy'],
    ];
    t.equal(rows.length, 9);
    for (const [policy, running, tags, want] of rows) {
      t.equal(
        brief(run(spec({ 'k8s-auto-updater.io/policy': policy }), running, tags).decision),
        want,
        `${policy}: ${running}`,
      );
    }
  },
);

t.test(
  'when prereleases are listed then they are chosen only when allowed or within the running prerelease line',
  async (t) => {
    const tags = ['1.3.0-rc.1', '1.3.0-rc.2', '1.4.0-beta.1'];
    t.equal(
      brief(run(spec({ 'k8s-auto-updater.io/policy': 'major' }), '1.2.0', tags).decision),
      'none up-to-date',
    );
    t.equal(
      brief(
        run(
          spec({ 'k8s-auto-updater.io/policy': 'major', 'k8s-auto-updater.io/prerelease': 'true' }),
          '1.2.0',
          tags,
        ).decision,
      ),
      'update newer-version 1.4.0-beta.1',
    );
    t.equal(
      brief(run(spec({ 'k8s-auto-updater.io/policy': 'major' }), '1.3.0-rc.1', [...tags, '1.3.0']).decision),
      'update newer-version 1.3.0',
      'the release of the running prerelease wins over its later prereleases',
    );
    t.equal(
      brief(run(spec({ 'k8s-auto-updater.io/policy': 'major' }), '1.3.0-rc.1', tags).decision),
      'update newer-version 1.3.0-rc.2',
      "a later prerelease of the same version, not the next version's",
    );
  },
);

t.test(
  'when a regexp policy is decided then the version group orders the tags by the chosen order',
  async (t) => {
    const tags = ['build-9', 'build-10', 'build-2', 'other-99'];
    const rows: [string, string, string[], string][] = [
      ['numeric', 'build-8', tags, 'update newer-version build-10'],
      ['alphabetical', 'build-8', tags, 'update newer-version build-9'],
      ['semver', 'r-1.2.3', ['r-1.10.0', 'r-1.9.0', 'r-0.1.0'], 'update newer-version r-1.10.0'],
    ];
    t.equal(rows.length, 3);
    for (const [order, running, list, want] of rows) {
      const pattern = order === 'semver' ? '^r-(?<version>.+)$' : '^build-(?<version>\\d+)$';
      const s = spec({
        'k8s-auto-updater.io/policy': `regexp:${pattern}`,
        'k8s-auto-updater.io/order': order,
      });
      t.equal(brief(run(s, running, list).decision), want, order);
    }
    const s = spec({ 'k8s-auto-updater.io/policy': 'regexp:^build-(?<version>\\d+)$' });
    t.match(run(s, 'nightly', tags).decision, {
      action: 'none',
      reason: 'policy-invalid',
      message: /does not match/,
    });
    t.equal(
      run(s, 'build-8', tags).decision.candidates,
      3,
      'only tags matching the pattern are counted as candidates',
    );
  },
);

t.test(
  'when a human rolled back below what a policy set then that version is not re-applied until a newer one',
  async (t) => {
    const s = spec({ 'k8s-auto-updater.io/policy': 'minor' });
    const back = run(s, '1.4.0', ['1.4.0', '1.5.0'], { lastApplied: '1.5.0' }).decision;
    t.match(back, { action: 'none', reason: 'rolled-back-by-human', to: '1.5.0', rolledBackFrom: '1.5.0' });
    const newer = run(s, '1.4.0', ['1.4.0', '1.5.0', '1.5.1'], { lastApplied: '1.5.0' }).decision;
    t.match(newer, { action: 'update', reason: 'newer-version', to: '1.5.1', rolledBackFrom: '1.5.0' });
    const forward = run(s, '1.5.0', ['1.5.0', '1.5.1'], { lastApplied: '1.5.0' }).decision;
    t.match(forward, { action: 'update', to: '1.5.1' });
    t.equal(forward.rolledBackFrom, undefined, 'running what was set is no rollback');
  },
);

t.test(
  'when the best candidate fails a registry check then the next one is checked, at most a few',
  async (t) => {
    const s = spec({ 'k8s-auto-updater.io/policy': 'major', 'k8s-auto-updater.io/min-age': '48h' });
    const tags = ['1.0.1', '1.0.2', '1.0.3', '1.0.4', '1.0.5'];
    const young = { digest: 'sha256:x', createdMs: NOW - 3_600_000 };
    const retag = run(s, '1.0.0', tags, { facts: { '1.0.5': { digest: RUNNING_DIGEST, createdMs: 0 } } });
    t.same(retag.checked, ['1.0.5', '1.0.4'], 'one check per candidate, best first');
    t.equal(brief(retag.decision), 'update newer-version 1.0.4');
    const platform = run(s, '1.0.0', ['1.0.1'], {
      facts: { '1.0.1': { digest: 'sha256:y', missingPlatforms: ['linux/arm64'], createdMs: 0 } },
    });
    t.match(platform.decision, {
      action: 'none',
      reason: 'platform-missing',
      to: '1.0.1',
      message: /linux\/arm64/,
    });
    const allYoung = run(s, '1.0.0', tags, { facts: Object.fromEntries(tags.map((x) => [x, young])) });
    t.equal(allYoung.checked.length, MAX_CHECKS, 'the number of checks is bounded');
    t.match(allYoung.decision, { action: 'none', reason: 'too-new', to: '1.0.5' });
    const failed = run(s, '1.0.0', ['1.0.1'], { facts: { '1.0.1': { error: 'HTTP 503' } } });
    t.match(failed.decision, { action: 'none', reason: 'check-failed', message: 'HTTP 503' });
  },
);

t.test(
  'when apply is notify then a newer version is reported and never applied, and a re-tag is not reported',
  async (t) => {
    const s = spec({ 'k8s-auto-updater.io/policy': 'major', 'k8s-auto-updater.io/apply': 'notify' });
    t.equal(brief(run(s, '1.0.0', ['1.1.0']).decision), 'notify notify-only 1.1.0');
    const retag = run(s, '1.0.0', ['1.1.0'], { facts: { '1.1.0': { digest: RUNNING_DIGEST } } });
    t.equal(brief(retag.decision), 'none up-to-date');
  },
);

t.test('when one pod has containers with their own policies then each container reads its own', async (t) => {
  const annotations = {
    'k8s-auto-updater.io/policy': 'patch',
    'k8s-auto-updater.io/policy.sidecar': 'major',
    'k8s-auto-updater.io/apply.sidecar': 'notify',
  };
  t.equal(
    brief(run(spec(annotations, 'app'), '1.0.0', ['1.0.1', '2.0.0']).decision),
    'update newer-version 1.0.1',
  );
  t.equal(
    brief(run(spec(annotations, 'sidecar'), '1.0.0', ['1.0.1', '2.0.0']).decision),
    'notify notify-only 2.0.0',
  );
});

t.test('when an annotation is malformed then the error names the annotation and the fix', async (t) => {
  const rows: [Record<string, string>, string, RegExp][] = [
    [{ 'k8s-auto-updater.io/policy': 'newest' }, 'k8s-auto-updater.io/policy', /not a policy: write digest/],
    [{ 'k8s-auto-updater.io/policy': 'semver:>>1' }, 'k8s-auto-updater.io/policy', /not a semver range/],
    [
      { 'k8s-auto-updater.io/policy': 'regexp:^(\\d+' },
      'k8s-auto-updater.io/policy',
      /not a regular expression/,
    ],
    [
      { 'k8s-auto-updater.io/policy': 'regexp:^\\d+$' },
      'k8s-auto-updater.io/policy',
      /named group "version"/,
    ],
    [
      { 'k8s-auto-updater.io/policy': 'regexp:^(?<version>(\\d+)+)$' },
      'k8s-auto-updater.io/policy',
      /repeated and holds a repetition/,
    ],
    [
      { 'k8s-auto-updater.io/policy': 'regexp:(?<version>\\d+)', 'k8s-auto-updater.io/order': 'lexical' },
      'k8s-auto-updater.io/order',
      /not an order/,
    ],
    [{ 'k8s-auto-updater.io/apply': 'frontier:0' }, 'k8s-auto-updater.io/apply', /frontier:<N>/],
    [{ 'k8s-auto-updater.io/prerelease': 'yes' }, 'k8s-auto-updater.io/prerelease', /"true" or "false"/],
    [{ 'k8s-auto-updater.io/min-age': '2 days' }, 'k8s-auto-updater.io/min-age', /not a duration/],
    [
      { 'k8s-auto-updater.io/policy.app': 'bogus', 'k8s-auto-updater.io/policy': 'major' },
      'k8s-auto-updater.io/policy.app',
      /not a policy/,
    ],
  ];
  t.equal(rows.length, 10);
  for (const [annotations, annotation, message] of rows) {
    t.match(policyFor(annotations, 'app'), { annotation, message }, JSON.stringify(annotations));
  }
  t.match(policyFor(undefined, 'app'), {
    rule: { kind: 'digest' },
    apply: { mode: 'auto' },
    prerelease: false,
  });
  const s = spec({ 'k8s-auto-updater.io/policy': 'semver:^1' });
  t.match(run(s, '1.2.3.4', ['1.2.3.5']).decision, {
    action: 'none',
    reason: 'policy-invalid',
    message: /at most 3/,
  });
});
