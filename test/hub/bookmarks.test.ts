// Bookmarks through the real server and a grpc-js client: opt-in per stream (bookmark_interval_ms),
// sent when the stream is idle (the heartbeat) and while events its filter skips go by, in order
// with its events, never ahead of what it delivered; a TaskEventStream BookmarkRequest is answered
// in order; none are sent to a stream that did not ask; bad intervals are INVALID_ARGUMENT.
import * as grpc from '@grpc/grpc-js';
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { SubscribeToTaskEventsRequest } from '../../src/generated/rigger/v1/SubscribeToTaskEventsRequest';
import { call, connect, streamLifecycle, type RiggerServiceClient } from '../support/client';
import { startServer, tempProject, waitFor } from '../support/processes';
import { inParallel } from './hub-support';

const BOOKMARK = 8;

interface Message {
  /** ms since the collector started */
  at: number;
  type: number;
  sequence: number;
  taskId: string | undefined;
}

interface Collector {
  messages: Message[];
  bookmarks(): Message[];
  events(): Message[];
  ended: Promise<grpc.ServiceError | undefined>;
  ready: Promise<void>;
  cancel(): void;
}

function collect(stream: grpc.ClientReadableStream<unknown> | grpc.ClientDuplexStream<unknown, unknown>, t0 = Date.now()): Collector {
  const messages: Message[] = [];
  stream.on('data', (e: any) => messages.push({ at: Date.now() - t0, type: e.event_type, sequence: Number(e.sequence), taskId: e.task?.id }));
  return {
    messages,
    bookmarks: () => messages.filter((m) => m.type === BOOKMARK),
    events: () => messages.filter((m) => m.type !== BOOKMARK),
    ...streamLifecycle(stream),
  };
}

function subscribe(client: RiggerServiceClient, request: SubscribeToTaskEventsRequest, t0?: number): Collector {
  return collect(client.SubscribeToTaskEvents(request), t0);
}

/** Bookmarks and events interleave in order: nothing goes backwards, and no event comes after a bookmark that claimed it. */
function assertInOrder(messages: Message[], what: string): void {
  let claimed = 0;
  let lastEvent = 0;
  for (const m of messages) {
    if (m.type === BOOKMARK) {
      assert.ok(m.sequence >= claimed, `${what}: bookmark ${m.sequence} after bookmark ${claimed} went backwards`);
      assert.ok(m.sequence >= lastEvent, `${what}: bookmark ${m.sequence} came after event ${lastEvent} it does not cover`);
      claimed = m.sequence;
    } else {
      assert.ok(m.sequence > claimed, `${what}: event ${m.sequence} came after bookmark ${claimed} had claimed it`);
      assert.ok(m.sequence > lastEvent, `${what}: event ${m.sequence} after ${lastEvent}`);
      lastEvent = m.sequence;
    }
  }
}

/** A stream that matches nothing, asking for bookmarks every 100 ms: the server's own clock, for "none in N intervals". */
function serverClock(client: RiggerServiceClient): { ready: Promise<void>; ticks(n: number): Promise<void>; cancel(): void } {
  const clock = subscribe(client, { task_ids: ['no-such-task'], bookmark_interval_ms: 100 });
  return {
    ready: clock.ready,
    ticks: async (n) => {
      const from = clock.bookmarks().length;
      await waitFor(() => clock.bookmarks().length >= from + n, 10_000, `${n} ticks of the server's 100 ms bookmark clock`);
    },
    cancel: () => clock.cancel(),
  };
}

const addTask = async (client: RiggerServiceClient, title: string, extra: object = {}) =>
  (await call(client, 'AddTask', { title, ...extra })).task.id as string;

