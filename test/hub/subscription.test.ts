// The hub and its subscriptions in-process, over an in-memory log (memory-log.ts), with sinks of a
// fixed capacity that the test drains step by step. These are the hub's guarantees that the gRPC
// suites can only sample through a real server and its timing: every subscriber sees each matching
// sequence exactly once and in order across the seams (resume from the ring, from the log, the
// switch to live, a full sink taking it off the live path and back), history that is gone is an
// OUT_OF_RANGE error and never a silent skip, and close() ends every stream. Every assertion is
// an exact sequence list; a seeded randomized run (RIGGER_TEST_SEED) mixes all of it for 50
// subscribers. The Subscription cursor is also driven alone against a tiny fake EventSource, where
// the calls it makes (read, joinLive, leaveLive, release) are the thing under test.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { EventHub } from '../../src/hub/event-hub';
import { compileFilter, type FilterSpec } from '../../src/hub/event-filter';
import { Subscription, type EventSource } from '../../src/hub/subscription';
import { RiggerError } from '../../src/model/errors';
import type { LoggedEvent } from '../../src/model/logged-event';
import type { TaskEventType, TaskStatus } from '../../src/model/task';
import { seededRandom } from '../support/seeded-random';
import { FakeSink, MemoryLog, range, turns, type EventFields } from './memory-log';

const ALL: FilterSpec = {};

/** A hub over a log that already holds `count` events (all published: the hub starts at the log's tail). */
function hubWith(count: number, bufferSize: number): { log: MemoryLog; hub: EventHub } {
  const log = new MemoryLog();
  log.append(count);
  return { log, hub: new EventHub(log, bufferSize) };
}

/** This process commits `what` and publishes it. */
function commit(log: MemoryLog, hub: EventHub, what: number | readonly EventFields[]): LoggedEvent[] {
  const events = log.append(what);
  hub.publish(events);
  return events;
}

/** Drains `sink` (and lets scheduled pumps run) until `sub` is live again; at most `rounds` drains. */
async function drainUntilLive(sub: Subscription, sink: FakeSink, rounds = 10_000): Promise<number> {
  for (let i = 0; i < rounds; i++) {
    if (sub.live) return i;
    sink.drain();
    if (!sub.live) await turns(1);
  }
  assert.fail(`not live after ${rounds} drains; received up to ${sink.received.at(-1)}`);
}

function assertClean(...sinks: FakeSink[]): void {
  for (const sink of sinks) assert.deepEqual(sink.violations, [], 'sink contract violations');
}

/** What `spec` matches, stated independently of compileFilter (see event-filter.ts for the rule). */
function matches(spec: FilterSpec, event: LoggedEvent): boolean {
  if (spec.eventTypes?.length && !spec.eventTypes.includes(event.eventType)) return false;
  if (spec.taskIds?.length && !spec.taskIds.includes(event.taskId)) return false;
  if (spec.assignee && event.assignee !== spec.assignee && event.previousAssignee !== spec.assignee) return false;
  if (spec.statuses?.length) {
    const before = event.previousStatus;
    if (!spec.statuses.includes(event.status) && (before === undefined || !spec.statuses.includes(before))) return false;
  }
  return true;
}

function expected(log: MemoryLog, spec: FilterSpec, after: number, upTo = Number.POSITIVE_INFINITY): number[] {
  return log
    .all()
    .filter((e) => e.sequence > after && e.sequence <= upTo && matches(spec, e))
    .map((e) => e.sequence);
}

function isOutOfRange(details: Record<string, string>) {
  return (error: unknown) => {
    assert.ok(error instanceof RiggerError, `not a RiggerError: ${String(error)}`);
    assert.equal(error.kind, 'out_of_range');
    assert.deepEqual(error.details, details);
    return true;
  };
}

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
// Filters, setFilter, restartFrom

const PEOPLE = [undefined, 'Alice', 'Bob', 'Carol'] as const;
const STATUSES: readonly TaskStatus[] = [1, 2, 4, 9];
const TASKS = ['t0', 't1', 't2', 't3', 't4'];

/** Event i of a fixed script exercising every field (deterministic, no PRNG). */
function scripted(i: number): EventFields {
  return {
    eventType: (1 + (i % 7)) as TaskEventType,
    taskId: TASKS[i % TASKS.length]!,
    assignee: PEOPLE[i % 4],
    previousAssignee: i % 3 === 0 ? undefined : PEOPLE[(i * 7) % 4],
    status: STATUSES[i % STATUSES.length]!,
    previousStatus: i % 5 === 0 ? undefined : STATUSES[(i * 3) % STATUSES.length],
  };
}

