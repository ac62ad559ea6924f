// Catch-up through a subscriber's filter, through the real server, a grpc-js client and the real
// SQLite file: a project's log is prefilled through the store's own write path with a few matching
// events scattered among thousands of others, far behind the replay ring. A subscriber from 0 with a
// task-id, assignee (the filter exit included), event-type or status filter gets exactly the log's
// matching events in order, then live ones; its bookmarks report the head although its last event is
// far behind, and resuming there repeats nothing; a compaction while it is behind is OUT_OF_RANGE;
// a TaskEventStream that changes its filter mid-stream has no gap or repeat; and each filter read's
// SQL is an index search, not a scan of the log (EXPLAIN QUERY PLAN on the real file); and a file
// from before task keys (schema 6) is served the same after the upgrade, old tasks and new.
import * as grpc from '@grpc/grpc-js';
import Database from 'better-sqlite3';
import assert from 'node:assert/strict';
import path from 'node:path';
import { test } from 'node:test';
import { connectService } from '../../src/client/connect';
import type { SubscribeToTaskEventsRequest } from '../../src/generated/rigger/v1/SubscribeToTaskEventsRequest';
import { TaskStatus, type Task } from '../../src/model/task';
import { taskEventEncoder } from '../../src/protocol/event-codec';
import { MIGRATIONS } from '../../src/store/schema';
import { openStore } from '../../src/store/store';
import { call, connect, streamLifecycle, type RiggerServiceClient } from '../support/client';
import { startServer, tempProject, waitFor } from '../support/processes';
import { writeAtSchema } from '../support/old-schema';
import { addTasks, asLogged, matches, readLog, sequences, sleep, type Filter, type LoggedEvent } from './hub-support';

const BOOKMARK = 8;

const dbOf = (dir: string) => path.join(dir, '.rigger', 'tasks.db');

interface Prefilled {
  /** Reassigned from alice to bob half-way, then changed again as bob's. */
  moved: string;
  /** alice's, archived (DELETED) later. */
  archived: string;
  head: number;
}

/**
 * Writes `bulk` one-event tasks (assignee "bulk") through TaskStore.write, with the few events the
 * filters look for at scattered points in between.
 */
function prefill(dir: string, bulk: number): Prefilled {
  const store = openStore(dbOf(dir), taskEventEncoder);
  try {
    type Step = (m: Parameters<Parameters<typeof store.tasks.write>[1]>[0]) => void;
    let moved = '';
    let archived = '';
    const at = new Map<number, Step>([
      [Math.floor(bulk * 0.1), (m) => (moved = m.createTask({ title: 'moved', assignee: 'alice' }).id)],
      [Math.floor(bulk * 0.3), (m) => (archived = m.createTask({ title: 'archived', assignee: 'alice' }).id)],
      [Math.floor(bulk * 0.45), (m) => void m.updateTask(moved, { status: TaskStatus.IN_PROGRESS })],
      [Math.floor(bulk * 0.6), (m) => void m.updateTask(moved, { assignee: 'bob' })],
      [Math.floor(bulk * 0.75), (m) => void m.archiveTask(archived)],
      [Math.floor(bulk * 0.85), (m) => void m.updateTask(moved, { status: TaskStatus.COMPLETED })],
    ]);
    for (let written = 0; written < bulk;) {
      const batch = Math.min(250, bulk - written);
      store.tasks.write('prefill', (m) => {
        for (let i = 0; i < batch; i++) {
          at.get(written + i)?.(m);
          m.createTask({ title: `bulk ${written + i}`, assignee: 'bulk' });
        }
      });
      written += batch;
    }
    return { moved, archived, head: store.log.latestSequence() };
  } finally {
    store.close();
  }
}

interface Collected {
  events: LoggedEvent[];
  bookmarks: number[];
  ended: Promise<grpc.ServiceError | undefined>;
  ready: Promise<void>;
  cancel(): void;
}

function collect(stream: grpc.ClientReadableStream<unknown> | grpc.ClientDuplexStream<unknown, unknown>): Collected {
  const events: LoggedEvent[] = [];
  const bookmarks: number[] = [];
  stream.on('data', (e: any) => (e.event_type === BOOKMARK ? bookmarks.push(Number(e.sequence)) : events.push(asLogged(e))));
  return { events, bookmarks, ...streamLifecycle(stream) };
}

/** Filters as hub-support states them (event types and statuses as plain numbers). */
type Request = Filter & { since_sequence?: number; bookmark_interval_ms?: number };
const asRequest = (request: Request) => request as SubscribeToTaskEventsRequest;
const subscribe = (client: RiggerServiceClient, request: Request) => collect(client.SubscribeToTaskEvents(asRequest(request)));

