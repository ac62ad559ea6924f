// The hub and its subscriptions in-process, over an in-memory log (memory-log.ts), with sinks of a
// fixed capacity that the test drains step by step. These are the hub's guarantees that the gRPC
// suites can only sample through a real server and its timing: every subscriber sees each matching
// sequence exactly once and in order across the seams (resume from the ring, from the log, the
// switch to live, a full sink taking it off the live path and back). Every assertion is an exact
// sequence list; a seeded randomized run (RIGGER_TEST_SEED) mixes all of it for 50 subscribers.
// Filters are subscription-filters.test.ts; out-of-range, gaps and close() subscription-endings.test.ts;
// the Subscription cursor alone, against a fake EventSource, subscription-cursor.test.ts.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { EventHub } from '../../src/hub/event-hub';
import { compileFilter, type FilterSpec } from '../../src/hub/event-filter';
import { Subscription } from '../../src/hub/subscription';
import type { TaskEventType } from '../../src/model/task';
import { seededRandom } from '../support/seeded-random';
import { assertClean, drainUntilLive, FakeSink, MemoryLog, range, turns, type EventFields } from './memory-log';
import { ALL, commit, expected, hubWith, PEOPLE, SPECS, STATUSES, TASKS } from './subscription-fixtures';

// ---------------------------------------------------------------------------------------------
// Live start, resume from the ring and from the log

test('no since_sequence starts live: exactly the events published after subscribe, and liveCount counts it', () => {
  const { log, hub } = hubWith(10, 16);
  const sink = new FakeSink();
  const sub = hub.subscribe(ALL, undefined, sink);
  assert.equal(sub.position, 10);
  assert.equal(hub.subscriberCount, 1);
  assert.equal(hub.liveCount, 0, 'not live before start()');

  // Published between subscribe and start (while the stream sends its headers): delivered too.
  commit(log, hub, 2);
  assert.deepEqual(sink.received, []);
  sub.start();
  assert.deepEqual(sink.received, [11, 12]);
  assert.equal(sub.live, true);
  assert.equal(hub.liveCount, 1);

  commit(log, hub, 3);
  commit(log, hub, 1);
  assert.deepEqual(sink.received, range(11, 16));
  assert.equal(sub.position, 16);

  const second = new FakeSink();
  const sub2 = hub.subscribe(ALL, undefined, second);
  sub2.start();
  assert.equal(hub.liveCount, 2);
  commit(log, hub, 2);
  assert.deepEqual(sink.received, range(11, 18));
  assert.deepEqual(second.received, [17, 18]);

  hub.unsubscribe(sub2);
  assert.equal(hub.liveCount, 1);
  assert.equal(hub.subscriberCount, 1);
  assert.equal(sub2.live, false);
  commit(log, hub, 1);
  assert.deepEqual(second.received, [17, 18], 'nothing after unsubscribe');
  assert.deepEqual(sink.received, range(11, 19));
  assertClean(sink, second);
});

test('resume from the replay ring, then live: events before and after subscribe once each, in order', () => {
  const { log, hub } = hubWith(40, 16); // the ring holds 25..40
  log.reads.length = 0;
  const sink = new FakeSink();
  const sub = hub.subscribe(ALL, 30, sink);
  commit(log, hub, 2); // 41, 42: published after subscribe, before start
  sub.start();
  assert.deepEqual(sink.received, range(31, 42));
  assert.equal(sub.live, true);
  assert.equal(hub.liveCount, 1);
  commit(log, hub, 3);
  assert.deepEqual(sink.received, range(31, 45));
  assert.deepEqual(log.reads, [], 'served from the ring, not the log');
  assertClean(sink);
});

test('resume from the log (older than the ring), then live: no seam between log, ring and live', () => {
  const { log, hub } = hubWith(1500, 16); // the ring holds 1485..1500; the rest is only in the log
  log.reads.length = 0;
  const sink = new FakeSink(100);
  const sub = hub.subscribe(ALL, 5, sink);
  commit(log, hub, 3);
  sub.start();
  assert.deepEqual(sink.received, range(6, 105));
  assert.equal(sub.live, false);
  assert.ok(log.reads.length > 0, 'read from the log');

  // Publish while it catches up, between drains: those land in the ring and the log, not lost.
  for (let i = 0; i < 20 && !sub.live; i++) {
    commit(log, hub, 7);
    sink.drain();
  }
  assert.equal(sub.live, true, 'caught up and live');
  assert.equal(hub.liveCount, 1);
  sink.capacity = Number.POSITIVE_INFINITY;
  sink.drain();
  commit(log, hub, 4);
  assert.deepEqual(sink.received, range(6, hub.lastSequence));
  assertClean(sink);
});

