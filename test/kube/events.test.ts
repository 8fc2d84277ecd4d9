import t from 'tap';
import type { EventWriter } from '../../lib/kube/api.ts';
import { buildEvent, recordEvent } from '../../lib/kube/events.ts';
import { apiError } from './fakes.ts';

const involved = { kind: 'Deployment', name: 'web', namespace: 'shop', uid: 'dep-1', apiVersion: 'apps/v1' };

t.test('when an event is built then it names the workload, the updater and the reason', async (t) => {
  const now = new Date('2026-11-21T10:00:00Z');
  const e = buildEvent(
    {
      involved,
      reason: 'ImageUpdated',
      message: 'Restarted pod web-1',
      type: 'Normal',
      reportingInstance: 'updater-abc',
    },
    now,
  );
  t.match(e, {
    metadata: { generateName: 'web.', namespace: 'shop' },
    involvedObject: involved,
    reason: 'ImageUpdated',
    message: 'Restarted pod web-1',
    type: 'Normal',
    count: 1,
    firstTimestamp: now,
    lastTimestamp: now,
    source: { component: 'k8s-auto-updater' },
    reportingComponent: 'k8s-auto-updater',
    reportingInstance: 'updater-abc',
  });
});

t.test('when the message is very long then it is cut to 1024 characters', async (t) => {
  const e = buildEvent({ involved, reason: 'ImageUpdated', message: 'x'.repeat(5000), type: 'Normal' });
  t.equal(e.message?.length, 1024);
});

t.test('when the API refuses the event then recordEvent logs and resolves false', async (t) => {
  const warnings: string[] = [];
  const api = {
    async createNamespacedEvent() {
      throw apiError(403, 'events is forbidden', { reason: 'Forbidden' });
    },
  } as unknown as EventWriter;
  const ok = await recordEvent(
    api,
    { involved, reason: 'ImageUpdated', message: 'm', type: 'Normal' },
    { warn: (_o, m) => warnings.push(m ?? '') },
  );
  t.equal(ok, false);
  t.match(warnings[0], /could not record event ImageUpdated on Deployment shop\/web: events is forbidden/);
});

t.test('when the API accepts the event then it is posted in the workload namespace', async (t) => {
  const posted: { namespace: string }[] = [];
  const api = {
    async createNamespacedEvent(req: { namespace: string }) {
      posted.push(req);
      return {};
    },
  } as unknown as EventWriter;
  t.equal(await recordEvent(api, { involved, reason: 'ImageUpdated', message: 'm', type: 'Normal' }), true);
  t.equal(posted[0]?.namespace, 'shop');
});
