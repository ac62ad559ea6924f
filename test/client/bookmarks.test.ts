// The typed client's bookmarks and snapshots against the real server (and, for a stream cut off
// mid-snapshot, a stand-in server that cuts it on cue): bookmarks move the position and the
// checkpoint but never reach next() or the iterator's loop; a snapshot arrives as SNAPSHOT events
// between 'started' and 'complete' markers, a reconnect after it resumes from its position, a
// stream lost during it starts a new one.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import { RiggerClient, TaskEventType, type SnapshotMarker, type TaskEvent } from '../../src/client/index';
import type { SubscribeToTaskEventsRequest__Output } from '../../src/generated/rigger/v1/SubscribeToTaskEventsRequest';
import { loadProto } from '../../src/protocol/proto';
import { restartServer } from '../sidecars/sidecar-support';
import { addTaskToFile } from '../support/project-writes';
import { startServer, tempDir, tempProject, waitFor } from '../support/processes';

const INTERVAL_MS = 200;
const readNumber = (file: string): number | undefined => (fs.existsSync(file) ? Number(fs.readFileSync(file, 'utf8').trim().split(' ')[0]) : undefined);

test('a filtered subscription: bookmarks move the checkpoint to the head, reach onBookmark in order, never next() (Observable and iterator)', async () => {
  const dir = tempProject();
  const server = await startServer(dir);
  const client = new RiggerClient({ address: server.address });
  const folder = tempDir();
  const observed: TaskEvent[] = [];
  const observedBookmarks: number[] = [];
  const observable = client
    .subscribe({
      eventTypes: ['deleted'],
      sinceSequence: 0,
      bookmarkIntervalMs: INTERVAL_MS,
      checkpoint: path.join(folder, 'observable'),
      onBookmark: (s) => observedBookmarks.push(s),
    })
    .subscribe({ next: (event) => observed.push(event) });
  const iterated: TaskEvent[] = [];
  const iteratedBookmarks: number[] = [];
  const iterator = client.events({
    eventTypes: ['deleted'],
    sinceSequence: 0,
    bookmarkIntervalMs: INTERVAL_MS,
    checkpoint: path.join(folder, 'iterator'),
    onBookmark: (s) => iteratedBookmarks.push(s),
  });
  const loop = (async () => {
    for await (const event of iterator) iterated.push(event);
  })();
  try {
    const first = await client.addTask({ title: 'to delete' }); // 1
    for (let i = 0; i < 40; i++) await client.addTask({ title: `other ${i}` }); // 2..41
    // A bookmark at 41 before the DELETED event, on both feeds.
    await waitFor(() => observedBookmarks.includes(41) && iteratedBookmarks.includes(41), INTERVAL_MS * 20, 'a bookmark at 41 on both feeds');
    await client.deleteTask({ task_id: first.task!.id! }); // 42: DELETED
    for (let i = 0; i < 20; i++) await client.addTask({ title: `more ${i}` }); // 43..62
    for (const name of ['observable', 'iterator']) {
      await waitFor(
        () => readNumber(path.join(folder, name)) === 62,
        INTERVAL_MS * 10,
        `${name} checkpoint at the head 62, have ${readNumber(path.join(folder, name))}`,
      );
    }
    for (const [what, events, bookmarks] of [
      ['observable', observed, observedBookmarks],
      ['iterator', iterated, iteratedBookmarks],
    ] as const) {
      assert.deepEqual(
        events.map((e) => [e.sequence, e.event_type]),
        [[42, TaskEventType.DELETED]],
        `${what}: only the DELETED event, no bookmark`,
      );
      assert.ok(bookmarks.length > 0 && bookmarks.at(-1) === 62, `${what}: bookmarks ${JSON.stringify(bookmarks)}`);
      assert.deepEqual(
        [...bookmarks].sort((a, b) => a - b),
        bookmarks,
        `${what}: bookmarks in order`,
      );
      assert.ok(bookmarks.some((s) => s < 42) && bookmarks.some((s) => s > 42), `${what}: bookmarks on both sides of the event: ${JSON.stringify(bookmarks)}`);
    }
  } finally {
    observable.unsubscribe();
    await iterator.return!();
    await loop;
    await client.close();
    await server.stop();
  }
});

