// The hub and Subscription reading the log through a filter's narrowing (LogReader.readMatching),
// against an in-memory log: what a narrowed subscriber receives is exactly the filter's events in
// order whatever the sink's capacity, setFilter and restartFrom switch strategy without a gap or a
// repeat, the position (and so bookmarks) moves across stretches holding nothing it wants, and a
// compaction past the position is out_of_range. The same guarantees through a real server and
// SQLite are in filtered-catch-up.test.ts.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { compileFilter, type FilterSpec, type LogNarrowing } from '../../src/hub/event-filter';
import { EventHub } from '../../src/hub/event-hub';
import { RiggerError } from '../../src/model/errors';
import type { LoggedEvent } from '../../src/model/logged-event';
import { seededRandom } from '../support/seeded-random';
import { FakeSink, MemoryLog, range, turns, type EventFields } from './memory-log';

/** MemoryLog with readMatching: the narrowing's rule written out here, every call recorded. */
class NarrowingLog extends MemoryLog {
  readonly matchingReads: [number, number, number][] = [];

  readMatching(after: number, upTo: number, limit: number, narrowing: LogNarrowing): { events: LoggedEvent[]; through: number; oldest: number } {
    this.matchingReads.push([after, upTo, limit]);
    const selected = this.all().filter((e) => e.sequence > after && e.sequence <= upTo && selects(narrowing, e));
    const events = selected.slice(0, limit);
    return { events, through: selected.length > limit ? events[limit - 1]!.sequence : upTo, oldest: this.oldestSequence() };
  }
}

function selects(narrowing: LogNarrowing, e: LoggedEvent): boolean {
  const has = (v: string | number | undefined) => v !== undefined && narrowing.values.includes(v);
  switch (narrowing.field) {
    case 'taskId':
      return has(e.taskId);
    case 'assignee':
      return has(e.assignee) || has(e.previousAssignee);
  }
}

/** What `spec` matches, stated independently of compileFilter. */
function matches(spec: FilterSpec, e: LoggedEvent): boolean {
  if (spec.eventTypes?.length && !spec.eventTypes.includes(e.eventType)) return false;
  if (spec.taskIds?.length && !spec.taskIds.includes(e.taskId)) return false;
  if (spec.assignee && e.assignee !== spec.assignee && e.previousAssignee !== spec.assignee) return false;
  if (spec.statuses?.length && !spec.statuses.includes(e.status) && !(e.previousStatus !== undefined && spec.statuses.includes(e.previousStatus))) return false;
  return true;
}

function expected(log: MemoryLog, spec: FilterSpec, after = 0, upTo = Number.MAX_SAFE_INTEGER): number[] {
  return log
    .all()
    .filter((e) => e.sequence > after && e.sequence <= upTo && matches(spec, e))
    .map((e) => e.sequence);
}

/** Scattered events: a few tasks, assignees and statuses, drawn from a seeded PRNG. */
function randomEvents(random: () => number, count: number): EventFields[] {
  const pick = <T>(items: readonly T[]) => items[Math.floor(random() * items.length)]!;
  return Array.from({ length: count }, () => {
    const rare = random() < 0.01;
    return {
      eventType: pick(rare ? [3, 5, 6] : [1, 2, 2, 4]),
      taskId: rare ? pick(['t-rare-1', 't-rare-2']) : `t-${Math.floor(random() * 500)}`,
      assignee: rare ? pick(['alice', 'bob', undefined]) : 'bulk',
      previousAssignee: rare ? pick(['alice', 'bulk', undefined]) : pick(['bulk', undefined]),
      status: rare ? pick([2, 7, 9]) : 1,
      previousStatus: rare ? pick([1, 2, undefined]) : pick([1, undefined]),
    };
  });
}

function hubWith(fields: EventFields[], bufferSize: number): { log: NarrowingLog; hub: EventHub } {
  const log = new NarrowingLog();
  log.append(fields);
  return { log, hub: new EventHub(log, bufferSize) };
}

async function drainUntilLive(sub: { live: boolean }, sink: FakeSink, maxDrains = 100_000): Promise<void> {
  for (let i = 0; i < maxDrains && !sub.live; i++) {
    sink.drain();
    await turns(1);
  }
  assert.ok(sub.live, 'reached live');
}

function assertClean(...sinks: FakeSink[]): void {
  for (const sink of sinks) assert.deepEqual(sink.violations, []);
}

const SPECS: FilterSpec[] = [
  { taskIds: ['t-rare-1'] },
  { taskIds: ['t-rare-2', 't-rare-1', 't-rare-2'] },
  { assignee: 'alice' },
  { eventTypes: [3] },
  { eventTypes: [5, 6], assignee: 'bob' },
  { statuses: [9] },
  { statuses: [2, 9], taskIds: ['t-rare-2'] },
  { eventTypes: [2] }, // dense: falls back to the shared pages for a while
];