test('boundaries: resume one before the newest, and a catch-up ending on a page boundary, deliver the last event at once', () => {
  const { log, hub } = hubWith(1025, 16); // pages of 512: the last page holds only 1025
  const cases = [1024, 1023, 512, 511, 0, 1009, 1008].map((since) => {
    const sink = new FakeSink();
    const sub = hub.subscribe(ALL, since, sink);
    sub.start(); // catch-up is synchronous up to a turn's worth: everything, here, before any publish
    return { since, sink, sub };
  });
  for (const { since, sink, sub } of cases) {
    assert.deepEqual(sink.received, range(since + 1, 1025), `since ${since}`);
    assert.equal(sub.live, true, `since ${since}: live`);
  }
  assert.equal(hub.liveCount, cases.length);
  commit(log, hub, 1);
  for (const { since, sink } of cases) assert.deepEqual(sink.received, range(since + 1, 1026), `since ${since}`);
  assertClean(...cases.map((c) => c.sink));
});

test('a catch-up longer than one pump turn, with events published between turns, delivers each sequence once', async () => {
  const { log, hub } = hubWith(10_000, 32);
  const sink = new FakeSink();
  const sub = hub.subscribe(ALL, 0, sink);
  sub.start();
  assert.ok(sink.received.length > 0 && sink.received.length < 10_000, `the first turn yields (${sink.received.length} delivered)`);
  assert.equal(sub.live, false);
  for (let i = 0; i < 50 && !sub.live; i++) {
    commit(log, hub, 1 + (i % 5));
    await turns(1);
  }
  assert.equal(sub.live, true);
  commit(log, hub, 3);
  assert.deepEqual(sink.received, range(1, hub.lastSequence));
  assertClean(sink);
});

// ---------------------------------------------------------------------------------------------
// Back-pressure

test('a full sink takes the subscription off the live path; it catches up from the ring and the log and rejoins', async () => {
  const { log, hub } = hubWith(0, 8);
  const sink = new FakeSink(3);
  const sub = hub.subscribe(ALL, undefined, sink);
  sub.start();
  assert.equal(hub.liveCount, 1);
  commit(log, hub, 2);
  assert.deepEqual(sink.received, [1, 2]);
  assert.equal(sub.live, true);

  commit(log, hub, 1); // fills the sink
  assert.deepEqual(sink.received, [1, 2, 3]);
  assert.equal(sub.live, false);
  assert.equal(hub.liveCount, 0);
  assert.equal(hub.subscriberCount, 1, 'still subscribed, catching up');
  assert.equal(sink.waiters, 1);

  // 4..23 published meanwhile; the ring keeps only 16..23, so 4..15 come from the log.
  commit(log, hub, 20);
  assert.deepEqual(sink.received, [1, 2, 3]);
  sink.drain();
  assert.deepEqual(sink.received, range(1, 6));
  assert.equal(sub.live, false);
  const drains = await drainUntilLive(sub, sink, 20);
  assert.ok(drains >= 5, `${drains} drains`);
  assert.deepEqual(sink.received, range(1, 23));
  assert.equal(hub.liveCount, 1);

  // Live again: delivered synchronously by publish, no pump needed.
  sink.capacity = Number.POSITIVE_INFINITY;
  sink.drain();
  commit(log, hub, 5);
  assert.deepEqual(sink.received, range(1, 28));
  assert.equal(sub.live, true);

  // A full sink on the last event of a catch-up: it waits, and the next drain just goes live.
  sink.capacity = 2;
  sink.drain();
  commit(log, hub, 2); // 29, 30: full on 30
  assert.equal(sub.live, false);
  sink.drain();
  assert.equal(sub.live, true);
  assert.deepEqual(sink.received, range(1, 30));
  assertClean(sink);
});

test('one slow subscriber does not hold back a fast one', async () => {
  const { log, hub } = hubWith(0, 16);
  const slow = new FakeSink(1);
  const fast = new FakeSink();
  const slowSub = hub.subscribe(ALL, undefined, slow);
  const fastSub = hub.subscribe(ALL, undefined, fast);
  slowSub.start();
  fastSub.start();
  commit(log, hub, 100);
  assert.deepEqual(fast.received, range(1, 100));
  assert.deepEqual(slow.received, [1]);
  assert.equal(hub.liveCount, 1);
  await drainUntilLive(slowSub, slow, 200);
  assert.deepEqual(slow.received, range(1, 100));
  assert.equal(hub.liveCount, 2);
  assertClean(slow, fast);
});

// ---------------------------------------------------------------------------------------------
// Randomized

const SEED = Number(process.env.RIGGER_TEST_SEED ?? 20261201);