const SPECS: readonly FilterSpec[] = [
  { eventTypes: [4] },
  { eventTypes: [1, 3, 5] },
  { assignee: 'Alice' },
  { statuses: [2] },
  { statuses: [1, 9] },
  { taskIds: ['t1', 't3'] },
  { assignee: 'Bob', statuses: [4] },
  { eventTypes: [2, 4], taskIds: ['t0'], assignee: 'Carol' },
  { assignee: '' }, // empty means any
  { eventTypes: [], statuses: [], taskIds: [] }, // empty lists mean any
];

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

// ---------------------------------------------------------------------------------------------
// OUT_OF_RANGE

test('subscribe: since older than the log is out_of_range with oldest_sequence; the oldest resumable since works', () => {
  const { log, hub } = hubWith(100, 16);
  log.compact(51); // the log keeps 51..100
  assert.throws(() => hub.subscribe(ALL, 49, new FakeSink()), isOutOfRange({ oldest_sequence: '51' }));
  assert.throws(() => hub.subscribe(ALL, 0, new FakeSink()), isOutOfRange({ oldest_sequence: '51' }));
  assert.equal(hub.subscriberCount, 0);

  const sink = new FakeSink();
  const sub = hub.subscribe(ALL, 50, sink);
  sub.start();
  assert.deepEqual(sink.received, range(51, 100));
  assert.equal(sub.live, true);
  assertClean(sink);
});

test('subscribe: since ahead of the newest event is out_of_range with latest_sequence', () => {
  const { log, hub } = hubWith(100, 16);
  log.compact(51);
  assert.throws(() => hub.subscribe(ALL, 101, new FakeSink()), isOutOfRange({ oldest_sequence: '51', latest_sequence: '100' }));
  assert.throws(() => hub.subscribe(ALL, 1e9, new FakeSink()), isOutOfRange({ oldest_sequence: '51', latest_sequence: '100' }));
  assert.equal(hub.subscriberCount, 0);
  const sink = new FakeSink();
  hub.subscribe(ALL, 100, sink).start(); // the newest itself is fine: live from there
  assert.equal(hub.liveCount, 1);
});

test('a subscription catching up whose next event was compacted away meanwhile fails with out_of_range and is released', () => {
  const { log, hub } = hubWith(2000, 16);
  const other = new FakeSink();
  hub.subscribe(ALL, undefined, other).start();
  const sink = new FakeSink(10);
  const sub = hub.subscribe(ALL, 0, sink);
  sub.start();
  assert.deepEqual(sink.received, range(1, 10));
  assert.equal(hub.subscriberCount, 2);

  log.compact(1000); // retention runs while it waits for its sink
  for (let i = 0; i < 1000 && sink.failures.length === 0; i++) sink.drain();
  // It finishes the page it already held (read before the compaction), then finds 513 gone.
  assert.deepEqual(sink.received, range(1, 512));
  assert.equal(sink.failures.length, 1);
  assert.equal(sink.failures[0]!.kind, 'out_of_range');
  assert.deepEqual(sink.failures[0]!.details, { oldest_sequence: '1000' });
  assert.equal(hub.subscriberCount, 1, 'released');
  assert.equal(hub.liveCount, 1);
  assert.equal(sub.live, false);
  assert.equal(sink.waiters, 0);

  commit(log, hub, 1);
  assert.deepEqual(sink.received, range(1, 512), 'nothing after the failure');
  assert.deepEqual(other.received, [2001]);
  assertClean(sink, other);
});

test('a hole on the live path (history compacted before it was published) fails with out_of_range, never a skip', async () => {
  const { log, hub } = hubWith(10, 16);
  const sink = new FakeSink();
  const sub = hub.subscribe(ALL, undefined, sink);
  sub.start();
  log.append(10); // 11..20 by another process, not yet published here
  log.compact(16); // ... and 11..15 compacted before this process saw them
  commit(log, hub, 1); // 21: the hub fills 16..20 from the log first
  assert.equal(hub.lastSequence, 21);
  assert.equal(sub.live, false, 'off the live path at the hole');
  await turns(2);
  assert.deepEqual(sink.received, []);
  assert.equal(sink.failures.length, 1);
  assert.equal(sink.failures[0]!.kind, 'out_of_range');
  assert.deepEqual(sink.failures[0]!.details, { oldest_sequence: '16' });
  assert.equal(hub.subscriberCount, 0);
  assert.equal(hub.liveCount, 0);

  // Resuming from the oldest retained point works.
  const again = new FakeSink();
  hub.subscribe(ALL, 15, again).start();
  assert.deepEqual(again.received, range(16, 21));
  assertClean(sink, again);
});