test('includeSnapshot: SNAPSHOT events between started/complete, checkpoint at S, a server restart resumes from the position with no new snapshot', async () => {
  const dir = tempProject();
  for (let i = 1; i <= 5; i++) addTaskToFile(dir, `existing ${i}`, i % 2 ? 'Alice' : 'Bob'); // 1..5
  let server = await startServer(dir);
  const client = new RiggerClient({ address: server.address });
  const checkpoint = path.join(tempDir(), 'snapshot.checkpoint');
  const seen: (TaskEvent | SnapshotMarker)[] = [];
  const bookmarks: { sequence: number; at: number }[] = [];
  const subscription = client
    .subscribe({
      includeSnapshot: true,
      assignee: 'Alice',
      checkpoint,
      bookmarkIntervalMs: INTERVAL_MS,
      onSnapshot: (marker) => seen.push(marker),
      onBookmark: (sequence) => bookmarks.push({ sequence, at: Date.now() }),
    })
    .subscribe({ next: (event) => seen.push(event) });
  const kinds = () =>
    seen.map((item) => ('state' in item ? item.state : `${TaskEventType.SNAPSHOT === item.event_type ? 'SNAPSHOT' : item.event_type}:${item.sequence}`));
  try {
    await waitFor(() => seen.some((item) => 'state' in item && item.state === 'complete'), 10_000, 'snapshot complete');
    assert.deepEqual(kinds(), ['started', 'SNAPSHOT:5', 'SNAPSHOT:5', 'SNAPSHOT:5', 'complete']);
    assert.deepEqual(seen.at(-1), { state: 'complete', sequence: 5, tasks: 3 });
    assert.deepEqual((seen.slice(1, 4) as TaskEvent[]).map((e) => e.task.title).sort(), ['existing 1', 'existing 3', 'existing 5']);
    assert.ok((seen[0] as SnapshotMarker).state === 'started' && !(seen[0] as { restart: boolean }).restart);
    await waitFor(() => readNumber(checkpoint) === 5, 5_000, 'checkpoint at the snapshot sequence');

    await client.addTask({ title: 'new for Alice', assignee: 'Alice' }); // 6
    await waitFor(() => seen.length === 6, 5_000, 'the change after the snapshot');
    server.child.kill('SIGKILL');
    await waitFor(() => server.child.signalCode !== null, 5_000, 'server death');
    addTaskToFile(dir, 'while down', 'Alice'); // 7
    server = await restartServer(server);
    await waitFor(() => seen.length === 7, 15_000, 'the change made while the server was down');
    // A bookmark at 7 after it: anything the resumed stream sent before it (a second snapshot, a repeat) has arrived.
    const seventhAt = Date.now();
    await waitFor(() => bookmarks.some((b) => b.sequence >= 7 && b.at >= seventhAt), INTERVAL_MS * 20, 'a bookmark at 7 after the resume');
    assert.deepEqual(kinds().slice(5), ['1:6', '1:7'], 'resumed after 6: no second snapshot, nothing repeated');
    await waitFor(() => readNumber(checkpoint) === 7, 5_000, 'checkpoint at 7');
  } finally {
    subscription.unsubscribe();
    await client.close();
    await server.stop();
  }
  // A new subscription with that checkpoint resumes from it: no snapshot.
  server = await startServer(dir);
  const again = new RiggerClient({ address: server.address });
  const markers: SnapshotMarker[] = [];
  const later: TaskEvent[] = [];
  const resumed = again
    .subscribe({ includeSnapshot: true, assignee: 'Alice', checkpoint, onSnapshot: (m) => markers.push(m) })
    .subscribe({ next: (e) => later.push(e) });
  try {
    await again.addTask({ title: 'after the restart', assignee: 'Alice' }); // 8
    await waitFor(() => later.length === 1, 10_000, 'the next change');
    assert.deepEqual([later[0]!.sequence, markers], [8, []]);
  } finally {
    resumed.unsubscribe();
    await again.close();
    await server.stop();
  }
});

test('includeSnapshot with sinceSequence is refused before anything is sent', async () => {
  const client = new RiggerClient({ address: '127.0.0.1:1' });
  const error = await new Promise<unknown>((resolve) => client.subscribe({ includeSnapshot: true, sinceSequence: 3 }).subscribe({ error: resolve }));
  assert.match(String(error), /includeSnapshot .* sinceSequence/);
  await client.close();
});

