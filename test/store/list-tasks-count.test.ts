// ListTasks total_count over a real server and its SQLite file: exact for every filter shape after
// adds, status changes, reassignments, archives, a second process's `rig task` writes and a row
// deleted by another writer of the file; the counts tables always equal a GROUP BY of the tasks;
// and a database made at schema version 4 migrates with its counts right.
import assert from 'node:assert/strict';
import path from 'node:path';
import Database from 'better-sqlite3';
import { after, describe, test } from 'node:test';
import { RiggerClient } from '../../src/client/rigger-client';
import { MIGRATIONS } from '../../src/store/schema';
import { call, connect, type RiggerServiceClient } from '../support/client';
import { rigAsync, startServer, tempProject, type ServerProcess } from '../support/processes';
import { writeAtSchema } from '../support/old-schema';
import { matches, SHAPES, tasksInFile } from './list-shapes';

/** The schema version before ListTasks' counts and index. */
const SCHEMA_BEFORE_COUNTS = 4;

const running: ServerProcess[] = [];
const clients: { close(): unknown }[] = [];
after(async () => {
  for (const client of clients) await client.close();
  for (const server of running) await server.stop();
});

async function serve(dir: string): Promise<{ server: ServerProcess; typed: RiggerClient; raw: RiggerServiceClient }> {
  const server = await startServer(dir);
  running.push(server);
  const typed = new RiggerClient({ address: server.address });
  const raw = connect(server.address);
  clients.push(typed, raw);
  return { server, typed, raw };
}

const dbOf = (dir: string) => path.join(dir, '.rigger', 'tasks.db');

/** Every shape's total_count, from the server, equals a count of the file's tasks by the documented rule. */
async function assertTotals(typed: RiggerClient, file: string, when: string): Promise<void> {
  const tasks = tasksInFile(file);
  for (const shape of SHAPES) {
    const want = tasks.filter((t) => matches(shape.request, t)).length;
    const page = await typed.listTasks({ ...shape.request, limit: 1 });
    assert.equal(page.total_count, want, `${when}: total_count of ${shape.name}`);
  }
  for (const assignee of ['Alice', 'Bob', 'Carol']) {
    for (const status of [1, 2, 9, 10] as const) {
      const want = tasks.filter((t) => t.assignee === assignee && t.status === status).length;
      assert.equal((await typed.listTasks({ assignee, status, limit: 1 })).total_count, want, `${when}: ${assignee} in status ${status}`);
    }
  }
  assertCountsTables(file, when);
}

/** The maintained counts are exactly a GROUP BY of the tasks (no drift, no rows left at zero by assignee). */
function assertCountsTables(file: string, when: string): void {
  const db = new Database(file, { readonly: true, fileMustExist: true });
  try {
    const rows = (sql: string) => db.prepare(sql).all();
    assert.deepEqual(
      rows('SELECT status, n FROM task_counts_by_status WHERE n != 0 ORDER BY status'),
      rows('SELECT status, count(*) AS n FROM tasks GROUP BY status ORDER BY status'),
      `${when}: task_counts_by_status`,
    );
    assert.deepEqual(
      rows('SELECT assignee, status, n FROM task_counts_by_assignee ORDER BY assignee, status'),
      rows('SELECT assignee, status, count(*) AS n FROM tasks WHERE assignee IS NOT NULL GROUP BY assignee, status ORDER BY assignee, status'),
      `${when}: task_counts_by_assignee`,
    );
  } finally {
    db.close();
  }
}

async function rigOk(dir: string, args: string[]): Promise<string> {
  const result = await rigAsync([...args, '-C', dir]);
  assert.equal(result.code, 0, `rig ${args.join(' ')}: ${result.stderr}`);
  return result.stdout;
}

