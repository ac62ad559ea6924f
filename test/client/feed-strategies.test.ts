// The event feed and the consumer feed as strategies of the reconnect loop, in process over a fake
// service: what each stream asks for on reopen (the event feed's position and log, a new snapshot
// after one cut off, the parting point after a restore; the consumer's join), and what a lost
// consumer stream lets go of. Backoff 0: a reopen follows a loss on the next timer tick.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import { ConsumerFeed, type FeedDelivery } from '../../src/client/consumer-feed';
import { EventFeed, type FeedListener, type FeedSettings, type FeedStatus, type LogRestore, type SnapshotMarker } from '../../src/client/event-feed';
import type { RiggerServiceClient } from '../../src/generated/rigger/v1/RiggerService';
import type { SubscribeToTaskEventsRequest } from '../../src/generated/rigger/v1/SubscribeToTaskEventsRequest';
import { LOG_ID_HEADER, PARTED_AFTER_TRAILER, POSITION_HEADER } from '../../src/protocol/metadata';
import { TaskEventType, type TaskEvent } from '../../src/model/task';
import { FakeCall } from './fake-stream';

const LOG_A = '0123456789abcdef';
const LOG_B = 'fedcba9876543210';
const NO_WAIT = { initialDelayMs: 0, maxDelayMs: 0, multiplier: 2, maxAttempts: Number.POSITIVE_INFINITY };

/** A service whose calls are FakeCalls; its channel stays READY (a retry waits out its delay, here 0). */
function fakeService(): { service: RiggerServiceClient; calls: FakeCall[] } {
  const calls: FakeCall[] = [];
  const channel = { getConnectivityState: () => grpc.connectivityState.READY, watchConnectivityState: () => {} };
  const service = {
    SubscribeToTaskEvents: (request: unknown) => {
      const call = new FakeCall(request);
      calls.push(call);
      return call;
    },
    ConsumeTaskEvents: () => {
      const call = new FakeCall(undefined);
      calls.push(call);
      return call;
    },
    getChannel: () => channel,
  };
  return { service: service as unknown as RiggerServiceClient, calls };
}

function request(call: FakeCall): SubscribeToTaskEventsRequest {
  return call.request as SubscribeToTaskEventsRequest;
}

/** Waits (bounded: 200 timer ticks) until `count` calls are open. */
async function untilCalls(calls: FakeCall[], count: number): Promise<FakeCall> {
  for (let tick = 0; tick < 200 && calls.length < count; tick++) await new Promise((resolve) => setTimeout(resolve, 1));
  assert.equal(calls.length, count, `${count} calls opened`);
  return calls.at(-1)!;
}

function event(sequence: number, type: TaskEventType = TaskEventType.CREATED, logId = LOG_A): TaskEvent {
  return { sequence, event_type: type, log_id: logId, task: { id: `t${sequence}` } } as unknown as TaskEvent;
}

function eventFeed(settings: Partial<FeedSettings> = {}, startAfter?: { sequence: number; logId?: string }) {
  const { service, calls } = fakeService();
  const heard = {
    events: [] as number[],
    bookmarks: [] as number[],
    snapshots: [] as SnapshotMarker[],
    restores: [] as LogRestore[],
    statuses: [] as FeedStatus[],
    errors: [] as Error[],
  };
  const listener: FeedListener = {
    event: (e) => heard.events.push(e.sequence),
    bookmark: (sequence) => heard.bookmarks.push(sequence),
    snapshot: (marker) => heard.snapshots.push(marker),
    restored: (restore) => heard.restores.push(restore),
    status: (status) => heard.statuses.push(status),
    error: (error) => heard.errors.push(error),
  };
  const all = { event_types: [], statuses: [], task_ids: [] };
  const feed = new EventFeed(
    service,
    all,
    startAfter,
    { backoff: NO_WAIT, bookmarkIntervalMs: 1000, includeSnapshot: false, afterRestore: 'fail', ...settings },
    listener,
  );
  return { feed, calls, heard };
}

