// Catch-up through a subscriber's filter, through the real server, a grpc-js client and the real
// SQLite file: a project's log is prefilled through the store's own write path with a few matching
// events scattered among thousands of others, far behind the replay ring. A subscriber from 0 with a
// task-id, assignee (the filter exit included), event-type or status filter gets exactly the log's
// matching events in order, then live ones; its bookmarks report the head although its last event is
// far behind, and resuming there repeats nothing; a compaction while it is behind is OUT_OF_RANGE;
// a TaskEventStream that changes its filter mid-stream has no gap or repeat. Each filter read's
// query plan, and a file from before task keys, are filtered-catch-up-file.test.ts.
import * as grpc from '@grpc/grpc-js';
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { connectService } from '../../src/client/connect';
import { TaskStatus, type Task } from '../../src/model/task';
import { taskEventEncoder } from '../../src/protocol/event-codec';
import { openStore } from '../../src/store/store';
import { call } from '../support/client';
import { startServer, tempProject, waitFor } from '../support/processes';
import { addTasks, matches, readLog, sequences, sleep, type Filter } from './hub-support';
import { asRequest, collect, dbOf, expectedOf, expectStreams, subscribe, watch, withPrefilledServer } from './filtered-fixtures';

test(
  'from sequence 0, far behind the ring: task-id, assignee (with the exit), type and status filters get exactly their events in order, then live',
  { timeout: 120_000 },
  async () => {
    await withPrefilledServer(6000, async (dir, ids, client) => {
      const filters: [string, Filter][] = [
        ['one task', { task_ids: [ids.moved] }],
        ['two tasks', { task_ids: [ids.archived, ids.moved] }],
        ['assignee alice', { assignee_filter: 'alice' }],
        ['assignee bob', { assignee_filter: 'bob' }],
        ['DELETED', { event_types: [3] }],
        ['ASSIGNED by alice', { event_types: [5], assignee_filter: 'alice' }],
        ['COMPLETED', { statuses: [TaskStatus.COMPLETED] }],
        ['IN_PROGRESS, STATUS_CHANGED', { statuses: [TaskStatus.IN_PROGRESS], event_types: [4] }],
      ];
      const log = readLog(dir);
      assert.equal(log.length, ids.head);
      // The filter exit: alice's subscriber sees the change that takes the task to bob, and nothing of it after.
      const alice = expectedOf(log, { assignee_filter: 'alice' });
      assert.ok(alice.some((e) => e.task_id === ids.moved && e.assignee === 'bob' && e.previous_assignee === 'alice'));
      assert.ok(!alice.some((e) => e.task_id === ids.moved && e.status === TaskStatus.COMPLETED));

      for (const [name, filter] of filters) {
        const want = expectedOf(log, filter);
        assert.ok(want.length > 0 && want.length < 20, `${name}: a few scattered events (${want.length})`);
      }
      const streams = watch(client, filters);
      await expectStreams(streams, log, 'its history', 20_000);

      // Live: bob's task changes; alice's filter no longer sees it, bob's does.
      await call(client, 'UpdateTask', { task_id: ids.moved, status: TaskStatus.TODO });
      const added = (await call(client, 'AddTask', { title: 'alice again', assignee: 'alice' })).task as Task;
      const after = readLog(dir);
      assert.ok(after.length > log.length);
      await expectStreams(streams, after, 'after the live changes', 10_000);
      assert.ok(
        streams[2]!.c.events.some((e) => e.task_id === added.id),
        'alice gets her new task live',
      );
      for (const { c } of streams) c.cancel();
    });
  },
);

test(
  'bookmarks after a filtered catch-up report the head, past the stretch with nothing matching; resuming there repeats nothing',
  { timeout: 120_000 },
  async () => {
    await withPrefilledServer(5000, async (dir, ids, client) => {
      const log = readLog(dir);
      const filter: Filter = { task_ids: [ids.archived] };
      const want = expectedOf(log, filter);
      const lastMatching = want[want.length - 1]!.sequence;
      assert.ok(ids.head - lastMatching > 1000, 'its last event is far behind the head');

      const first = subscribe(client, { ...filter, since_sequence: 0, bookmark_interval_ms: 100 });
      await waitFor(() => first.bookmarks.length > 0, 10_000, 'a bookmark');
      assert.deepEqual(first.events, want);
      assert.equal(first.bookmarks[0], ids.head, 'the position moved across everything the filter skipped');
      first.cancel();

      // The same through TaskEventStream's BookmarkRequest, right after the subscribe.
      const bidi = client.TaskEventStream();
      const second = collect(bidi);
      bidi.write({ subscribe: asRequest({ ...filter, since_sequence: 0 }) });
      bidi.write({ bookmark: {} });
      await waitFor(() => second.bookmarks.length > 0, 10_000, 'the asked-for bookmark');
      assert.deepEqual(second.events, want, 'every event before the bookmark that covers it');
      assert.equal(second.bookmarks[0], ids.head);
      bidi.cancel();

      // Resuming at the bookmark: only what comes after it (the DELETED task changes once more).
      const resumed = subscribe(client, { task_ids: [ids.archived, ids.moved], since_sequence: first.bookmarks[0]! });
      await resumed.ready;
      await call(client, 'UpdateTask', { task_id: ids.moved, status: TaskStatus.TODO });
      const after = readLog(dir);
      const fresh = expectedOf(after, { task_ids: [ids.archived, ids.moved] }, ids.head);
      assert.ok(fresh.length > 0);
      await waitFor(() => resumed.events.length >= fresh.length, 10_000, 'the events after the bookmark');
      await sleep(50);
      assert.deepEqual(resumed.events, fresh);
      resumed.cancel();
    });
  },
);