/** The server's arguments for a catch-up from the log: a ring of 50 events, nothing compacted. */
const BEHIND_THE_RING = ['--buffer-size', '50', '--retain-events', '0'];

/** Runs `work` with a client of the real server over a project `prefill`ed with `bulk` tasks; stops both after. */
async function withPrefilledServer(bulk: number, work: (dir: string, ids: Prefilled, client: RiggerServiceClient) => Promise<void>): Promise<void> {
  const dir = tempProject();
  const ids = prefill(dir, bulk);
  const server = await startServer(dir, BEHIND_THE_RING);
  const client = connect(server.address);
  try {
    await work(dir, ids, client);
  } finally {
    client.close();
    await server.stop();
  }
}

const expectedOf = (log: LoggedEvent[], filter: Filter, after = 0) => log.filter((e) => e.sequence > after && matches(filter, e));

interface Watched {
  name: string;
  filter: Filter;
  c: Collected;
}

const watch = (client: RiggerServiceClient, filters: [string, Filter][]): Watched[] =>
  filters.map(([name, filter]) => ({ name, filter, c: subscribe(client, { ...filter, since_sequence: 0 }) }));

/** Waits until each stream holds what its filter selects from `log`, then checks it holds exactly that, in order. */
async function expectStreams(streams: Watched[], log: LoggedEvent[], what: string, timeoutMs: number): Promise<void> {
  for (const { name, filter, c } of streams) {
    const want = expectedOf(log, filter);
    await waitFor(() => c.events.length >= want.length, timeoutMs, `${name}: ${what}`);
    await sleep(50);
    assert.deepEqual(c.events, want, `${name}: ${what}`);
  }
}

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

test('each filtered read is an index search on the real file (EXPLAIN QUERY PLAN), never a scan of the log or a sort', { timeout: 60_000 }, () => {
  const dir = tempProject();
  const ids = prefill(dir, 2000);
  const store = openStore(dbOf(dir), taskEventEncoder);
  try {
    const indexOf: Record<string, string[]> = {
      taskId: ['events_by_task_key', 'events_by_unkeyed_task'],
      assignee: ['events_by_assignee', 'events_by_previous_assignee'],
    };
    const value: Record<string, string | number> = { taskId: ids.moved, assignee: 'alice' };
    for (const field of ['taskId', 'assignee'] as const) {
      const statements = store.log.matchingSql(field);
      assert.equal(statements.length, indexOf[field]!.length, field);
      statements.forEach((sql, i) => {
        const plan = (store.db.prepare(`EXPLAIN QUERY PLAN ${sql}`).all(value[field], 0, ids.head, 512) as { detail: string }[]).map((row) => row.detail);
        // The keyed task arm also looks the task's key up, by the primary key: one row, not a scan.
        const keyLookup = field === 'taskId' && i === 0 ? ['SCALAR SUBQUERY 1', 'SEARCH tasks USING INDEX sqlite_autoindex_tasks_1 (id=?)'] : [];
        assert.deepEqual(plan.slice(1), keyLookup, `${field} arm ${i}: ${plan.join('; ')}`);
        assert.match(
          plan[0]!,
          new RegExp(`^SEARCH events USING INDEX ${indexOf[field]![i]} \\((\\w+)=\\? AND rowid>\\? AND rowid<\\?\\)$`),
          `${field} arm ${i}: ${plan[0]}`,
        );
      });
    }
    // Event types and statuses have no index of their own: no write pays for one.
    for (const gone of ['events_by_type', 'events_by_status', 'events_by_previous_status']) {
      assert.equal(store.db.prepare('SELECT 1 FROM sqlite_master WHERE name = ?').get(gone), undefined, `${gone} is not in the schema`);
    }
    // And what they read is what the filter needs: the moved task's events, with how far the read covered.
    const page = store.log.readMatching(0, ids.head, 512, { field: 'taskId', values: [ids.moved] });
    assert.deepEqual(
      page.events.map((e) => e.sequence),
      sequences(readLog(dir).filter((e) => e.task_id === ids.moved)),
    );
    assert.equal(page.through, ids.head);
    assert.equal(page.oldest, 1);
    const capped = store.log.readMatching(0, ids.head, 2, { field: 'assignee', values: ['alice'] });
    const alice = sequences(readLog(dir).filter((e) => matches({ assignee_filter: 'alice' }, e)));
    assert.deepEqual(
      capped.events.map((e) => e.sequence),
      alice.slice(0, 2),
    );
    assert.ok(capped.through >= alice[1]! && capped.through < alice[2]!, `a full read covers up to its last event at most (${capped.through})`);
  } finally {
    store.close();
  }
});

