// Each event is stored with the exact bytes subscribers receive (encoded once, at commit) and the
// fields filters read; a database written before that (schema version 2) is migrated, and its
// old events are still served, encoded when read, and filtered by the back-filled columns.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import Database from 'better-sqlite3';
import { loadProto, SERVICE_NAME } from '../../src/protocol/proto';
import { call, collectEvents, connect } from '../support/client';
import { writeAtSchema } from '../support/old-schema';
import { rigAsync, startServer, tempDir, tempProject } from '../support/processes';
import { rawClient } from '../support/raw-client';
import { sentinelThrough } from '../support/barriers';

const SUBSCRIBE_PATH = `/${SERVICE_NAME}/SubscribeToTaskEvents`;
const identity = (bytes: Buffer) => bytes;

interface StoredEvent {
  sequence: number;
  task: string;
  previous_task: string | null;
  encoded: Buffer | null;
  assignee: string | null;
  previous_assignee: string | null;
  status: number;
  previous_status: number | null;
}

function storedEvents(dir: string): StoredEvent[] {
  const db = new Database(path.join(dir, '.rigger', 'tasks.db'), { readonly: true, fileMustExist: true });
  try {
    return db
      .prepare('SELECT sequence, task, previous_task, encoded, assignee, previous_assignee, status, previous_status FROM events ORDER BY sequence')
      .all() as StoredEvent[];
  } finally {
    db.close();
  }
}

/** SubscribeToTaskEvents from `since`, collecting each message as the bytes that arrived. */
function rawSubscription(address: string, since: number, count: number): Promise<Buffer[]> {
  const { definition } = loadProto();
  const request = (definition[SERVICE_NAME] as grpc.ServiceDefinition).SubscribeToTaskEvents!.requestSerialize({ since_sequence: since });
  const client = rawClient(address);
  const stream = client.makeServerStreamRequest<Buffer, Buffer>(SUBSCRIBE_PATH, identity, identity, request);
  const received: Buffer[] = [];
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`only ${received.length} of ${count} events in 10 s`)), 10_000);
    stream.on('data', (bytes: Buffer) => {
      received.push(bytes);
      if (received.length === count) {
        clearTimeout(timer);
        stream.cancel();
        client.close();
        resolve(received);
      }
    });
    stream.on('error', (error: grpc.ServiceError) => {
      if (error.code !== grpc.status.CANCELLED) reject(error);
    });
  });
}

function assertColumnsMatchJson(row: StoredEvent): void {
  const task = JSON.parse(row.task) as { status: number; assignee?: string };
  const previous = row.previous_task === null ? undefined : (JSON.parse(row.previous_task) as { status: number; assignee?: string });
  assert.equal(row.status, task.status, `status column of event ${row.sequence}`);
  assert.equal(row.assignee, task.assignee ?? null, `assignee column of event ${row.sequence}`);
  assert.equal(row.previous_status, previous?.status ?? null, `previous_status column of event ${row.sequence}`);
  assert.equal(row.previous_assignee, previous?.assignee ?? null, `previous_assignee column of event ${row.sequence}`);
}

/** Events from every writer: gRPC add, update (status + assignee), delete, and the CLI. */
async function writeSomeEvents(dir: string, address: string): Promise<void> {
  const client = connect(address);
  try {
    const { task } = await call(client, 'AddTask', { title: 'stored bytes', assignee: 'Alice' });
    await call(client, 'UpdateTask', { task_id: task.id, status: 2, assignee: 'Bob' });
    await call(client, 'DeleteTask', { task_id: task.id });
  } finally {
    client.close();
  }
  const cli = await rigAsync(['task', 'add', 'from the CLI', '--assignee', 'Alice', '-C', dir]);
  assert.equal(cli.code, 0, cli.stderr);
}

test('every event is stored with the bytes subscribers receive, live and from the log, and its filter columns match its JSON', async () => {
  const dir = tempProject();
  const server = await startServer(dir, ['--buffer-size', '1']);
  try {
    const live = rawSubscription(server.address, 0, 6);
    await writeSomeEvents(dir, server.address);
    const liveBytes = await live;
    const stored = storedEvents(dir);
    // AddTask 1, UpdateTask 3 (UPDATED, STATUS_CHANGED, ASSIGNED), DeleteTask 1, the CLI's add 1.
    assert.equal(stored.length, 6);
    // With a one-event ring, a resume from 0 is served from the log.
    const fromLog = await rawSubscription(server.address, 0, 6);
    stored.forEach((row, i) => {
      assert.ok(row.encoded, `event ${row.sequence} has no stored bytes`);
      assert.ok(row.encoded.equals(liveBytes[i]!), `live bytes of event ${row.sequence} differ from the stored ones`);
      assert.ok(row.encoded.equals(fromLog[i]!), `replayed bytes of event ${row.sequence} differ from the stored ones`);
      assertColumnsMatchJson(row);
    });
  } finally {
    await server.stop();
  }
});

test('a schema version 2 database is migrated: its events keep their sequences, are served and filtered by assignee', async () => {
  const dir = tempProject();
  let server = await startServer(dir);
  try {
    await writeSomeEvents(dir, server.address);
  } finally {
    await server.stop();
  }
  const before = storedEvents(dir);
  // Back to version 2: the same rows in a file made by migrations 1 and 2 alone (no encoded bytes, no filter columns).
  const file = path.join(dir, '.rigger', 'tasks.db');
  const source = path.join(tempDir('rigger-v2-'), 'source.db');
  fs.copyFileSync(file, source);
  writeAtSchema(source, file, 2);

  server = await startServer(dir);
  try {
    const migrated = storedEvents(dir);
    assert.deepEqual(
      migrated.map((row) => row.sequence),
      before.map((row) => row.sequence),
    );
    for (const row of migrated) {
      assert.equal(row.encoded, null, 'old rows are encoded when read, not rewritten');
      assertColumnsMatchJson(row);
    }
    const client = connect(server.address);
    try {
      // Alice's events: the AddTask (hers), the update that takes the task away (ASSIGNED and the
      // rest of that update), and the CLI's task; not the DELETED of Bob's task.
      const alice = collectEvents(client, { since_sequence: 0, assignee_filter: 'Alice' });
      await alice.waitForCount(5);
      // Hers and written last: once it is in, everything before it is.
      const sentinel = await sentinelThrough(client, (id) => alice.events.some((e) => e.task?.id === id), "Alice's stream", { assignee: 'Alice' });
      const events = alice.events;
      assert.equal(events.pop()!.task.id, sentinel);
      assert.deepEqual(
        events.map((e) => Number(e.sequence)),
        [1, 2, 3, 4, 6],
      );
      const original = before.map((row) => JSON.parse(row.task) as { id: string; title: string });
      assert.equal(events[0]!.task.id, original[0]!.id);
      assert.equal(events[4]!.task.title, 'from the CLI');
      assert.equal(events[2]!.previous_task?.assignee, 'Alice');
      alice.cancel();

      // Written after the migration: stored with its bytes, and it continues the sequence.
      await call(client, 'AddTask', { title: 'after the migration' });
      const latest = storedEvents(dir).at(-1)!;
      assert.equal(latest.sequence, 8, 'after the 6 migrated events and the sentinel');
      assert.ok(latest.encoded && latest.encoded.length > 0);
    } finally {
      client.close();
    }
  } finally {
    await server.stop();
  }
});