test(
  `50 subscriptions with random filters, capacities, drains, resumes and gaps see exactly their sequence lists (seed ${SEED})`,
  { timeout: 60_000 },
  async (t) => {
    t.diagnostic(`seed ${SEED}; rerun with RIGGER_TEST_SEED=${SEED}`);
    const random = seededRandom(SEED);
    const between = (lo: number, hi: number) => lo + Math.floor(random() * (hi - lo + 1));
    const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)]!;
    const chance = (p: number) => random() < p;
    const EVENTS = 5000;
    const SUBSCRIBERS = 50;
    const BUFFER = 64;
    const specs: readonly FilterSpec[] = [ALL, ALL, ...SPECS, { assignee: 'Alice', taskIds: ['t2'] }, { statuses: [4], eventTypes: [4] }];
    const randomEvent = (): EventFields => ({
      eventType: between(1, 7) as TaskEventType,
      taskId: pick(TASKS),
      assignee: pick(PEOPLE),
      previousAssignee: pick(PEOPLE),
      status: pick(STATUSES),
      previousStatus: chance(0.3) ? undefined : pick(STATUSES),
    });

    const log = new MemoryLog();
    log.append(Array.from({ length: 200 }, randomEvent));
    const hub = new EventHub(log, BUFFER);

    interface Segment {
      spec: FilterSpec;
      after: number;
      upTo?: number;
    }
    interface Subscriber {
      sub: Subscription;
      sink: FakeSink;
      segments: Segment[];
    }
    const subscribers: Subscriber[] = [];
    const addSubscriber = () => {
      const spec = pick(specs);
      const last = hub.lastSequence;
      const since = pick([undefined, last, Math.max(0, last - between(0, BUFFER)), between(0, last)]);
      const sink = new FakeSink(chance(0.15) ? Number.POSITIVE_INFINITY : between(1, 40));
      const sub = hub.subscribe(spec, since, sink);
      subscribers.push({ sub, sink, segments: [{ spec, after: since ?? last }] });
      sub.start();
    };

    let steps = 0;
    while (log.latestSequence() < EVENTS && steps++ < 100_000) {
      const roll = random();
      if (subscribers.length < SUBSCRIBERS && chance(0.05)) addSubscriber();
      if (roll < 0.6) commit(log, hub, Array.from({ length: between(1, 20) }, randomEvent));
      else if (roll < 0.65)
        log.append(Array.from({ length: between(1, 30) }, randomEvent)); // another process
      else if (roll < 0.68) hub.syncFromLog();
      else if (roll < 0.9) {
        for (const s of subscribers) if (chance(0.4)) s.sink.drain();
      } else if (roll < 0.97) await turns(1);
      else if (subscribers.length > 0) {
        const s = pick(subscribers);
        const current = s.segments.at(-1)!;
        current.upTo = s.sub.position;
        if (chance(0.5)) {
          const spec = pick(specs);
          s.sub.setFilter(compileFilter(spec));
          s.segments.push({ spec, after: s.sub.position });
        } else {
          const since = between(0, hub.lastSequence);
          s.sub.restartFrom(since);
          s.segments.push({ spec: current.spec, after: since });
        }
      }
    }
    while (subscribers.length < SUBSCRIBERS) addSubscriber();
    hub.syncFromLog();
    assert.equal(hub.lastSequence, log.latestSequence());
    assert.ok(hub.lastSequence >= EVENTS, `${hub.lastSequence} events after ${steps} steps`);

    for (let round = 0; round < 5000 && !subscribers.every((s) => s.sub.live); round++) {
      for (const s of subscribers) s.sink.drain();
      await turns(1);
    }
    assert.equal(hub.liveCount, SUBSCRIBERS, 'all caught up and live');
    assert.equal(hub.subscriberCount, SUBSCRIBERS);
    // One more burst on the live path, with sinks that may fill again on the way.
    commit(log, hub, Array.from({ length: 50 }, randomEvent));
    for (let round = 0; round < 500 && !subscribers.every((s) => s.sub.live); round++) {
      for (const s of subscribers) s.sink.drain();
      await turns(1);
    }

    let delivered = 0;
    for (const [i, s] of subscribers.entries()) {
      const want = s.segments.flatMap((seg) => expected(log, seg.spec, seg.after, seg.upTo));
      assert.deepEqual(s.sink.received, want, `subscriber ${i}: ${JSON.stringify(s.segments)}`);
      assert.equal(s.sub.position, hub.lastSequence);
      assert.deepEqual(s.sink.failures, []);
      delivered += want.length;
    }
    assertClean(...subscribers.map((s) => s.sink));
    t.diagnostic(`${hub.lastSequence} events, ${delivered} deliveries, ${steps} steps`);
  },
);