test('a filtered subscriber behind when compaction overtakes it gets OUT_OF_RANGE, not a skip', { timeout: 180_000 }, async () => {
  const dir = tempProject();
  // One task with thousands of events among others, a fifth of the log (sparse enough to be read
  // through its index): its stream cannot take them all at once.
  const store = openStore(dbOf(dir), taskEventEncoder);
  let busy = '';
  try {
    store.tasks.write('prefill', (m) => (busy = m.createTask({ title: 'busy', assignee: 'carol' }).id));
    for (let round = 0; round < 14; round++) {
      store.tasks.write('prefill', (m) => {
        for (let i = 0; i < 150; i++) {
          m.updateTask(busy, { status: i % 2 === 0 ? TaskStatus.IN_PROGRESS : TaskStatus.TODO });
          for (let j = 0; j < 8; j++) m.createTask({ title: `bulk ${round}.${i}.${j}`, assignee: 'bulk' });
        }
      });
    }
  } finally {
    store.close();
  }
  const head = readLog(dir).length;
  const server = await startServer(dir, ['--retain-events', String(head + 200), '--compact-interval-ms', '50', '--buffer-size', '4']);
  // HTTP/2's default 64 KiB window, so the server sees this client fall behind.
  const client = connectService(server.address, { channelOptions: { 'grpc-node.flow_control_window': 65_535 } });
  try {
    const stream = client.SubscribeToTaskEvents({ task_ids: [busy], since_sequence: 0 });
    const c = collect(stream);
    await c.ready;
    stream.pause();
    await addTasks(client, 4000, 16);
    await waitFor(() => (readLog(dir)[0]?.sequence ?? 0) > 3500, 30_000, 'compaction past the stalled subscriber');
    stream.resume();
    const error = await Promise.race([c.ended, sleep(30_000).then(() => undefined)]);
    assert.equal(error?.code, grpc.status.OUT_OF_RANGE, 'the stream ends with OUT_OF_RANGE');
    assert.match(error!.details, /older than the retained history/);
    // What it did get: the task's events from the start, each once, in order, with none missing.
    const log = readLog(dir);
    const oldest = log[0]!.sequence;
    assert.ok(c.events.length > 0, 'it received some before it stalled');
    const got = sequences(c.events);
    assert.ok(got[got.length - 1]! < oldest, `it stopped below the oldest retained event (${got[got.length - 1]} < ${oldest})`);
    assert.equal(c.events[0]!.sequence, 1);
    for (let i = 1; i < c.events.length; i++) {
      // The busy task's events come as its creation, then UPDATED + STATUS_CHANGED pairs, eight bulk creations between pairs.
      assert.ok(c.events[i]!.sequence > c.events[i - 1]!.sequence);
      assert.equal(c.events[i]!.task_id, busy);
    }
    const perPair = 10;
    assert.deepEqual(
      got,
      got.map((_, i) => (i === 0 ? 1 : 2 + Math.floor((i - 1) / 2) * perPair + ((i - 1) % 2))),
      'no gap among its events',
    );
  } finally {
    client.close();
    await server.stop();
  }
});

test(
  'TaskEventStream changing its filter mid-stream: the first filter up to a point, the second after it, no gap, no repeat',
  { timeout: 120_000 },
  async () => {
    await withPrefilledServer(5000, async (dir, ids, client) => {
      const a: Filter = { task_ids: [ids.archived] };
      const b: Filter = { assignee_filter: 'alice' };
      for (const second of [b, {}, { event_types: [1, 2] }]) {
        const before = readLog(dir).length;
        const bidi = client.TaskEventStream();
        const c = collect(bidi);
        bidi.write({ subscribe: asRequest({ ...a, since_sequence: 0 }) });
        bidi.write({ subscribe: asRequest(second) });
        // Two reassignments of the moved task (UPDATED + ASSIGNED each), both matched by every second filter here.
        bidi.write({ update: { task_id: ids.moved, assignee: 'alice' } });
        bidi.write({ update: { task_id: ids.moved, assignee: 'bob' } });
        await waitFor(() => readLog(dir).length >= before + 4, 20_000, 'the updates in the log');
        const final = readLog(dir);
        const lastUpdated = final[final.length - 2]!.sequence;
        await waitFor(() => c.events.some((e) => e.sequence >= lastUpdated), 20_000, `the updates under ${JSON.stringify(second)}`);
        await sleep(100);
        bidi.cancel();
        // The outcome changes only at an event of either filter: try each as the switch point.
        const points = [0, ...final.filter((e) => matches(a, e) || matches(second, e)).map((e) => e.sequence)];
        const got = sequences(c.events);
        const fits = points.some(
          (p) =>
            JSON.stringify(got) ===
            JSON.stringify([
              ...sequences(final.filter((e) => e.sequence <= p && matches(a, e))),
              ...sequences(final.filter((e) => e.sequence > p && matches(second, e))),
            ]),
        );
        assert.ok(fits, `${JSON.stringify(second)}: ${got.length} events are not filter a up to some point, then the second filter`);
      }
    });
  },
);