test('an idle stream that asked gets a bookmark every interval at the head; one that did not ask gets none', { timeout: 60_000 }, async () => {
  const server = await startServer(tempProject());
  const client = connect(server.address);
  try {
    for (let i = 0; i < 3; i++) await addTask(client, `t${i}`);
    const asked = subscribe(client, { bookmark_interval_ms: 200 });
    const plain = subscribe(client, {});
    const zero = subscribe(client, { bookmark_interval_ms: 0 });
    await Promise.all([asked.ready, plain.ready, zero.ready]);
    // Five heartbeats, each an interval after the last (so not more often than asked) and within 500 ms of it.
    await waitFor(() => asked.bookmarks().length >= 5, 10_000, 'five idle bookmarks');
    const idle = asked.bookmarks();
    assert.deepEqual([...new Set(idle.map((b) => b.sequence))], [3], 'each one at the head');
    for (let i = 1; i < idle.length; i++) {
      const gap = idle[i]!.at - idle[i - 1]!.at;
      assert.ok(gap >= 150 && gap <= 500, `gap between idle bookmarks ${gap} ms`);
    }
    assert.equal(plain.messages.length, 0, 'nothing at all to the stream that did not ask');
    assert.equal(zero.messages.length, 0, 'bookmark_interval_ms 0 is no bookmarks');

    await addTask(client, 'after');
    await waitFor(() => asked.bookmarks().some((b) => b.sequence === 4), 5000, 'a bookmark at the new head');
    assertInOrder(asked.messages, 'asked');
    assert.deepEqual(
      asked.events().map((e) => e.sequence),
      [4],
    );
    await waitFor(() => plain.messages.length === 1, 5000, 'the event on the plain stream');
    // Two more heartbeats of the stream that asked: two intervals on the server's clock, idle at the head.
    const beats = asked.bookmarks().length;
    await waitFor(() => asked.bookmarks().length >= beats + 2, 5000, 'two more heartbeats');
    assert.deepEqual(
      plain.messages.map((m) => [m.type, m.sequence]),
      [[1, 4]],
      'the plain stream: the event only',
    );
    assert.deepEqual(
      zero.messages.map((m) => [m.type, m.sequence]),
      [[1, 4]],
    );
    for (const c of [asked, plain, zero]) c.cancel();
  } finally {
    client.close();
    await server.stop();
  }
});