test('event feed: a live start learns its position from the headers, and each reopen asks from the last event or bookmark, with its log', async () => {
  const { feed, calls, heard } = eventFeed();
  feed.start();
  const first = calls[0]!;
  assert.equal(request(first).since_sequence, undefined, 'live: no position');
  assert.equal(request(first).bookmark_interval_ms, 1000);
  first.answer({ [POSITION_HEADER]: '10', [LOG_ID_HEADER]: LOG_A });
  first.send(event(11));
  first.send(event(11)); // a repeat: not handed on
  first.send(event(12, TaskEventType.BOOKMARK));
  first.fail(grpc.status.UNAVAILABLE, 'connection reset');
  const second = await untilCalls(calls, 2);
  assert.deepEqual([request(second).since_sequence, request(second).since_log_id], [12, LOG_A]);
  second.answer({ [LOG_ID_HEADER]: LOG_A });
  second.send(event(13));
  second.finish();
  const third = await untilCalls(calls, 3);
  assert.equal(request(third).since_sequence, 13);
  assert.deepEqual(heard.events, [11, 13]);
  assert.deepEqual(heard.bookmarks, [12]);
  assert.deepEqual(
    heard.statuses.map((s) => (s.state === 'connected' ? `connected ${s.position} ${s.reconnects}` : `${s.reason} ${s.attempt}`)),
    ['connected 10 0', 'ended 1', 'connected 12 1', 'ended 1'],
  );
  assert.deepEqual(feed.resumePosition, { sequence: 13, logId: LOG_A });
  feed.close();
});

test('event feed: a snapshot cut off before SNAPSHOT_COMPLETE is asked for again (restart: true); once complete, the feed resumes from it', async () => {
  const { feed, calls, heard } = eventFeed({ includeSnapshot: true });
  feed.start();
  calls[0]!.answer({ [LOG_ID_HEADER]: LOG_A });
  calls[0]!.send(event(5, TaskEventType.SNAPSHOT));
  calls[0]!.send(event(9, TaskEventType.BOOKMARK)); // inside a snapshot: no position yet
  calls[0]!.fail(grpc.status.UNAVAILABLE, 'connection reset');
  const second = await untilCalls(calls, 2);
  assert.equal(request(second).include_snapshot, true);
  assert.equal(request(second).since_sequence, undefined);
  second.answer({ [LOG_ID_HEADER]: LOG_A });
  second.send(event(5, TaskEventType.SNAPSHOT));
  second.send(event(20, TaskEventType.SNAPSHOT_COMPLETE));
  second.fail(grpc.status.UNAVAILABLE, 'connection reset');
  const third = await untilCalls(calls, 3);
  assert.equal(request(third).include_snapshot, undefined);
  assert.equal(request(third).since_sequence, 20);
  assert.deepEqual(heard.snapshots, [
    { state: 'started', restart: false },
    { state: 'started', restart: true },
    { state: 'complete', sequence: 20, tasks: 1 },
  ]);
  assert.deepEqual(heard.bookmarks, []);
  feed.close();
});

test("event feed: FAILED_PRECONDITION naming another log: 'continue' goes on from the parting point at once, 'fail' ends", async () => {
  const trailers = { [LOG_ID_HEADER]: LOG_B, [PARTED_AFTER_TRAILER]: '7' };
  const going = eventFeed({ afterRestore: 'continue' }, { sequence: 12, logId: LOG_A });
  going.feed.start();
  assert.deepEqual([request(going.calls[0]!).since_sequence, request(going.calls[0]!).since_log_id], [12, LOG_A]);
  going.calls[0]!.fail(grpc.status.FAILED_PRECONDITION, 'log restored', trailers);
  assert.equal(going.calls.length, 2, 'reopened at once, with no backoff');
  assert.deepEqual([request(going.calls[1]!).since_sequence, request(going.calls[1]!).since_log_id], [7, LOG_B]);
  assert.deepEqual(going.heard.restores, [{ position: { sequence: 12, logId: LOG_A }, logId: LOG_B, partedAfter: 7, message: 'log restored' }]);
  assert.equal(going.heard.statuses.length, 0);
  going.feed.close();

  const failing = eventFeed({ afterRestore: 'fail' }, { sequence: 12, logId: LOG_A });
  failing.feed.start();
  failing.calls[0]!.fail(grpc.status.FAILED_PRECONDITION, 'log restored', trailers);
  assert.equal(failing.heard.errors.length, 1);
  assert.equal((failing.heard.errors[0] as { code?: number }).code, grpc.status.FAILED_PRECONDITION);
  await new Promise((resolve) => setTimeout(resolve, 5));
  assert.equal(failing.calls.length, 1, 'never reopened');
});

