// Bookmarks and snapshots in the hub itself, over the in-memory log and sinks the test drains
// (memory-log.ts): a bookmark is written after everything sent before it and never to a full
// sink, its sequence never passes what the cursor has looked at (live, from the ring, from the
// log), a snapshot goes out before any event and a bookmark asked for meanwhile waits for its
// marker; the timer sends nothing to a stream that did not ask and stops when the stream ends.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { EventHub } from '../../src/hub/event-hub';
import type { SnapshotSource } from '../../src/hub/subscription';
import { RiggerError } from '../../src/model/errors';
import type { LoggedEvent } from '../../src/model/logged-event';
import { waitFor } from '../support/processes';
import { FakeSink, MemoryLog, range, turns, type EventFields } from './memory-log';

function hubWith(count: number, bufferSize: number): { log: MemoryLog; hub: EventHub } {
  const log = new MemoryLog();
  log.append(count);
  return { log, hub: new EventHub(log, bufferSize) };
}

function commit(log: MemoryLog, hub: EventHub, what: number | readonly EventFields[]): void {
  hub.publish(log.append(what));
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** A stream that matches nothing and asks for bookmarks every `intervalMs`: the hub's own clock, for "none in N intervals". */
function clockOn(hub: EventHub, intervalMs: number): { ticks(n: number): Promise<void>; stop(): void } {
  const sink = new FakeSink();
  const sub = hub.subscribe({ taskIds: ['no-such-task'] }, undefined, sink, { bookmarkIntervalMs: intervalMs });
  sub.start();
  return {
    ticks: async (n) => {
      const from = sink.bookmarks.length;
      await waitFor(() => sink.bookmarks.length >= from + n, 5000, `${n} ticks of the ${intervalMs} ms bookmark clock`);
    },
    stop: () => hub.unsubscribe(sub),
  };
}

/** Every bookmark is at least the previous one and covers every event sent before it; no event comes after a bookmark that claimed it. */
function assertOrdered(sink: FakeSink): void {
  let claimed = 0;
  let last = 0;
  for (const item of sink.sent) {
    if (typeof item === 'string') {
      const sequence = Number(item.slice(1));
      assert.ok(sequence >= claimed && sequence >= last, `bookmark ${sequence} after bookmark ${claimed} / event ${last}: ${sink.sent.join(' ')}`);
      claimed = sequence;
    } else {
      assert.ok(item > claimed || item === claimed, `event ${item} after bookmark ${claimed}: ${sink.sent.join(' ')}`);
      last = item;
    }
  }
  assert.deepEqual(sink.violations, []);
}

/** A snapshot of `count` entries at `sequence`, `perPage` to a page, then its marker (the fake sink reads sequences from the bytes). */
function fakeSnapshot(sequence: number, count: number, perPage: number): SnapshotSource & { closed: boolean; pagesRead: number } {
  const entry = (eventType: 9 | 10): LoggedEvent => ({
    sequence,
    eventType,
    taskId: 't',
    assignee: undefined,
    previousAssignee: undefined,
    status: 1,
    previousStatus: undefined,
    encoded: Buffer.from(String(sequence)),
  });
  let left = count;
  let markerSent = false;
  return {
    sequence,
    closed: false,
    pagesRead: 0,
    next() {
      this.pagesRead++;
      if (left > 0) {
        const n = Math.min(perPage, left);
        left -= n;
        return Array.from({ length: n }, () => entry(9));
      }
      if (!markerSent) {
        markerSent = true;
        return [entry(10)];
      }
      return undefined;
    },
    close() {
      this.closed = true;
    },
  };
}

test('a bookmark asked for while the sink is full waits for the drain, then comes before the events after it', () => {
  const { log, hub } = hubWith(0, 64);
  const sink = new FakeSink(2);
  const sub = hub.subscribe({}, undefined, sink);
  sub.start();
  commit(log, hub, 2); // fills the sink on 2
  assert.equal(sub.live, false);
  sub.requestBookmark();
  commit(log, hub, 3);
  assert.deepEqual(sink.sent, [1, 2], 'nothing written to the full sink');
  sink.capacity = Number.POSITIVE_INFINITY;
  sink.drain();
  assert.deepEqual(sink.sent, [1, 2, 'b2', 3, 4, 5], 'the bookmark at what was delivered when it was asked, then the rest');
  assert.equal(sub.live, true);
  sub.requestBookmark();
  assert.deepEqual(sink.sent.at(-1), 'b5');
  assertOrdered(sink);
});

test('a bookmark that fills the sink takes the stream off the live path like an event; it catches up and rejoins', async () => {
  const { log, hub } = hubWith(0, 64);
  const sink = new FakeSink(3);
  const sub = hub.subscribe({}, undefined, sink);
  sub.start();
  commit(log, hub, 2);
  sub.requestBookmark(); // the third message: fills the sink
  assert.equal(sub.live, false);
  commit(log, hub, 4);
  assert.deepEqual(sink.sent, [1, 2, 'b2']);
  for (let i = 0; i < 10 && !sub.live; i++) {
    sink.drain();
    await turns(1);
  }
  assert.equal(sub.live, true);
  assert.deepEqual(sink.received, range(1, 6));
  assertOrdered(sink);
});

test('catching up from the log under a filter that matches nothing: bookmarks never claim past what the cursor looked at', async () => {
  const { hub } = hubWith(10_000, 100); // the ring holds the last 100; the rest comes from the log
  const sink = new FakeSink();
  const sub = hub.subscribe({ taskIds: ['no-such-task'] }, 0, sink);
  sub.start(); // one turn's worth of the log, then it yields
  const looked = sub.position;
  assert.ok(looked > 0 && looked < 10_000, `position after one turn: ${looked}`);
  sub.requestBookmark();
  assert.deepEqual(sink.bookmarks, [looked], 'at the position, not at the head');
  for (let i = 0; i < 20 && !sub.live; i++) {
    await turns(1);
    sub.requestBookmark();
  }
  assert.equal(sub.live, true);
  sub.requestBookmark();
  assert.equal(sink.bookmarks.at(-1), 10_000);
  for (let i = 1; i < sink.bookmarks.length; i++)
    assert.ok(sink.bookmarks[i]! >= sink.bookmarks[i - 1]!, `bookmarks went backwards: ${sink.bookmarks.join(' ')}`);
  assert.deepEqual(sink.received, []);
  assertOrdered(sink);
});

test('timed bookmarks: every interval while idle and while unmatched events go by; none without asking; none after the stream ends', async () => {
  const { log, hub } = hubWith(5, 64);
  const asked = new FakeSink();
  const plain = new FakeSink();
  const subAsked = hub.subscribe({ taskIds: ['watched'] }, undefined, asked, { bookmarkIntervalMs: 40 });
  const subPlain = hub.subscribe({ taskIds: ['watched'] }, undefined, plain);
  const startedAt = Date.now();
  subAsked.start();
  subPlain.start();
  await waitFor(() => asked.bookmarks.length >= 3, 5000, 'three idle bookmarks');
  // Timers never fire early: three in less than three intervals would be bookmarks sent more often than asked.
  assert.ok(Date.now() - startedAt >= 3 * 40 - 5, `three idle bookmarks at 40 ms came in ${Date.now() - startedAt} ms`);
  assert.deepEqual([...new Set(asked.bookmarks)], [5]);

  // Unmatched events every 10 ms: the bookmarks follow the head, at least one per interval.
  const before = asked.bookmarks.length;
  for (let i = 0; i < 20; i++) {
    commit(log, hub, 1);
    if (i === 10) commit(log, hub, [{ taskId: 'watched' }]);
    await sleep(10);
  }
  await sleep(60);
  const moving = asked.bookmarks.slice(before);
  assert.ok(moving.length >= 3, `bookmarks while unmatched events went by: ${moving.join(' ')}`);
  assert.equal(asked.bookmarks.at(-1), 26, 'the last one at the head');
  assert.deepEqual(asked.received, [17], 'the one matching event');
  assertOrdered(asked);
  assert.deepEqual(plain.sent, [17], 'the stream that did not ask: its event and nothing else');

  const clock = clockOn(hub, 40);
  hub.unsubscribe(subAsked);
  const count = asked.sent.length;
  await clock.ticks(3);
  assert.equal(asked.sent.length, count, 'the timer stopped with the stream: nothing in three of its intervals');
  clock.stop();
  hub.unsubscribe(subPlain);
});

test('matching events more often than the interval, unmatched ones between them: bookmarks still carry the head at least once per interval', async () => {
  const { log, hub } = hubWith(0, 1024);
  const sink = new FakeSink();
  const sub = hub.subscribe({ taskIds: ['watched'] }, undefined, sink, { bookmarkIntervalMs: 50 });
  sub.start();
  const started = Date.now();
  // Never silent for an interval: a matching event every 15 ms, each followed by unmatched ones.
  while (Date.now() - started < 400) {
    commit(log, hub, [{ taskId: 'watched' }, {}, {}]);
    await sleep(15);
  }
  const elapsed = Date.now() - started;
  assert.ok(sink.bookmarks.length >= Math.floor(elapsed / 50) - 2, `${sink.bookmarks.length} bookmarks in ${elapsed} ms at 50 ms`);
  // Each one claims past the matching event before it: the unmatched events that followed it.
  for (let i = 0; i < sink.sent.length; i++) {
    const item = sink.sent[i]!;
    if (typeof item === 'string') assert.ok(Number(item.slice(1)) > (sink.sent[i - 1] as number), `${item} after ${sink.sent[i - 1]}`);
  }
  assertOrdered(sink);
  hub.unsubscribe(sub);
});

test('timed bookmarks are not written to a full sink; they resume after the drain', async () => {
  const { log, hub } = hubWith(0, 64);
  const sink = new FakeSink(1);
  const sub = hub.subscribe({}, undefined, sink, { bookmarkIntervalMs: 30 });
  sub.start();
  const clock = clockOn(hub, 30);
  commit(log, hub, 1); // full
  await clock.ticks(4);
  assert.deepEqual(sink.sent, [1], 'nothing while full, for four intervals');
  clock.stop();
  sink.capacity = Number.POSITIVE_INFINITY;
  sink.drain();
  await waitFor(() => sink.bookmarks.length >= 1, 5000, 'a bookmark once drained');
  assert.deepEqual([...new Set(sink.bookmarks)], [1]);
  assertOrdered(sink);
  hub.unsubscribe(sub);
});

test('a snapshot goes out before any event, its marker last; a bookmark asked for meanwhile follows the marker; the events start after its sequence', async () => {
  const { log, hub } = hubWith(10, 64);
  const sink = new FakeSink(5);
  const snapshot = fakeSnapshot(12, 7, 3); // at 12: ahead of what the hub has published (another process's commits)
  const sub = hub.subscribe({}, undefined, sink, { snapshot });
  assert.equal(sub.position, 12);
  sub.start();
  assert.deepEqual(sink.sent, [12, 12, 12, 12, 12], 'full after five entries');
  sub.requestBookmark();
  commit(log, hub, 4); // 11..14; 11 and 12 are in the snapshot already
  for (let i = 0; i < 10 && !sub.live; i++) {
    sink.drain();
    await turns(1);
  }
  assert.equal(sub.live, true);
  assert.deepEqual(sink.sent, [...Array(7).fill(12), 12, 'b12', 13, 14], 'entries, marker, the bookmark asked for, then 13 on');
  assert.equal(snapshot.closed, true);
  commit(log, hub, 1);
  assert.deepEqual(sink.received.slice(-3), [13, 14, 15]);
  assertOrdered(sink);
});

test('a resume (restartFrom) while a snapshot is going out ends the snapshot there; a bookmark owed is still answered, after the restart point', async () => {
  const { hub } = hubWith(10, 64);
  const sink = new FakeSink(4);
  const snapshot = fakeSnapshot(10, 50, 5);
  const sub = hub.subscribe({}, undefined, sink, { snapshot });
  sub.start();
  sub.requestBookmark(); // owed: the sink is full, and the snapshot is not out
  sub.restartFrom(6);
  assert.equal(snapshot.closed, true);
  sink.capacity = Number.POSITIVE_INFINITY;
  sink.drain();
  await turns(2);
  assert.deepEqual(sink.sent, [10, 10, 10, 10, 'b6', 7, 8, 9, 10], 'four entries, then the bookmark at the new position, then 7 on');
  assert.equal(sub.live, true);
  assert.deepEqual(sink.violations, []); // a resume rewinds the stream, its bookmarks with it (not assertOrdered)
});

test('a snapshot that cannot go on ends the stream with its error; one cut short by the stream ending is closed', async () => {
  const { hub } = hubWith(3, 64);
  const failing: SnapshotSource = {
    sequence: 3,
    next: () => {
      throw new RiggerError('unavailable', 'compacted away while it was read');
    },
    close: () => {},
  };
  const sink = new FakeSink();
  const sub = hub.subscribe({}, undefined, sink, { snapshot: failing });
  sub.start();
  assert.equal(sink.failures[0]?.kind, 'unavailable');
  assert.equal(hub.subscriberCount, 0);

  const slow = fakeSnapshot(3, 100, 10);
  const full = new FakeSink(1);
  const cut = hub.subscribe({}, undefined, full, { snapshot: slow });
  cut.start();
  hub.unsubscribe(cut);
  assert.equal(slow.closed, true);
  await turns(2);
  assert.throws(() => hub.subscribe({}, 1, new FakeSink(), { snapshot: fakeSnapshot(3, 1, 1) }), /takes no since_sequence/);
});