test('compileFilter narrows by task ids, else by the assignee; event types and statuses read the shared pages', () => {
  assert.deepEqual(compileFilter({ taskIds: ['a'], assignee: 'x', eventTypes: [1] }).narrowing, { field: 'taskId', values: ['a'] });
  assert.deepEqual(compileFilter({ assignee: 'x', statuses: [1] }).narrowing, { field: 'assignee', values: ['x'] });
  assert.equal(compileFilter({ eventTypes: [3], statuses: [1] }).narrowing, undefined);
  assert.equal(compileFilter({ eventTypes: [1, 2, 3, 4], statuses: [9] }).narrowing, undefined);
  assert.equal(compileFilter({ assignee: '' }).narrowing, undefined);
  assert.equal(compileFilter({}).narrowing, undefined);
});

test('a narrowed subscriber far behind the ring gets exactly its events, in order, then live; whatever its sink holds', async () => {
  const random = seededRandom(18);
  for (const spec of SPECS) {
    for (const capacity of [Number.POSITIVE_INFINITY, 3, 1]) {
      const { log, hub } = hubWith(randomEvents(random, 6000), 64);
      const sink = new FakeSink(capacity);
      const sub = hub.subscribe(spec, 0, sink);
      sub.start();
      await drainUntilLive(sub, sink);
      assert.equal(sub.position, 6000, `${JSON.stringify(spec)} capacity ${capacity}: position at the head`);
      const live = log.append(randomEvents(random, 300));
      hub.publish(live);
      sink.capacity = Number.POSITIVE_INFINITY;
      await drainUntilLive(sub, sink);
      sink.drain();
      assert.deepEqual(sink.received, expected(log, spec), `${JSON.stringify(spec)} capacity ${capacity}`);
      assertClean(sink);
      hub.unsubscribe(sub);
    }
  }
});

test('a one-task subscriber reads the log through its narrowing: a read or two, not a page per 512 events', async () => {
  const { log, hub } = hubWith(randomEvents(seededRandom(7), 20_000), 64);
  const spec: FilterSpec = { taskIds: ['t-rare-1'] };
  const sink = new FakeSink();
  const readsBefore = log.reads.length;
  const sub = hub.subscribe(spec, 0, sink);
  sub.start();
  await turns(3);
  assert.equal(sub.live, true);
  assert.deepEqual(sink.received, expected(log, spec));
  assert.ok(sink.received.length > 0 && sink.received.length < 512);
  assert.deepEqual(log.matchingReads, [[0, 20_000, 512]], 'one narrowed read to the head');
  assert.equal(log.reads.length, readsBefore, 'no whole pages read');
  assertClean(sink);
});

test('the position moves across what a narrowed read passed over: a bookmark after catch-up is the head, and resuming there repeats nothing', async () => {
  const { log, hub } = hubWith(randomEvents(seededRandom(3), 5000), 64);
  const spec: FilterSpec = { taskIds: ['t-rare-2'] };
  const sink = new FakeSink();
  const sub = hub.subscribe(spec, 0, sink);
  sub.start();
  await turns(3);
  const last = sink.received[sink.received.length - 1]!;
  assert.ok(last < 4900, `the last matching event (${last}) is well before the head`);
  sub.requestBookmark();
  assert.deepEqual(sink.bookmarks, [5000]);

  const resumed = new FakeSink();
  const again = hub.subscribe(spec, sink.bookmarks[0]!, resumed);
  again.start();
  await turns(2);
  hub.publish(log.append([{ taskId: 't-rare-2', eventType: 2 }]));
  assert.deepEqual(resumed.received, [5001]);
  assert.deepEqual(sink.received, [...expected(log, spec, 0, 5000), 5001]);
  assertClean(sink, resumed);
});

test('a bookmark while a narrowed page waits for a drain is at the last event delivered, never past what is still to come', async () => {
  const fields = range(1, 3000).map((n): EventFields => ({ taskId: n % 100 === 0 ? 'x' : 'bulk' }));
  const { hub } = hubWith(fields, 16);
  const sink = new FakeSink(2);
  const sub = hub.subscribe({ taskIds: ['x'] }, 0, sink);
  sub.start();
  assert.deepEqual(sink.received, [100, 200]);
  sub.requestBookmark(); // owed: the sink is full
  sink.drain();
  assert.deepEqual(sink.sent.slice(0, 3), [100, 200, 'b200']);
  await drainUntilLive(sub, sink);
  sub.requestBookmark();
  assert.deepEqual(sink.bookmarks, [200, 3000]);
  assert.deepEqual(
    sink.received,
    range(1, 30).map((n) => n * 100),
  );
  assertClean(sink);
});

