import t from 'tap';
import { Limiter, mapLimit } from '../../lib/shared/concurrency.ts';

// A task that stays in flight until the test lets it go.
function gate() {
  let open!: () => void;
  const opened = new Promise<void>((r) => {
    open = r;
  });
  return { open, opened };
}

const tick = () => new Promise((r) => setImmediate(r));

t.test(
  'when more tasks than the limit run then at most the limit hold a slot, served in arrival order',
  async (t) => {
    const limiter = new Limiter(2);
    const gates = [gate(), gate(), gate(), gate()];
    const started: number[] = [];
    const runs = gates.map((g, i) =>
      limiter.run(async () => {
        started.push(i);
        await g.opened;
        return i;
      }),
    );
    await tick();
    t.same(started, [0, 1], 'two of four started');
    t.equal(limiter.active, 2);
    t.equal(limiter.pending, 2);
    gates[1]?.open();
    await tick();
    t.same(started, [0, 1, 2], 'the first waiter took the freed slot');
    for (const g of gates) g.open();
    t.same(await Promise.all(runs), [0, 1, 2, 3]);
    t.equal(limiter.active, 0, 'every slot released');
    t.equal(limiter.pending, 0);
  },
);

t.test('when a task rejects then its slot is released and the rejection reaches the caller', async (t) => {
  const limiter = new Limiter(1);
  await t.rejects(
    limiter.run(async () => {
      throw new Error('boom');
    }),
    { message: 'boom' },
  );
  t.equal(await limiter.run(async () => 'next'), 'next', 'the next task got the slot');
  t.equal(limiter.active, 0);
});

t.test('when a release function is called twice then only one slot is freed', async (t) => {
  const limiter = new Limiter(1);
  const release = await limiter.acquire();
  release();
  release();
  const a = await limiter.acquire();
  t.equal(limiter.active, 1);
  let second = false;
  const b = limiter.acquire().then((r) => {
    second = true;
    return r;
  });
  await tick();
  t.equal(second, false, 'the second acquire waits: the double release did not make a second slot');
  a();
  (await b)();
  t.equal(second, true);
});

t.test('when mapLimit maps a list then results keep input order and the limit holds', async (t) => {
  let inFlight = 0;
  let peak = 0;
  const out = await mapLimit([5, 1, 4, 2, 3], 2, async (n, i) => {
    inFlight++;
    peak = Math.max(peak, inFlight);
    await new Promise((r) => setTimeout(r, n));
    inFlight--;
    return `${i}:${n}`;
  });
  t.same(out, ['0:5', '1:1', '2:4', '3:2', '4:3']);
  t.equal(peak, 2, 'two in flight at the peak, never more');
});

t.test(
  'when one call fails then no new call starts, running calls finish, and mapLimit rejects',
  async (t) => {
    const started: number[] = [];
    let finished = 0;
    await t.rejects(
      mapLimit([0, 1, 2, 3, 4], 2, async (n) => {
        started.push(n);
        await tick();
        if (n === 0) throw new Error('first failed');
        finished++;
        return n;
      }),
      { message: 'first failed' },
    );
    t.same(started, [0, 1], 'only the two first calls started');
    t.equal(finished, 1, 'the call in flight was awaited');
  },
);

t.test('when the list is empty then mapLimit resolves to an empty list without calling fn', async (t) => {
  let calls = 0;
  t.same(
    await mapLimit([], 3, async () => {
      calls++;
    }),
    [],
  );
  t.equal(calls, 0);
});

t.test('when the limit is not a whole number of at least 1 then a RangeError names it', async (t) => {
  for (const bad of [0, -1, 1.5, Number.NaN]) {
    t.throws(() => new Limiter(bad), RangeError, `Limiter(${bad})`);
    await t.rejects(
      mapLimit([1, 2], bad, async (n) => n),
      { name: 'RangeError', message: /mapLimit: the concurrency limit must be a whole number of at least 1/ },
      `mapLimit(${bad})`,
    );
  }
});
