// The event rules of issue 2, checked twice for every mutation: in the real SQLite file (opened
// read-only, as another program would) and on a live SubscribeToTaskEvents stream.
import assert from 'node:assert/strict';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import Database from 'better-sqlite3';
import type { Task, TaskEvent } from '../../src/model/task';
import { call, callError, collectEvents, connect, type EventCollector, type RiggerServiceClient } from '../support/client';
import { rigAsync, startServer, tempProject, waitFor, type ServerProcess } from '../support/processes';

const CREATED = 1;
const UPDATED = 2;
const DELETED = 3;
const STATUS_CHANGED = 4;
const ASSIGNED = 5;

interface LoggedEvent {
  sequence: number;
  event_id: string;
  event_type: number;
  actor: string | null;
  task: Task;
  previous_task: Task | null;
  changed_fields: string[];
  metadata: Record<string, string>;
}

let dir: string;
let server: ServerProcess;
let client: RiggerServiceClient;
let subscriber: EventCollector;
let db: Database.Database;

/** The events of `taskId` as the SQLite file holds them, in sequence order. */
function loggedEvents(taskId?: string): LoggedEvent[] {
  const rows = db.prepare(`SELECT * FROM events ${taskId ? 'WHERE task_id = ?' : ''} ORDER BY sequence`).all(...(taskId ? [taskId] : [])) as Record<
    string,
    unknown
  >[];
  return rows.map((row) => ({
    sequence: row.sequence as number,
    event_id: row.event_id as string,
    event_type: row.event_type as number,
    actor: row.actor as string | null,
    task: JSON.parse(row.task as string) as Task,
    previous_task: row.previous_task === null ? null : (JSON.parse(row.previous_task as string) as Task),
    changed_fields: JSON.parse(row.changed_fields as string) as string[],
    metadata: JSON.parse(row.metadata as string) as Record<string, string>,
  }));
}

function lastSequence(): number {
  return (db.prepare('SELECT coalesce(max(sequence), 0) AS s FROM events').get() as { s: number }).s;
}

function storedVersion(taskId: string): number {
  return (db.prepare('SELECT version FROM tasks WHERE id = ?').get(taskId) as { version: number }).version;
}

/** The events of `taskId` the subscriber has received, once there are `count` of them. */
async function streamed(taskId: string, count: number): Promise<TaskEvent[]> {
  const mine = () => subscriber.events.filter((e) => e.task.id === taskId);
  await waitFor(() => mine().length >= count, 10_000, `${count} streamed events of task ${taskId}`);
  return mine();
}

/** Proves no event is on its way for `taskId`: a later marker mutation arrives, and nothing before it. */
async function assertNoStreamedEventAfter(taskId: string, count: number): Promise<void> {
  const { task: marker } = await call(client, 'AddTask', { title: 'marker' });
  await streamed(marker.id, 1);
  assert.equal(subscriber.events.filter((e) => e.task.id === taskId).length, count);
}

/** The stream and the log agree on an event, field by field. */
function assertSame(wire: TaskEvent, logged: LoggedEvent): void {
  assert.equal(wire.sequence, logged.sequence);
  assert.equal(wire.event_id, logged.event_id);
  assert.equal(wire.event_type, logged.event_type);
  assert.equal(wire.actor ?? null, logged.actor);
  assert.deepEqual(wire.task, logged.task);
  assert.deepEqual(wire.previous_task ?? null, logged.previous_task);
  assert.deepEqual(wire.changed_fields, logged.changed_fields);
  assert.deepEqual(wire.metadata, logged.metadata);
}

const as = (actor: string) => {
  const metadata = new grpc.Metadata();
  metadata.set('x-rigger-actor', actor);
  return metadata;
};

