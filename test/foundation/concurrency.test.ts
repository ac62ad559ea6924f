// The CLI and the server writing the same tasks.db at once: three `rig task add` loops run while a
// gRPC client adds tasks as fast as the server takes them. Nobody may see "database is locked",
// every task must be there, and the event log and a live stream must be gap-free.
import assert from 'node:assert/strict';
import path from 'node:path';
import { test } from 'node:test';
import Database from 'better-sqlite3';
import type { TaskEvent } from '../../src/model/task';
import { call, collectEvents, connect } from '../support/client';
import { rigAsync, startServer, tempProject, waitFor, type RunResult } from '../support/processes';

const CLI_LOOPS = 3;
const ADDS_PER_LOOP = 6;
const GRPC_WORKERS = 4;
/** Upper bound on gRPC adds, whatever the speed of the machine. */
const MAX_GRPC_ADDS = 1500;

test('three CLI loops and a gRPC client add tasks to one database at the same time', async (t) => {
  const dir = tempProject();
  const server = await startServer(dir);
  const client = connect(server.address);
  const subscriber = collectEvents(client, {});
  await subscriber.ready;
  try {
    const cliResults: RunResult[] = [];
    let cliDone = false;
    const cliLoops = Promise.all(
      Array.from({ length: CLI_LOOPS }, async (_, loop) => {
        for (let i = 0; i < ADDS_PER_LOOP; i++) {
          cliResults.push(await rigAsync(['task', 'add', `cli ${loop}.${i}`, '--json', '-C', dir], { timeoutMs: 60_000 }));
        }
      }),
    ).finally(() => (cliDone = true));

    const grpcIds: string[] = [];
    const grpcErrors: Error[] = [];
    const workers = Array.from({ length: GRPC_WORKERS }, async (_, worker) => {
      for (let i = 0; !cliDone && grpcIds.length < MAX_GRPC_ADDS; i++) {
        try {
          grpcIds.push((await call(client, 'AddTask', { title: `grpc ${worker}.${i}` })).task.id);
        } catch (error) {
          grpcErrors.push(error as Error);
        }
      }
    });
    await cliLoops;
    await Promise.all(workers);

    // A busy database is answered to the caller (UNAVAILABLE, or the CLI's one line), never only logged.
    const told = [...cliResults.map((r) => r.stderr), ...grpcErrors.map((e) => e.message)];
    assert.deepEqual(
      told.filter((message) => /locked|SQLITE_BUSY/i.test(message)),
      [],
      'a caller was told the database is locked',
    );
    for (const result of cliResults) {
      assert.equal(result.code, 0, result.stderr);
      assert.equal(result.stderr, '');
    }
    assert.deepEqual(
      grpcErrors.map((e) => e.message),
      [],
    );
    assert.ok(grpcIds.length > 0, 'the gRPC client added nothing while the CLI ran');
    t.diagnostic(`${cliResults.length} tasks added by the CLI, ${grpcIds.length} over gRPC`);

    const cliIds = cliResults.map((r) => (JSON.parse(r.stdout) as { id: string }).id);
    assert.equal(cliIds.length, CLI_LOOPS * ADDS_PER_LOOP);
    const expected = new Set([...cliIds, ...grpcIds]);
    assert.equal(expected.size, cliIds.length + grpcIds.length);

    const listed = new Set<string>();
    for (let offset = 0, pages = 0; pages < 10; offset += 1000, pages++) {
      const page = await call(client, 'ListTasks', { limit: 1000, offset });
      assert.equal(page.total_count, expected.size);
      for (const task of page.tasks) listed.add(task.id);
      if (page.tasks.length < 1000) break;
    }
    assert.deepEqual(listed, expected);

    const db = new Database(path.join(dir, '.rigger', 'tasks.db'), { readonly: true, fileMustExist: true });
    const rows = db.prepare('SELECT sequence, event_type, task_id FROM events ORDER BY sequence').all() as {
      sequence: number;
      event_type: number;
      task_id: string;
    }[];
    db.close();
    assert.deepEqual(
      rows.map((r) => r.sequence),
      rows.map((_, i) => i + 1),
      'the log has a gap',
    );
    assert.ok(rows.every((r) => r.event_type === 1));
    assert.deepEqual(new Set(rows.map((r) => r.task_id)), expected);
    assert.equal(rows.length, expected.size);

    // The server publishes its own commits at once and the CLI's when its log watcher sees them.
    await waitFor(() => subscriber.events.length >= rows.length, 20_000, `${rows.length} streamed events`);
    assert.deepEqual(
      subscriber.events.map((e: TaskEvent) => e.sequence),
      rows.map((r) => r.sequence),
    );
  } finally {
    subscriber.cancel();
    client.close();
    assert.equal(await server.stop(), 0);
  }
});