test(
  'filtered on one task while 10,000 other events go by: bookmarks keep within an interval of the head, in order with its events',
  { timeout: 120_000 },
  async (t) => {
    const server = await startServer(tempProject());
    const client = connect(server.address);
    const INTERVAL = 200;
    try {
      const watched = await addTask(client, 'watched');
      const t0 = Date.now();
      const filtered = subscribe(client, { task_ids: [watched], bookmark_interval_ms: INTERVAL }, t0);
      // Every event, to know when the head reached which sequence (as a client saw it).
      const all = subscribe(client, {}, t0);
      await Promise.all([filtered.ready, all.ready]);
      const started = Date.now() - t0;
      await inParallel(
        Array.from({ length: 10_000 }, (_, i) => i),
        48,
        async (i) => {
          await addTask(client, `other ${i}`);
          // The watched task changes now and then among them: its events interleave with the bookmarks.
          if (i % 2500 === 1250) await call(client, 'UpdateTask', { task_id: watched, status: 2 + (i % 3) });
        },
      );
      const finished = Date.now() - t0;
      const head = 1 + 10_000 + 4 * 2; // CREATED, the others, and UPDATED + STATUS_CHANGED four times
      await waitFor(() => all.messages.at(-1)?.sequence === head, 30_000, 'every event on the unfiltered stream');
      assert.equal(all.messages.length, head - 1, 'the unfiltered stream: every event after the first');
      await waitFor(() => filtered.bookmarks().at(-1)?.sequence === head, 3 * INTERVAL + 2000, 'a bookmark at the final head');
      t.diagnostic(`10,000 events in ${finished - started} ms; ${filtered.bookmarks().length} bookmarks`);

      assertInOrder(filtered.messages, 'filtered');
      assert.deepEqual(
        filtered.events().map((e) => e.taskId),
        Array(8).fill(watched),
        "exactly the watched task's 8 events (UPDATED + STATUS_CHANGED four times)",
      );
      const during = filtered.bookmarks().filter((b) => b.at > started + INTERVAL && b.at < finished);
      // The mechanism, not the machine's latency: a stall of the loaded test machine may delay some ticks
      // (no bookmark at all would mean the filter's silence hid the head), so half the intervals count.
      const expectedCount = Math.floor((finished - started) / INTERVAL / 2) - 1;
      assert.ok(during.length >= expectedCount, `${during.length} bookmarks during the ${finished - started} ms burst; expected at least ${expectedCount}`);
      // The head as the unfiltered client had seen it at a given moment.
      const headAt = (at: number) => {
        let seen = 0;
        for (const m of all.messages) if (m.at <= at) seen = m.sequence;
        return seen;
      };
      const SLACK_MS = 300; // two loaded processes' event loops between the server's clock and these arrival times
      const STALL_MS = 1000; // the longest pause of either event loop (GC, a page of the log) the gaps allow
      for (const b of filtered.bookmarks()) {
        const behind = headAt(b.at - INTERVAL - SLACK_MS);
        assert.ok(
          b.sequence >= behind,
          `bookmark ${b.sequence} at ${b.at} ms is more than one interval behind the head (${behind} was seen ${INTERVAL + SLACK_MS} ms earlier)`,
        );
      }
      for (let i = 1; i < during.length; i++) {
        const gap = during[i]!.at - during[i - 1]!.at;
        assert.ok(gap <= INTERVAL + STALL_MS, `${gap} ms between bookmarks during the burst`);
      }

      // Catching up from the log with the same filter: bookmarks never claim past what it looked at.
      const catchingUp = subscribe(client, { task_ids: [watched], since_sequence: 0, bookmark_interval_ms: 100 });
      await waitFor(() => catchingUp.bookmarks().at(-1)?.sequence === head, 5000, 'the catching-up stream reaching the head');
      assertInOrder(catchingUp.messages, 'catching up');
      assert.deepEqual(
        catchingUp.events().map((e) => e.sequence),
        [1, ...filtered.events().map((e) => e.sequence)],
        'its CREATED, then the same 8 events',
      );
      for (const c of [filtered, all, catchingUp]) c.cancel();
    } finally {
      client.close();
      await server.stop();
    }
  },
);