describe('events written for each mutation', () => {
  before(async () => {
    dir = tempProject();
    server = await startServer(dir);
    client = connect(server.address);
    subscriber = collectEvents(client, {});
    await subscriber.ready;
    db = new Database(path.join(dir, '.rigger', 'tasks.db'), { readonly: true, fileMustExist: true });
  });

  after(async () => {
    subscriber.cancel();
    client.close();
    db.close();
    assert.equal(await server.stop(), 0);
  });

  test('AddTask writes one CREATED event carrying the task, the x-rigger-actor and a mutation_id', async () => {
    const { task } = await call(client, 'AddTask', { title: 'created', assignee: 'Alice' }, as('planner-bot'));
    const logged = loggedEvents(task.id);
    assert.equal(logged.length, 1);
    const [event] = logged;
    assert.equal(event!.event_type, CREATED);
    assert.equal(event!.actor, 'planner-bot');
    assert.deepEqual(event!.task, task);
    assert.equal(event!.previous_task, null);
    assert.deepEqual(event!.changed_fields, []);
    assert.match(event!.metadata.mutation_id ?? '', /^[0-9a-f-]{36}$/);
    const [wire] = await streamed(task.id, 1);
    assertSame(wire!, event!);
  });

  test('an update of status and assignee writes UPDATED, STATUS_CHANGED and ASSIGNED: consecutive, one mutation_id', async () => {
    const { task: created } = await call(client, 'AddTask', { title: 'three events', assignee: 'Alice' });
    const { task } = await call(client, 'UpdateTask', { task_id: created.id, status: 2, assignee: 'Bob' }, as('lead'));
    assert.equal(task.version, 2);
    const logged = loggedEvents(task.id);
    assert.deepEqual(
      logged.map((e) => e.event_type),
      [CREATED, UPDATED, STATUS_CHANGED, ASSIGNED],
    );
    const [createdEvent, updated, statusChanged, assigned] = logged as [LoggedEvent, LoggedEvent, LoggedEvent, LoggedEvent];
    assert.equal(statusChanged.sequence, updated.sequence + 1);
    assert.equal(assigned.sequence, updated.sequence + 2);
    const mutationIds = new Set([updated, statusChanged, assigned].map((e) => e.metadata.mutation_id));
    assert.equal(mutationIds.size, 1);
    assert.notEqual([...mutationIds][0], createdEvent.metadata.mutation_id);
    assert.deepEqual(new Set(updated.changed_fields), new Set(['status', 'assignee']));
    assert.deepEqual(statusChanged.changed_fields, ['status']);
    assert.deepEqual(assigned.changed_fields, ['assignee']);
    for (const event of [updated, statusChanged, assigned]) {
      assert.deepEqual(event.task, task);
      assert.deepEqual(event.previous_task, created);
      assert.equal(event.actor, 'lead');
      assert.equal(new Set(logged.map((e) => e.event_id)).size, 4);
    }
    const wire = await streamed(task.id, 4);
    assert.equal(wire.length, 4);
    wire.forEach((event, i) => assertSame(event, logged[i]!));
  });

  test('only the status changed: UPDATED and STATUS_CHANGED, no ASSIGNED; only the due date: UPDATED alone', async () => {
    const { task } = await call(client, 'AddTask', { title: 'partial', assignee: 'Alice' });
    await call(client, 'UpdateTask', { task_id: task.id, status: 9, assignee: 'Alice' });
    await call(client, 'UpdateTask', { task_id: task.id, due_date: '2026-03-01' });
    const logged = loggedEvents(task.id);
    assert.deepEqual(
      logged.map((e) => e.event_type),
      [CREATED, UPDATED, STATUS_CHANGED, UPDATED],
    );
    assert.deepEqual(logged[1]!.changed_fields, ['status']);
    assert.deepEqual(logged[3]!.changed_fields, ['due_date']);
    assert.deepEqual(
      (await streamed(task.id, 4)).map((e) => e.event_type),
      [CREATED, UPDATED, STATUS_CHANGED, UPDATED],
    );
  });

  test('an update that changes nothing writes no event and keeps the version', async () => {
    const { task } = await call(client, 'AddTask', { title: 'no-op', assignee: 'Alice' });
    await streamed(task.id, 1);
    const sequenceBefore = lastSequence();
    const same = await call(client, 'UpdateTask', { task_id: task.id, status: 1, assignee: 'Alice' });
    const empty = await call(client, 'UpdateTask', { task_id: task.id });
    assert.deepEqual(same.task, task);
    assert.deepEqual(empty.task, task);
    assert.equal(lastSequence(), sequenceBefore);
    assert.equal(storedVersion(task.id), 1);
    await assertNoStreamedEventAfter(task.id, 1);
  });

  test('Task.version bumps by one on every change', async () => {
    const { task } = await call(client, 'AddTask', { title: 'versions' });
    const versions = [task.version];
    for (const change of [{ status: 2 }, { assignee: 'Dan' }, { due_date: '2027-07-07' }, { assignee: '' }]) {
      versions.push((await call(client, 'UpdateTask', { task_id: task.id, ...change })).task.version);
    }
    versions.push((await call(client, 'GetTask', { task_id: task.id })).task.version);
    assert.deepEqual(versions, [1, 2, 3, 4, 5, 5]);
    assert.deepEqual(
      loggedEvents(task.id).map((e) => e.task.version),
      [1, 2, 2, 3, 3, 4, 5, 5],
    );
  });

  test('DeleteTask archives the task and writes DELETED; deleting it again succeeds and writes nothing', async () => {
    const { task } = await call(client, 'AddTask', { title: 'doomed' });
    assert.deepEqual(await call(client, 'DeleteTask', { task_id: task.id }, as('janitor')), { success: true });
    const logged = loggedEvents(task.id);
    assert.deepEqual(
      logged.map((e) => e.event_type),
      [CREATED, DELETED],
    );
    const deleted = logged[1]!;
    assert.equal(deleted.task.status, 10);
    assert.equal(deleted.task.version, 2);
    assert.deepEqual(deleted.previous_task, task);
    assert.deepEqual(deleted.changed_fields, ['status']);
    assert.equal(deleted.actor, 'janitor');
    assertSame((await streamed(task.id, 2))[1]!, deleted);

    const sequenceBefore = lastSequence();
    assert.deepEqual(await call(client, 'DeleteTask', { task_id: task.id }), { success: true });
    assert.equal(lastSequence(), sequenceBefore);
    assert.equal(storedVersion(task.id), 2);
    await assertNoStreamedEventAfter(task.id, 2);
  });

  test('expected_version mismatch: FAILED_PRECONDITION and nothing changes; a match applies the update', async () => {
    const { task } = await call(client, 'AddTask', { title: 'guarded' });
    await call(client, 'UpdateTask', { task_id: task.id, assignee: 'Eve' });
    const sequenceBefore = lastSequence();
    const error = await callError(client, 'UpdateTask', { task_id: task.id, status: 9, expected_version: 1 });
    assert.equal(error.code, grpc.status.FAILED_PRECONDITION, error.details);
    assert.match(error.details, /version 2/);
    assert.match(error.details, /expected 1/);
    assert.equal(lastSequence(), sequenceBefore);
    const { task: unchanged } = await call(client, 'GetTask', { task_id: task.id });
    assert.equal(unchanged.version, 2);
    assert.equal(unchanged.status, 1);
    await assertNoStreamedEventAfter(task.id, 3); // CREATED, UPDATED, ASSIGNED

    const { task: updated } = await call(client, 'UpdateTask', { task_id: task.id, status: 9, expected_version: 2 });
    assert.equal(updated.version, 3);
    assert.equal(updated.status, 9);
  });

  test('without x-rigger-actor the actor is the peer address', async () => {
    const { task } = await call(client, 'AddTask', { title: 'anonymous' });
    const [event] = loggedEvents(task.id);
    assert.match(event!.actor ?? '', /^(ipv4:)?127\.0\.0\.1:\d+$/);
    assert.equal((await streamed(task.id, 1))[0]!.actor, event!.actor);
  });

  test('the CLI records --actor, or the OS user by default, and the server streams its events', async () => {
    const withActor = await rigAsync(['task', 'add', 'from cli', '--actor', 'script-7', '--json', '-C', dir]);
    assert.equal(withActor.code, 0, withActor.stderr);
    const first = JSON.parse(withActor.stdout) as Task;
    const byDefault = await rigAsync(['task', 'update', first.id, '--status', 'in_progress', '--json', '-C', dir]);
    assert.equal(byDefault.code, 0, byDefault.stderr);
    const logged = loggedEvents(first.id);
    assert.deepEqual(
      logged.map((e) => [e.event_type, e.actor]),
      [
        [CREATED, 'script-7'],
        [UPDATED, os.userInfo().username],
        [STATUS_CHANGED, os.userInfo().username],
      ],
    );
    const wire = await streamed(first.id, 3);
    wire.forEach((event, i) => assertSame(event, logged[i]!));
  });

  test('the log is gap-free and the stream saw every event exactly once, in order', async () => {
    const all = loggedEvents();
    assert.deepEqual(
      all.map((e) => e.sequence),
      all.map((_, i) => i + 1),
    );
    await waitFor(() => subscriber.events.length >= all.length, 10_000, 'the subscriber to catch up');
    assert.deepEqual(
      subscriber.events.map((e) => e.sequence),
      all.map((e) => e.sequence),
    );
  });
});