describe('ListTasks total_count', () => {
  test('stays exact through adds, status changes, reassignments, archives, another process and another writer of the file', async () => {
    const dir = tempProject();
    const file = dbOf(dir);
    const { typed, raw } = await serve(dir);
    await assertTotals(typed, file, 'empty');

    const ids: string[] = [];
    for (let i = 0; i < 40; i++) {
      const assignee = i % 3 === 0 ? 'Alice' : i % 3 === 1 ? 'Bob' : undefined;
      ids.push((await call(raw, 'AddTask', { title: `task ${i}`, ...(assignee && { assignee }) })).task.id);
    }
    await assertTotals(typed, file, 'after adds');

    for (let i = 0; i < 40; i += 3) await call(raw, 'UpdateTask', { task_id: ids[i], status: 2 });
    for (let i = 1; i < 40; i += 7) await call(raw, 'UpdateTask', { task_id: ids[i], status: 9 });
    await assertTotals(typed, file, 'after status changes');

    await call(raw, 'UpdateTask', { task_id: ids[0], assignee: 'Bob' }); // Alice -> Bob
    await call(raw, 'UpdateTask', { task_id: ids[2], assignee: 'Alice' }); // nobody -> Alice
    await call(raw, 'UpdateTask', { task_id: ids[4], assignee: '' }); // Bob -> nobody
    await call(raw, 'UpdateTask', { task_id: ids[5], assignee: 'Carol', status: 2 }); // both at once
    await call(raw, 'UpdateTask', { task_id: ids[6], assignee: 'Carol' });
    await call(raw, 'UpdateTask', { task_id: ids[6], assignee: 'Alice' }); // Carol's only row in that status goes back to zero
    await assertTotals(typed, file, 'after reassignments');

    for (const i of [3, 7, 8, 11, 5]) await call(raw, 'DeleteTask', { task_id: ids[i] });
    await call(raw, 'DeleteTask', { task_id: ids[3] }); // archiving an archived task changes nothing
    await assertTotals(typed, file, 'after archives');

    // `rig task` in a second process writes the same file while the server runs.
    await rigOk(dir, ['task', 'add', 'from the CLI', '--assignee', 'Carol']);
    await rigOk(dir, ['task', 'add', 'from the CLI, unassigned']);
    await rigOk(dir, ['task', 'update', ids[9]!, '--status', 'completed', '--assignee', 'Carol']);
    await rigOk(dir, ['task', 'update', ids[10]!, '--assignee', '']);
    await rigOk(dir, ['task', 'delete', ids[12]!]);
    await assertTotals(typed, file, 'after another process wrote');

    // Any other writer of the file: a row deleted outright (no API does that) is counted out too.
    const writer = new Database(file, { fileMustExist: true });
    try {
      writer.pragma('busy_timeout = 5000');
      assert.equal(writer.prepare('DELETE FROM tasks WHERE id IN (?, ?, ?)').run(ids[13], ids[14], ids[15]).changes, 3);
    } finally {
      writer.close();
    }
    await assertTotals(typed, file, 'after rows were deleted');
  });

  test(`a database at schema version ${SCHEMA_BEFORE_COUNTS} migrates: its counts are filled from its tasks and kept from then on`, async () => {
    // Tasks written by the real server, then copied into a file made with the first migrations only.
    const source = tempProject();
    const first = await serve(source);
    const ids: string[] = [];
    for (let i = 0; i < 30; i++) {
      const assignee = ['Alice', 'Bob', 'Carol', undefined][i % 4];
      ids.push((await call(first.raw, 'AddTask', { title: `old ${i}`, ...(assignee && { assignee }) })).task.id);
    }
    for (let i = 0; i < 30; i += 4) await call(first.raw, 'UpdateTask', { task_id: ids[i], status: 2 });
    for (let i = 1; i < 30; i += 5) await call(first.raw, 'DeleteTask', { task_id: ids[i] });
    assert.equal(await first.server.stop(), 0);

    const dir = tempProject();
    const file = dbOf(dir);
    writeAtSchema(dbOf(source), file, SCHEMA_BEFORE_COUNTS, (old) => {
      assert.equal((old.prepare("SELECT count(*) AS n FROM sqlite_master WHERE name LIKE 'task_counts%'").get() as { n: number }).n, 0);
    });
    assert.equal(tasksInFile(file).length, 30);

    const { typed, raw } = await serve(dir);
    const migrated = new Database(file, { readonly: true });
    try {
      assert.equal(migrated.pragma('user_version', { simple: true }), MIGRATIONS.length);
    } finally {
      migrated.close();
    }
    await assertTotals(typed, file, 'right after the migration');
    // Pages of the migrated file are the old order, and tokens work on it.
    const everything = await typed.listTasks({ include_archived: true, limit: 20 });
    const rest = await typed.listTasks({ include_archived: true, limit: 20, pageToken: everything.nextPageToken });
    assert.deepEqual(
      [...everything.tasks, ...rest.tasks].map((t) => t.id),
      [...ids].reverse(),
    );
    assert.equal(rest.nextPageToken, '');

    await call(raw, 'AddTask', { title: 'new', assignee: 'Alice' });
    await call(raw, 'UpdateTask', { task_id: ids[2], status: 9, assignee: 'Bob' });
    await call(raw, 'DeleteTask', { task_id: ids[3] });
    await rigOk(dir, ['task', 'add', 'from the CLI', '--assignee', 'Bob']);
    await assertTotals(typed, file, 'after writes on the migrated file');
  });
});
