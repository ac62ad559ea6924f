// The filtered reads on the real SQLite file: each filter read's SQL is an index search, not a scan
// of the log or a sort (EXPLAIN QUERY PLAN), and a file from before task keys (schema 6) is served
// the same after the upgrade, old tasks and new, through the real server.
import Database from 'better-sqlite3';
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { TaskStatus, type Task } from '../../src/model/task';
import { taskEventEncoder } from '../../src/protocol/event-codec';
import { MIGRATIONS } from '../../src/store/schema';
import { openStore } from '../../src/store/store';
import { call, connect } from '../support/client';
import { startServer, tempProject } from '../support/processes';
import { writeAtSchema } from '../support/old-schema';
import { addTasks, matches, readLog, sequences, type Filter } from './hub-support';
import { BEHIND_THE_RING, dbOf, expectedOf, expectStreams, prefill, watch } from './filtered-fixtures';

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