test('TaskEventStream: a BookmarkRequest is answered in order; a later subscribe turns bookmarks on and off', { timeout: 60_000 }, async () => {
  const server = await startServer(tempProject());
  const client = connect(server.address);
  try {
    const task = await addTask(client, 'x', { assignee: 'Alice' });
    await addTask(client, 'y');
    const clock = serverClock(client);
    await clock.ready;
    const stream = client.TaskEventStream();
    const got = collect(stream);
    stream.write({ subscribe: { assignee_filter: 'Alice' } });
    await got.ready;
    stream.write({ bookmark: {} });
    await waitFor(() => got.messages.length === 1, 5000, 'the first bookmark');
    assert.deepEqual(
      got.messages.map((m) => [m.type, m.sequence]),
      [[BOOKMARK, 2]],
      "at the head, past the other task's event its filter skipped",
    );
    // The update's events are sent before the bookmark asked for right after it.
    stream.write({ update: { task_id: task, status: 2 } });
    stream.write({ bookmark: {} });
    stream.write({ update: { task_id: task, assignee: 'Bob' } });
    stream.write({ bookmark: {} });
    await waitFor(() => got.messages.length === 1 + 3 + 3, 5000, 'two updates and two bookmarks');
    assert.deepEqual(
      got.messages.map((m) => [m.type, m.sequence]),
      [
        [BOOKMARK, 2],
        [2, 3],
        [4, 4],
        [BOOKMARK, 4],
        [2, 5],
        [5, 6],
        [BOOKMARK, 6],
      ],
    );
    await clock.ticks(5);
    assert.equal(got.messages.length, 7, 'no bookmarks beyond those asked for in five 100 ms ticks (no interval set)');

    stream.write({ subscribe: { assignee_filter: 'Alice', bookmark_interval_ms: 100 } });
    await waitFor(() => got.bookmarks().length >= 3 + 3, 3000, 'bookmarks every 100 ms after the second subscribe');
    stream.write({ subscribe: { assignee_filter: 'Alice' } });
    await clock.ticks(2); // the subscribe has reached the server
    const count = got.messages.length;
    await clock.ticks(5);
    assert.equal(got.messages.length, count, 'no more bookmarks in five 100 ms ticks after a subscribe without an interval');
    clock.cancel();
    assertInOrder(got.messages, 'bidi');
    assert.equal(
      new Set(
        got
          .bookmarks()
          .slice(3)
          .map((b) => b.sequence),
      ).size,
      1,
    );
    assert.equal(got.bookmarks().at(-1)!.sequence, 6);

    // A later subscribe may not ask for a snapshot; the stream ends with INVALID_ARGUMENT.
    stream.write({ subscribe: { include_snapshot: true } });
    const ended = await got.ended;
    assert.equal(ended?.code, grpc.status.INVALID_ARGUMENT);
    assert.match(ended!.details, /include_snapshot is accepted on the first subscribe/);

    const early = client.TaskEventStream();
    const earlyGot = collect(early);
    early.write({ bookmark: {} });
    const earlyEnd = await earlyGot.ended;
    assert.equal(earlyEnd?.code, grpc.status.FAILED_PRECONDITION);
    assert.match(earlyEnd!.details, /bookmark before the first subscribe/);
  } finally {
    client.close();
    await server.stop();
  }
});

test('bookmark_interval_ms outside 100 ms - 1 h, and stream message types in event_types, are INVALID_ARGUMENT', { timeout: 60_000 }, async () => {
  const server = await startServer(tempProject());
  const client = connect(server.address);
  try {
    const refused = async (request: SubscribeToTaskEventsRequest, pattern: RegExp) => {
      const error = await subscribe(client, request).ended;
      assert.equal(error?.code, grpc.status.INVALID_ARGUMENT, `${JSON.stringify(request)}: ${error?.details}`);
      assert.match(error!.details, pattern);
    };
    await refused({ bookmark_interval_ms: 99 }, /bookmark_interval_ms 99 is below the minimum of 100 ms/);
    await refused({ bookmark_interval_ms: 1 }, /bookmark_interval_ms 1 is below the minimum of 100/);
    await refused({ bookmark_interval_ms: 3_600_001 }, /bookmark_interval_ms 3600001 is above the maximum of 3600000 ms/);
    await refused({ event_types: [8] }, /event_types contains TASK_EVENT_TYPE_BOOKMARK, which is a stream message/);
    await refused({ event_types: [1, 9] }, /TASK_EVENT_TYPE_SNAPSHOT, which is a stream message/);
    await refused({ event_types: [11 as 1] }, /event_types contains 11, which is not an event type/);

    const bidi = client.TaskEventStream();
    const got = collect(bidi);
    bidi.write({ subscribe: { bookmark_interval_ms: 50 } });
    const ended = await got.ended;
    assert.equal(ended?.code, grpc.status.INVALID_ARGUMENT);
    assert.match(ended!.details, /bookmark_interval_ms 50 is below the minimum of 100 ms/);

    // The limits themselves are accepted.
    const lowest = subscribe(client, { bookmark_interval_ms: 100 });
    const highest = subscribe(client, { bookmark_interval_ms: 3_600_000 });
    await Promise.all([lowest.ready, highest.ready]);
    await waitFor(() => lowest.bookmarks().length >= 2, 3000, 'bookmarks at the minimum interval');
    assert.equal(highest.messages.length, 0);
    lowest.cancel();
    highest.cancel();
  } finally {
    client.close();
    await server.stop();
  }
});
