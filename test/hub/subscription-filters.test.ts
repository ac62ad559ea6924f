// The hub's filters in-process (the harness of subscription.test.ts): a subscriber gets exactly the
// events its filter matches, resumed and live; setFilter applies from the next event; restartFrom
// moves the position back or forward, from any state; a bad filter registers nothing.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { compileFilter, type FilterSpec } from '../../src/hub/event-filter';
import { RiggerError } from '../../src/model/errors';
import { assertClean, drainUntilLive, FakeSink, range, turns } from './memory-log';
import { ALL, commit, expected, hubWith, scripted, SPECS } from './subscription-fixtures';

// ---------------------------------------------------------------------------------------------
// Filters, setFilter, restartFrom

test('filters deliver exactly the matching events (assignee and status before or after the change), resumed and live', async () => {
  const { log, hub } = hubWith(0, 16);
  commit(log, hub, range(0, 299).map(scripted)); // 1..300 in the log; the ring has 285..300
  const cases = SPECS.flatMap((spec) =>
    [0, 290, undefined].map((since) => {
      const sink = new FakeSink(2);
      const sub = hub.subscribe(spec, since, sink);
      return { spec, since: since ?? 300, sink, sub };
    }),
  );
  for (const c of cases) c.sub.start();
  for (let round = 0; round < 30; round++) {
    commit(log, hub, range(300 + round * 10, 309 + round * 10).map(scripted));
    for (const c of cases) c.sink.drain();
    await turns(1);
  }
  for (const c of cases) await drainUntilLive(c.sub, c.sink, 1000);
  for (const c of cases) {
    const want = expected(log, c.spec, c.since);
    assert.deepEqual(c.sink.received, want, `filter ${JSON.stringify(c.spec)} since ${c.since}`);
  }
  // The script really exercises the "before the change" half of the rule.
  const alice = expected(log, { assignee: 'Alice' }, 0);
  assert.ok(
    alice.some((s) => log.all()[s - 1]!.assignee !== 'Alice'),
    'some Alice events are about a task taken from her',
  );
  const inProgress = expected(log, { statuses: [2] }, 0);
  assert.ok(
    inProgress.some((s) => log.all()[s - 1]!.status !== 2),
    'some IN_PROGRESS events move a task out of it',
  );
  assertClean(...cases.map((c) => c.sink));
});

test('an invalid filter is refused with invalid_argument and registers nothing', () => {
  const { hub } = hubWith(5, 16);
  for (const spec of [{ eventTypes: [0] }, { eventTypes: [8] }, { statuses: [11] }, { statuses: [0] }]) {
    assert.throws(
      () => hub.subscribe(spec, undefined, new FakeSink()),
      (e: unknown) => e instanceof RiggerError && e.kind === 'invalid_argument',
      JSON.stringify(spec),
    );
  }
  assert.equal(hub.subscriberCount, 0);
});

test('setFilter applies from the next event, live and while catching up', async () => {
  const { log, hub } = hubWith(0, 16);
  const a: FilterSpec = { assignee: 'Alice' };
  const b: FilterSpec = { statuses: [9] };

  // Live.
  const sink = new FakeSink();
  const sub = hub.subscribe(a, undefined, sink);
  sub.start();
  commit(log, hub, range(0, 49).map(scripted));
  sub.setFilter(compileFilter(b));
  commit(log, hub, range(50, 99).map(scripted));
  assert.deepEqual(sink.received, [...expected(log, a, 0, 50), ...expected(log, b, 50)]);

  // Catching up from the log with a sink that holds 3: the switch happens at the position it had reached.
  const slow = new FakeSink(3);
  const slowSub = hub.subscribe(a, 0, slow);
  slowSub.start();
  slow.drain();
  const switchedAt = slowSub.position;
  assert.ok(switchedAt > 0 && switchedAt < 100, `position ${switchedAt}`);
  slowSub.setFilter(compileFilter(b));
  commit(log, hub, range(100, 119).map(scripted));
  await drainUntilLive(slowSub, slow, 500);
  commit(log, hub, range(120, 124).map(scripted));
  slow.capacity = Number.POSITIVE_INFINITY;
  await drainUntilLive(slowSub, slow);
  slow.drain();
  commit(log, hub, range(125, 129).map(scripted));
  assert.deepEqual(slow.received, [...expected(log, a, 0, switchedAt), ...expected(log, b, switchedAt)]);
  assertClean(sink, slow);
});

test('restartFrom moves the position back (replay) and forward (skip), from live or while waiting for a drain', async () => {
  const { log, hub } = hubWith(0, 16);
  const sink = new FakeSink();
  const sub = hub.subscribe(ALL, undefined, sink);
  sub.start();
  commit(log, hub, 20);
  assert.deepEqual(sink.received, range(1, 20));

  sub.restartFrom(5); // back: 6..20 again
  assert.equal(sub.live, false);
  assert.equal(hub.liveCount, 0);
  assert.equal(sub.position, 5);
  commit(log, hub, 2); // 21, 22 published before the pump runs: delivered once, after the replay
  await turns(1);
  assert.equal(sub.live, true);
  assert.deepEqual(sink.received, [...range(1, 20), ...range(6, 22)]);

  commit(log, hub, 30); // 23..52, live
  assert.deepEqual(sink.received, [...range(1, 20), ...range(6, 52)]);

  // Back to 10 with a sink that holds 4, then, while it waits for a drain, forward to 30: the
  // held page is dropped and 15..30 are skipped, as asked.
  sink.capacity = 4;
  sink.drain();
  const before = sink.received.length;
  sub.restartFrom(10);
  await turns(1);
  assert.deepEqual(sink.received.slice(before), range(11, 14));
  assert.equal(sub.position, 14);
  sub.restartFrom(30);
  assert.equal(sub.position, 30);
  await turns(1);
  assert.deepEqual(sink.received.slice(before), range(11, 14), 'nothing while the sink is full');
  sink.capacity = Number.POSITIVE_INFINITY;
  sink.drain();
  await turns(1);
  assert.deepEqual(sink.received.slice(before), [...range(11, 14), ...range(31, 52)]);
  assert.equal(sub.live, true);
  assertClean(sink);
});