test('setFilter while a narrowed page is held: the new filter reads on from the position, no gap, no repeat', async () => {
  const random = seededRandom(11);
  for (const [a, b] of [
    [{ taskIds: ['t-rare-1'] }, { assignee: 'alice' }],
    [{ assignee: 'alice' }, { taskIds: ['t-rare-2'] }],
    [{ eventTypes: [3] }, {}],
    [{}, { statuses: [9] }],
    [{ eventTypes: [2] }, { eventTypes: [5] }],
  ] as [FilterSpec, FilterSpec][]) {
    const { log, hub } = hubWith(randomEvents(random, 8000), 32);
    const sink = new FakeSink(2);
    const sub = hub.subscribe(a, 0, sink);
    sub.start();
    for (let i = 0; i < 3; i++) {
      sink.drain();
      await turns(1);
    }
    const switchedAt = sub.position;
    assert.ok(switchedAt > 0 && switchedAt < 8000, `${JSON.stringify(a)}: switched mid catch-up at ${switchedAt}`);
    sub.setFilter(compileFilter(b));
    await drainUntilLive(sub, sink);
    hub.publish(log.append(randomEvents(random, 200)));
    sink.capacity = Number.POSITIVE_INFINITY;
    await drainUntilLive(sub, sink);
    sink.drain();
    assert.deepEqual(sink.received, [...expected(log, a, 0, switchedAt), ...expected(log, b, switchedAt)], `${JSON.stringify(a)} -> ${JSON.stringify(b)}`);
    assertClean(sink);
  }
});

test('restartFrom on a narrowed subscriber replays from the new point through its narrowing', async () => {
  const { log, hub } = hubWith(randomEvents(seededRandom(5), 4000), 32);
  const spec: FilterSpec = { assignee: 'alice' };
  const sink = new FakeSink();
  const sub = hub.subscribe(spec, 0, sink);
  sub.start();
  await turns(3);
  const first = [...sink.received];
  assert.deepEqual(first, expected(log, spec));
  sub.restartFrom(2000);
  await turns(3);
  assert.deepEqual(sink.received, [...first, ...expected(log, spec, 2000)]);
  assertClean(sink);
});

test('compaction past a narrowed subscriber that is behind: out_of_range, never a skip', async () => {
  // Every fifth event is x: the first narrowed page (512 events) covers up to 2560.
  const fields = range(1, 4000).map((n): EventFields => ({ taskId: n % 5 === 0 ? 'x' : 'bulk' }));
  const { log, hub } = hubWith(fields, 16);
  const sink = new FakeSink(5);
  const sub = hub.subscribe({ taskIds: ['x'] }, 0, sink);
  sub.start();
  assert.deepEqual(sink.received, [5, 10, 15, 20, 25]);
  // The held page still has what it read; the compaction shows once a read starts past it.
  log.compact(3000);
  for (let i = 0; i < 2000 && sink.failures.length === 0; i++) {
    sink.drain();
    await turns(1);
  }
  assert.equal(sink.failures.length, 1);
  assert.ok(sink.failures[0] instanceof RiggerError && sink.failures[0].kind === 'out_of_range', String(sink.failures[0]));
  assert.match(sink.failures[0]!.message, /the oldest event still available is 3000/);
  // What it got is a gap-free prefix of its events.
  assert.deepEqual(
    sink.received,
    range(1, 512).map((n) => n * 5),
    'the held page, then nothing',
  );
  assert.equal(hub.subscriberCount, 0);
  assertClean(sink);
});

test('compaction of a stretch a narrowed read would skip over (nothing matching in it) is out_of_range too', async () => {
  const fields = range(1, 3000).map((n): EventFields => ({ taskId: n === 2500 ? 'x' : 'bulk' }));
  const { log, hub } = hubWith(fields, 16);
  log.compact(100);
  const sink = new FakeSink();
  assert.throws(
    () => hub.subscribe({ taskIds: ['x'] }, 0, sink),
    (e: unknown) => e instanceof RiggerError && e.kind === 'out_of_range',
  );
  // Resumable at subscribe, compacted before the first read: the read's own check catches it.
  const late = hub.subscribe({ taskIds: ['x'] }, 99, sink);
  log.compact(200);
  late.start();
  assert.equal(sink.failures.length, 1);
  assert.equal(sink.failures[0]!.kind, 'out_of_range');
  assert.deepEqual(sink.received, []);
  assertClean(sink);
});
