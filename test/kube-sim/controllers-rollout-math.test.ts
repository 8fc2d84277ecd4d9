// The Deployment controller's rollout bounds: maxSurge/maxUnavailable resolution, tested as a table.

import t from 'tap';
import { surgeAndUnavailable } from '../harness/kube-sim/controllers/deployment.ts';

const cases: Array<{
  name: string;
  replicas: number;
  strategy: Record<string, unknown>;
  surge: number;
  unavailable: number;
}> = [
  {
    name: 'defaults are 25% each: surge rounds up, unavailable down',
    replicas: 10,
    strategy: {},
    surge: 3,
    unavailable: 2,
  },
  {
    name: 'one replica with defaults surges one and keeps it available',
    replicas: 1,
    strategy: {},
    surge: 1,
    unavailable: 0,
  },
  {
    name: 'both 0 means one may be unavailable',
    replicas: 4,
    strategy: { maxSurge: 0, maxUnavailable: 0 },
    surge: 0,
    unavailable: 1,
  },
  {
    name: 'integers are taken as they are',
    replicas: 4,
    strategy: { maxSurge: 2, maxUnavailable: 1 },
    surge: 2,
    unavailable: 1,
  },
  {
    name: 'percentages of a small count',
    replicas: 3,
    strategy: { maxSurge: '50%', maxUnavailable: '50%' },
    surge: 2,
    unavailable: 1,
  },
  {
    name: 'unavailable never exceeds replicas',
    replicas: 2,
    strategy: { maxUnavailable: 5 },
    surge: 1,
    unavailable: 2,
  },
];

for (const c of cases) {
  t.test(`when ${c.name}`, async (t) => {
    const d = {
      metadata: {},
      spec: { replicas: c.replicas, strategy: { type: 'RollingUpdate', rollingUpdate: c.strategy } },
    };
    t.same(surgeAndUnavailable(d), { surge: c.surge, unavailable: c.unavailable });
  });
}

t.test('when the strategy is Recreate then nothing surges and nothing is budgeted', async (t) => {
  t.same(surgeAndUnavailable({ metadata: {}, spec: { replicas: 3, strategy: { type: 'Recreate' } } }), {
    surge: 0,
    unavailable: 0,
  });
});