/** A stand-in server: the first stream sends 2 snapshot entries and fails; the second a full snapshot and one event, then fails; the third stays open. */
async function cuttingServer(): Promise<{ address: string; requests: SubscribeToTaskEventsRequest__Output[]; close(): void }> {
  const server = new grpc.Server();
  const requests: SubscribeToTaskEventsRequest__Output[] = [];
  const task = (id: string) => ({
    id,
    title: id,
    status: 1,
    subtask_ids: [],
    created_at: '2026-01-01T00:00:00Z',
    updated_at: '2026-01-01T00:00:00Z',
    context_files: [],
    dependencies: [],
    version: 1,
  });
  const message = (sequence: number, event_type: number, withTask?: string) => ({
    sequence,
    event_id: '',
    timestamp: '2026-01-01T00:00:00Z',
    event_type,
    metadata: {},
    changed_fields: [],
    ...(withTask && { task: task(withTask) }),
  });
  const { grpcObject } = loadProto();
  server.addService(grpcObject.rigger.v1.RiggerService.service, {
    SubscribeToTaskEvents: (call: grpc.ServerWritableStream<SubscribeToTaskEventsRequest__Output, unknown>) => {
      requests.push(call.request);
      call.sendMetadata(new grpc.Metadata());
      const unavailable = () => call.emit('error', { code: grpc.status.UNAVAILABLE, details: 'cut' });
      if (requests.length === 1) {
        call.write(message(10, TaskEventType.SNAPSHOT, 'a'));
        call.write(message(10, TaskEventType.SNAPSHOT, 'b'));
        setTimeout(unavailable, 50);
      } else if (requests.length === 2) {
        for (const id of ['a', 'b', 'c']) call.write(message(11, TaskEventType.SNAPSHOT, id));
        call.write(message(11, TaskEventType.SNAPSHOT_COMPLETE));
        call.write({ ...message(12, TaskEventType.CREATED, 'd') });
        call.write(message(12, TaskEventType.BOOKMARK));
        setTimeout(unavailable, 50);
      }
    },
  } as unknown as grpc.UntypedServiceImplementation);
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (error, bound) => (error ? reject(error) : resolve(bound))),
  );
  return { address: `127.0.0.1:${port}`, requests, close: () => server.forceShutdown() };
}

test('a stream lost mid-snapshot starts a new snapshot (restart: true); one lost after it resumes from its position (iterator)', async () => {
  const stand = await cuttingServer();
  const client = new RiggerClient({ address: stand.address });
  const seen: string[] = [];
  const iterator = client.events({
    includeSnapshot: true,
    backoff: { initialDelayMs: 20, maxDelayMs: 40 },
    onSnapshot: (m) => seen.push(m.state === 'started' ? `started${m.restart ? ' again' : ''}` : `complete ${m.sequence} (${m.tasks})`),
  });
  const loop = (async () => {
    for await (const event of iterator) seen.push(`${event.event_type === TaskEventType.SNAPSHOT ? 'SNAPSHOT' : 'CREATED'} ${event.task.id}`);
  })();
  try {
    await waitFor(() => stand.requests.length === 3, 10_000, 'three streams');
    await waitFor(() => seen.length === 9, 5_000, `everything handed on: ${JSON.stringify(seen)}`);
    assert.deepEqual(seen, ['started', 'SNAPSHOT a', 'SNAPSHOT b', 'started again', 'SNAPSHOT a', 'SNAPSHOT b', 'SNAPSHOT c', 'complete 11 (3)', 'CREATED d']);
  } catch (error) {
    throw new Error(`${(error as Error).message}; seen ${JSON.stringify(seen)}`);
  } finally {
    await iterator.return!();
    await loop;
    await client.close();
    stand.close();
  }
  const asked = stand.requests.map((r) => [r.include_snapshot ?? false, r.since_sequence, r.bookmark_interval_ms]);
  assert.deepEqual(
    asked,
    [
      [true, undefined, 5000],
      [true, undefined, 5000],
      [false, 12, 5000],
    ],
    'snapshot twice, then resume after the bookmark at 12; bookmarks every 5 s by default',
  );
});