// ---------------------------------------------------------------------------------------------
// Gaps from other processes

test('publish after a gap (another process committed) fills it from the log, so subscribers see every sequence', () => {
  const { log, hub } = hubWith(10, 16);
  const sink = new FakeSink();
  const sub = hub.subscribe(ALL, undefined, sink);
  sub.start();

  log.append(5); // 11..15 from another process
  commit(log, hub, 3); // 16..18 from this one
  assert.deepEqual(sink.received, range(11, 18));
  hub.publish(log.all().slice(-2)); // 17, 18 again: ignored
  assert.deepEqual(sink.received, range(11, 18));

  log.append(2500); // more than one sync page (1000)
  hub.syncFromLog(); // what the log watcher calls
  assert.equal(hub.lastSequence, 2518);
  assert.deepEqual(sink.received, range(11, 2518));

  // A resume point the hub has not published yet but the log has (another process's commit).
  log.append(10); // 2519..2528
  const ahead = new FakeSink();
  const aheadSub = hub.subscribe(ALL, 2525, ahead);
  aheadSub.start();
  assert.equal(aheadSub.live, true);
  hub.syncFromLog();
  commit(log, hub, 1);
  assert.deepEqual(ahead.received, [2526, 2527, 2528, 2529]);
  assert.deepEqual(sink.received, range(11, 2529));
  assert.equal(sub.live, true);
  assertClean(sink, ahead);
});

// ---------------------------------------------------------------------------------------------
// close()

test('close(err) fails every subscription with err, whatever its state, refuses new ones and tells onClose listeners', async () => {
  const { log, hub } = hubWith(100, 16);
  const live = new FakeSink();
  const liveSub = hub.subscribe(ALL, undefined, live);
  liveSub.start();
  const full = new FakeSink(2);
  hub.subscribe(ALL, undefined, full).start();
  commit(log, hub, 2); // fills `full`: waiting for a drain
  const restarting = new FakeSink();
  const restartingSub = hub.subscribe(ALL, undefined, restarting);
  restartingSub.start();
  restartingSub.restartFrom(0); // a pump scheduled, not yet run
  const notStarted = new FakeSink();
  hub.subscribe(ALL, 50, notStarted);
  const gone = new FakeSink();
  const goneSub = hub.subscribe(ALL, undefined, gone);
  goneSub.start();
  hub.unsubscribe(goneSub);
  assert.equal(hub.subscriberCount, 4);

  const heard: RiggerError[] = [];
  hub.onClose((reason) => heard.push(reason));
  const removed: RiggerError[] = [];
  hub.onClose((reason) => removed.push(reason))();

  const err = new RiggerError('unavailable', 'server shutting down');
  hub.close(err);
  for (const sink of [live, full, restarting, notStarted]) {
    assert.equal(sink.failures.length, 1);
    assert.equal(sink.failures[0], err);
  }
  assert.deepEqual(gone.failures, [], 'an unsubscribed stream is not failed');
  assert.equal(hub.subscriberCount, 0);
  assert.equal(hub.liveCount, 0);
  assert.deepEqual(heard, [err]);
  assert.deepEqual(removed, []);
  assert.throws(
    () => hub.subscribe(ALL, undefined, new FakeSink()),
    (e: unknown) => e === err,
  );
  assert.throws(
    () => hub.subscribe(ALL, 10, new FakeSink()),
    (e: unknown) => e === err,
  );
  const late: RiggerError[] = [];
  hub.onClose((reason) => late.push(reason));
  assert.deepEqual(late, [err], 'a listener added after close hears at once');

  // Nothing more reaches any of them.
  const counts = [live, full, restarting, notStarted].map((s) => s.received.length);
  full.drain();
  await turns(2);
  commit(log, hub, 3);
  assert.deepEqual(
    [live, full, restarting, notStarted].map((s) => s.received.length),
    counts,
  );
  assert.deepEqual(live.received, [101, 102]);
  assertClean(live, full, restarting, notStarted, gone);
});

// ---------------------------------------------------------------------------------------------
// The Subscription cursor alone, against a fake EventSource

/** An EventSource over a MemoryLog that records every call made to it. */
class FakeSource implements EventSource {
  readonly log = new MemoryLog();
  readonly calls: string[] = [];
  readonly liveSet = new Set<Subscription>();
  lastSequence = 0;