/** The schema before tasks had keys: their events were indexed by task id (events_by_task). */
const SCHEMA_BEFORE_TASK_KEYS = 6;

test(
  'a file from before task keys: after the upgrade, one-task catch-up finds old tasks by id and new ones by key, and new event ids sort in sequence order',
  { timeout: 120_000 },
  async () => {
    // The log written through the store, then copied into a file made with the first six migrations only, as that release left it.
    const source = tempProject();
    const ids = prefill(source, 1500);
    const dir = tempProject();
    const file = dbOf(dir);
    writeAtSchema(dbOf(source), file, SCHEMA_BEFORE_TASK_KEYS, (old) => {
      assert.ok(old.prepare("SELECT 1 FROM sqlite_master WHERE name = 'events_by_task'").get(), 'the old index is there before the upgrade');
    });

    const server = await startServer(dir, BEHIND_THE_RING);
    const client = connect(server.address);
    try {
      // An old task changed after the upgrade, and a new one created and changed, both far behind the ring afterwards.
      await call(client, 'UpdateTask', { task_id: ids.moved, assignee: 'carol' });
      const fresh = (await call(client, 'AddTask', { title: 'fresh', assignee: 'alice' })).task as Task;
      await call(client, 'UpdateTask', { task_id: fresh.id, status: TaskStatus.IN_PROGRESS });
      await addTasks(client, 120, 16, 'bulk');
      await call(client, 'UpdateTask', { task_id: fresh.id, status: TaskStatus.COMPLETED });
      await addTasks(client, 120, 16, 'bulk');

      const log = readLog(dir);
      const db = new Database(file, { readonly: true });
      try {
        assert.equal(db.pragma('user_version', { simple: true }), MIGRATIONS.length);
        assert.equal(db.prepare("SELECT 1 FROM sqlite_master WHERE name = 'events_by_task'").get(), undefined, 'events_by_task is dropped');
        const keyOf = (id: string) => (db.prepare('SELECT task_key FROM tasks WHERE id = ?').get(id) as { task_key: number | null }).task_key;
        assert.equal(keyOf(ids.moved), null, 'a task from before the upgrade keeps no key');
        const freshEvents = db.prepare('SELECT sequence, event_type, task_key FROM events WHERE task_id = ? ORDER BY sequence').all(fresh.id) as {
          sequence: number;
          event_type: number;
          task_key: number | null;
        }[];
        assert.equal(freshEvents[0]!.event_type, 1);
        assert.equal(keyOf(fresh.id), freshEvents[0]!.sequence, "a new task's key is its CREATED event's sequence");
        assert.deepEqual(new Set(freshEvents.map((e) => e.task_key)), new Set([freshEvents[0]!.sequence]), 'each of its events carries it');
        assert.equal((db.prepare('SELECT count(*) AS n FROM events WHERE task_id = ? AND task_key IS NOT NULL').get(ids.moved) as { n: number }).n, 0);
        // Event ids written after the upgrade are version 7 UUIDs in sequence order (their unique index grows at its right edge).
        const newIds = (db.prepare('SELECT event_id FROM events WHERE task_key IS NOT NULL ORDER BY sequence').all() as { event_id: string }[]).map(
          (r) => r.event_id,
        );
        assert.ok(newIds.length > 240);
        for (const id of newIds) assert.match(id, /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
        assert.deepEqual([...newIds].sort(), newIds, 'event ids sort as their sequences do');
      } finally {
        db.close();
      }

      const filters: [string, Filter][] = [
        ['an old task', { task_ids: [ids.moved] }],
        ['a new task', { task_ids: [fresh.id] }],
        ['both', { task_ids: [fresh.id, ids.moved] }],
        ['an unknown id', { task_ids: ['no-such-task'] }],
      ];
      for (const [name, filter] of filters) {
        const want = expectedOf(log, filter);
        assert.ok(name === 'an unknown id' ? want.length === 0 : want.length >= 3, `${name}: ${want.length} events`);
      }
      const streams = watch(client, filters);
      await expectStreams(streams, log, 'its history', 20_000);
      // Live after the catch-up, for an old task and a new one alike.
      await call(client, 'UpdateTask', { task_id: ids.moved, status: TaskStatus.TODO });
      await call(client, 'UpdateTask', { task_id: fresh.id, assignee: 'dave' });
      await expectStreams(streams, readLog(dir), 'after the live changes', 10_000);
      for (const { c } of streams) c.cancel();
    } finally {
      client.close();
      await server.stop();
    }
  },
);