// Every open sends the join; a lost stream rejects its unconfirmed acks, and its deliveries can no longer be settled.
test('consumer feed: a lost stream lets go of its acks and deliveries; a joined member leaves by half-closing', async () => {
  const { service, calls } = fakeService();
  const deliveries: FeedDelivery[] = [];
  const statuses: string[] = [];
  const feed = new ConsumerFeed(service, { name: 'c' }, NO_WAIT, {
    delivery: (delivery) => deliveries.push(delivery),
    error: (error) => assert.fail(error),
    status: (status) => statuses.push(status.state === 'connected' ? `connected ${status.reconnects}` : `disconnected ${status.attempt}`),
  });
  feed.start();
  const first = calls[0]!;
  assert.deepEqual(first.written, [{ join: { name: 'c' } }]);
  first.answer();
  first.send({ joined: { name: 'c' } });
  first.send({ delivery: { event: event(1), attempt: 1, delivery_id: 'd1' } });
  const ack = feed.ack(deliveries[0]!);
  assert.deepEqual(first.written.at(-1), { ack: { delivery_ids: ['d1'] } });
  first.fail(grpc.status.UNAVAILABLE, 'connection reset');
  await assert.rejects(ack, /lost before the server confirmed this ack/);
  assert.equal(feed.holds(deliveries[0]!), false);
  const second = await untilCalls(calls, 2);
  assert.deepEqual(second.written, [{ join: { name: 'c' } }]);
  second.send({ joined: { name: 'c' } });
  second.send({ delivery: { event: event(1), attempt: 2, delivery_id: 'd2' } });
  assert.equal(feed.holds(deliveries[0]!), false, 'the first delivery belongs to the lost membership');
  assert.equal(feed.holds(deliveries[1]!), true);
  const acked = feed.ack(deliveries[1]!);
  second.send({ acks_committed: { sequences: [1] } });
  await acked;
  feed.close();
  assert.equal(second.ended, true, 'left by half-closing the stream');
  assert.equal(second.cancels, 0, 'not cancelled while the server reads what was sent');
  assert.deepEqual(statuses, ['connected 0', 'disconnected 1', 'connected 1']);
});

test('consumer feed: OUT_OF_RANGE (a lost consumer) ends it without a retry; a member closed before joining has its call cancelled once answered', async () => {
  const { service, calls } = fakeService();
  const errors: Error[] = [];
  const feed = new ConsumerFeed(service, { name: 'c' }, NO_WAIT, { delivery: () => {}, error: (error) => errors.push(error) });
  feed.start();
  calls[0]!.fail(grpc.status.OUT_OF_RANGE, 'consumer "c" is lost');
  assert.equal(errors.length, 1);
  await new Promise((resolve) => setTimeout(resolve, 5));
  assert.equal(calls.length, 1);

  const other = fakeService();
  const early = new ConsumerFeed(other.service, { name: 'c' }, NO_WAIT, { delivery: () => {}, error: () => {} });
  early.start();
  early.close();
  assert.equal(other.calls[0]!.cancels, 0);
  other.calls[0]!.answer();
  assert.equal(other.calls[0]!.cancels, 1);
});