  read(from: number, limit: number): readonly LoggedEvent[] {
    this.calls.push(`read ${from}`);
    const held = this.log.all().filter((e) => e.sequence >= from && e.sequence <= this.lastSequence);
    if (from <= this.lastSequence && held[0]?.sequence !== from) {
      throw new RiggerError('out_of_range', `${from} is gone`, { oldest_sequence: String(this.log.oldestSequence()) });
    }
    return held.slice(0, limit);
  }
  joinLive(subscription: Subscription): boolean {
    this.calls.push('joinLive');
    this.liveSet.add(subscription);
    return true;
  }
  leaveLive(subscription: Subscription): void {
    this.calls.push('leaveLive');
    this.liveSet.delete(subscription);
  }
  release(subscription: Subscription): void {
    this.calls.push('release');
    this.liveSet.delete(subscription);
  }
  /** Appends and "publishes" `count` events: handed to whoever is live. */
  publish(count: number, deliver = true): LoggedEvent[] {
    const events = this.log.append(count);
    this.lastSequence = this.log.latestSequence();
    if (deliver) for (const event of events) for (const sub of [...this.liveSet]) sub.deliverLive(event);
    return events;
  }
}

test('Subscription alone: starts live at the source position, ignores what is below it, and joins once', () => {
  const source = new FakeSource();
  source.publish(5);
  const sink = new FakeSink();
  const sub = new Subscription(source, compileFilter(ALL), undefined, sink);
  assert.equal(sub.position, 5);
  sub.start();
  assert.deepEqual(source.calls, ['joinLive']);
  assert.equal(sub.live, true);
  source.publish(2);
  sub.deliverLive(source.log.all()[2]!); // 3: below the position, ignored
  assert.deepEqual(sink.received, [6, 7]);

  // A resume point ahead of the source: live at once, 8..10 are skipped as already seen.
  const ahead = new FakeSink();
  const aheadSub = new Subscription(source, compileFilter(ALL), 10, ahead);
  aheadSub.start();
  assert.equal(aheadSub.live, true);
  source.publish(5);
  assert.deepEqual(ahead.received, [11, 12]);
  assert.deepEqual(source.calls, ['joinLive', 'joinLive']);
  assertClean(sink, ahead);
});

test('Subscription alone: catching up holds one page across drains instead of re-reading it', async () => {
  const source = new FakeSource();
  source.publish(1000);
  const sink = new FakeSink(7);
  const sub = new Subscription(source, compileFilter(ALL), 0, sink);
  sub.start();
  assert.deepEqual(sink.received, range(1, 7));
  const drains = await drainUntilLive(sub, sink, 200);
  assert.equal(drains, Math.ceil(1000 / 7) - 1, 'one drain per 7 events');
  assert.deepEqual(sink.received, range(1, 1000));
  assert.deepEqual(source.calls, ['read 1', 'read 513', 'joinLive']);

  // Full on the live path: leaveLive, and after the drain it reads what it missed.
  sink.drain();
  source.publish(10);
  assert.deepEqual(sink.received, range(1, 1007));
  assert.equal(sub.live, false);
  sink.drain();
  assert.deepEqual(sink.received, range(1, 1010));
  assert.equal(sub.live, true);
  assert.deepEqual(source.calls, ['read 1', 'read 513', 'joinLive', 'leaveLive', 'read 1008', 'joinLive']);
  assertClean(sink);
});

test('Subscription alone: a hole on the live path goes to read(), whose out_of_range fails the sink and releases it', async () => {
  const source = new FakeSource();
  source.publish(3);
  const sink = new FakeSink();
  const sub = new Subscription(source, compileFilter(ALL), undefined, sink);
  sub.start();
  source.publish(1); // 4
  const [, , seven] = source.publish(3, false); // 5..7 published, but 5 and 6 compacted before delivery
  source.log.compact(7);
  sub.deliverLive(seven!);
  assert.equal(sub.live, false);
  assert.deepEqual(source.calls, ['joinLive', 'leaveLive']);
  await turns(1);
  assert.deepEqual(source.calls, ['joinLive', 'leaveLive', 'read 5', 'release']);
  assert.deepEqual(sink.received, [4]);
  assert.equal(sink.failures.length, 1);
  assert.deepEqual(sink.failures[0]!.details, { oldest_sequence: '7' });

  // Closed: later calls do nothing.
  sub.fail(new RiggerError('internal', 'again'));
  sub.restartFrom(0);
  await turns(1);
  assert.equal(sink.failures.length, 1);
  assert.deepEqual(source.calls, ['joinLive', 'leaveLive', 'read 5', 'release']);
  assertClean(sink);
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
