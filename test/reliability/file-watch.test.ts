// tasks.db deleted, moved or replaced under a running `rig grpc`: from then on every write fails
// UNAVAILABLE naming the file (none is acknowledged into a file that is gone from its path), the
// server logs it once at error level, reads go on, and every acknowledged write is in the file the
// server had open. A default tasks.db deleted while its WAL is left (a crash after the rm) is not
// silently replaced by an empty one.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { after, test } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import Database from 'better-sqlite3';
import { call, callError, connect } from '../support/client';
import { requireTool, rig, runAsync, startServer, tempProject, waitFor } from '../support/processes';
import { rawClient, rawUnary } from '../support/raw-client';
import { assertConsistent } from './db-check';

const clients: grpc.Client[] = [];
after(() => clients.forEach((c) => c.close()));

const SUFFIXES = ['', '-wal', '-shm'];

/** The server's error-level (pino level 50) log lines. */
function errorLines(stderr: string): { msg: string; database?: string }[] {
  return stderr
    .split('\n')
    .filter((line) => line.startsWith('{'))
    .map((line) => JSON.parse(line) as { level: number; msg: string; database?: string })
    .filter((entry) => entry.level >= 50);
}

function idsIn(file: string): Set<string> {
  const db = new Database(file, { fileMustExist: true });
  try {
    return new Set((db.prepare('SELECT id FROM tasks').all() as { id: string }[]).map((r) => r.id));
  } finally {
    db.close();
  }
}

interface Outcome {
  sentAfterDelete: boolean;
  id?: string;
  code?: number;
  details?: string;
}

test('tasks.db* deleted under a stream of AddTask calls: every call sent after the rm is refused UNAVAILABLE, logged once, every acknowledged task is in the file the server had', async (t) => {
  const dir = tempProject();
  const dbFile = path.join(dir, '.rigger', 'tasks.db');
  const kept = path.join(dir, 'kept.db');
  const server = await startServer(dir);
  const client = connect(server.address);
  clients.push(client);

  const outcomes: Outcome[] = [];
  let deleted = false;
  let acknowledged = 0;
  const deadline = Date.now() + 20_000;
  let stopAt = deadline;
  const writer = async (w: number) => {
    for (let n = 0; n < 5000 && Date.now() < stopAt; n++) {
      const outcome: Outcome = { sentAfterDelete: deleted };
      try {
        const { task } = await call(client, 'AddTask', { title: `writer ${w} task ${n}` });
        outcome.id = task.id;
        acknowledged++;
      } catch (error) {
        outcome.code = (error as grpc.ServiceError).code;
        outcome.details = (error as grpc.ServiceError).details;
      }
      outcomes.push(outcome);
    }
  };
  const writers = Array.from({ length: 4 }, (_, w) => writer(w));
  await waitFor(() => acknowledged >= 200, 15_000, '200 acknowledged writes');
  // Hard links keep the inodes the server writes, so what it acknowledged can be checked afterwards;
  // at the paths, the files are gone exactly as after `rm .rigger/tasks.db*`.
  for (const suffix of SUFFIXES) fs.linkSync(`${dbFile}${suffix}`, `${kept}${suffix}`);
  for (const suffix of SUFFIXES) fs.rmSync(`${dbFile}${suffix}`);
  deleted = true;
  stopAt = Math.min(deadline, Date.now() + 1500);
  await Promise.all(writers);

  const afterDelete = outcomes.filter((o) => o.sentAfterDelete);
  assert.ok(afterDelete.length >= 20, `only ${afterDelete.length} calls were sent after the rm`);
  const acceptedAfter = afterDelete.filter((o) => o.id !== undefined);
  assert.equal(acceptedAfter.length, 0, `${acceptedAfter.length} of ${afterDelete.length} AddTasks sent after the rm were acknowledged into a deleted file`);
  for (const o of afterDelete) {
    assert.equal(o.code, grpc.status.UNAVAILABLE, `code ${o.code}: ${o.details}`);
    assert.match(o.details!, /tasks\.db was deleted or moved while the server had it open; writes are refused/);
  }
  // Reads go on from the file the server has open.
  const listed = await call(client, 'ListTasks', { limit: 1 });
  assert.ok(Number(listed.total_count) >= 200);

  const errors = errorLines(server.stderr()).filter((e) => /was deleted or moved/.test(e.msg));
  assert.equal(errors.length, 1, `expected one error log line about the file, got: ${server.stderr().slice(0, 2000)}`);
  assert.equal(errors[0]!.database, dbFile);
  assert.equal(await server.stop(), 0);

  const okIds = outcomes.filter((o) => o.id !== undefined).map((o) => o.id!);
  const inFile = idsIn(kept);
  const missing = okIds.filter((id) => !inFile.has(id));
  assert.equal(missing.length, 0, `${missing.length} of ${okIds.length} acknowledged tasks are not in the file`);
  assertConsistent(kept, assert);
  t.diagnostic(
    `${okIds.length} AddTasks acknowledged (all in the file), ${outcomes.length - okIds.length} refused; ` +
      `${afterDelete.length} sent after the rm, all refused UNAVAILABLE`,
  );
});

test('tasks.db moved away with no write going on: noticed within 1 s, logged at error, health NOT_SERVING, then writes fail UNAVAILABLE and reads go on', async (t) => {
  const dir = tempProject();
  const dbFile = path.join(dir, '.rigger', 'tasks.db');
  const moved = path.join(dir, 'moved.db');
  const server = await startServer(dir);
  const client = connect(server.address);
  clients.push(client);
  const { task } = await call(client, 'AddTask', { title: 'before the move' });
  for (const suffix of SUFFIXES) fs.renameSync(`${dbFile}${suffix}`, `${moved}${suffix}`);
  const movedAt = Date.now();
  await waitFor(() => errorLines(server.stderr()).length > 0, 3_000, 'the error log line');
  const noticedMs = Date.now() - movedAt;
  assert.ok(noticedMs < 1_500, `noticed after ${noticedMs} ms`);
  assert.match(errorLines(server.stderr())[0]!.msg, /tasks\.db was deleted or moved/);
  t.diagnostic(`noticed ${noticedMs} ms after the move`);
  const raw = rawClient(server.address);
  clients.push(raw);
  const health = await rawUnary(raw, '/grpc.health.v1.Health/Check', Buffer.alloc(0));
  assert.equal(health.code, grpc.status.OK);
  assert.deepEqual([...health.response!], [0x08, 0x02], 'NOT_SERVING');

  const refused = await callError(client, 'AddTask', { title: 'after the move' });
  assert.equal(refused.code, grpc.status.UNAVAILABLE);
  assert.equal((await callError(client, 'UpdateTask', { task_id: task.id, status: 2 })).code, grpc.status.UNAVAILABLE);
  assert.equal((await call(client, 'GetTask', { task_id: task.id })).task.title, 'before the move');
  assert.equal(await server.stop(), 0);
  assert.equal(errorLines(server.stderr()).length, 1, 'logged more than once');
  const check = assertConsistent(moved, assert);
  assert.equal(check.tasks, 1);
});

test('tasks.db replaced by another file (a copy renamed over it): the next write fails UNAVAILABLE naming the replacement', async () => {
  const dir = tempProject();
  const dbFile = path.join(dir, '.rigger', 'tasks.db');
  const server = await startServer(dir);
  const client = connect(server.address);
  clients.push(client);
  await call(client, 'AddTask', { title: 'before the replacement' });
  fs.copyFileSync(dbFile, `${dbFile}.new`);
  fs.renameSync(`${dbFile}.new`, dbFile);
  const refused = await callError(client, 'AddTask', { title: 'after the replacement' });
  assert.equal(refused.code, grpc.status.UNAVAILABLE);
  assert.match(refused.details, /tasks\.db was replaced by another file while the server had it open/);
  assert.equal(await server.stop(), 0);
});

test('the default tasks.db deleted, its WAL left behind (kill -9 after the rm): rig grpc refuses to create an empty one, the WAL untouched', async () => {
  const dir = tempProject();
  const dbFile = path.join(dir, '.rigger', 'tasks.db');
  const server = await startServer(dir);
  const client = connect(server.address);
  clients.push(client);
  for (let i = 0; i < 20; i++) await call(client, 'AddTask', { title: `task ${i}` });
  fs.rmSync(dbFile);
  server.child.kill('SIGKILL');
  await server.stop();
  assert.ok(fs.existsSync(`${dbFile}-wal`), 'the WAL is gone: the test cannot show anything');
  const walDigest = createHash('sha256')
    .update(fs.readFileSync(`${dbFile}-wal`))
    .digest('hex');

  for (const args of [
    ['grpc', '-C', dir, '--port', '0', '--host', '127.0.0.1'],
    ['task', 'list', '-C', dir],
  ]) {
    const result = rig(args, { timeoutMs: 10_000 });
    assert.equal(result.code, 1, `rig ${args[0]}: exit ${result.code}; stdout: ${result.stdout}`);
    assert.match(result.stderr, /^rig: [^\n]+\n$/, `not one line: ${JSON.stringify(result.stderr)}`);
    assert.match(result.stderr, /tasks\.db is missing but tasks\.db-wal and tasks\.db-shm are still there/);
    assert.equal(fs.existsSync(dbFile), false, `rig ${args[0]} created an empty tasks.db`);
    assert.equal(
      createHash('sha256')
        .update(fs.readFileSync(`${dbFile}-wal`))
        .digest('hex'),
      walDigest,
      'the WAL changed',
    );
  }
});

// Another process opening and closing the database must not take itself for its last user: if the
// server lost its POSIX locks on tasks.db (any descriptor of the file closed in its process drops
// them all), that process's close would checkpoint and delete the WAL the server still writes into.
test('another process (Python sqlite3) opening and closing tasks.db leaves the server its WAL and its writes', async (t) => {
  const python = requireTool(t, 'python3', 'apt-get install python3');
  if (!python) return;
  const dir = tempProject();
  const dbFile = path.join(dir, '.rigger', 'tasks.db');
  const server = await startServer(dir);
  const client = connect(server.address);
  clients.push(client);
  try {
    await call(client, 'AddTask', { title: 'before the other process' });
    const walBefore = fs.statSync(`${dbFile}-wal`).ino;
    // Python's sqlite3 (another SQLite build) checkpoints and deletes the WAL when it closes the
    // connection it takes for the last one.
    const script =
      'import sqlite3, sys\ncon = sqlite3.connect(sys.argv[1], isolation_level=None)\ncon.execute("BEGIN EXCLUSIVE"); con.execute("COMMIT"); con.close()';
    for (let i = 0; i < 3; i++) {
      const result = await runAsync(python, ['-c', script, dbFile]);
      assert.equal(result.code, 0, result.stderr);
    }
    assert.equal(fs.statSync(`${dbFile}-wal`, { throwIfNoEntry: false })?.ino, walBefore, 'the -wal is still the one the server writes');
    const { task } = await call(client, 'AddTask', { title: 'after the other process' });
    assert.equal(await server.stop(), 0);
    assert.ok(idsIn(dbFile).has(task.id), 'the write after the other process closed is in the database');
    assert.deepEqual(errorLines(server.stderr()), []);
  } finally {
    await server.stop();
  }
});

// The same hazard through the API: a PRD path naming the database itself (here --db inside the
// project, no race needed) must be refused without the server opening, and closing, a descriptor
// of its own database.
test('ParsePRD of the database file itself is refused, and the server keeps its locks, its WAL and its writes', async (t) => {
  const python = requireTool(t, 'python3', 'apt-get install python3');
  if (!python) return;
  const dir = tempProject();
  const dbFile = path.join(dir, 'data', 'tasks.db');
  fs.mkdirSync(path.dirname(dbFile));
  const created = rig(['task', 'add', 'made first', '--db', 'data/tasks.db', '-C', dir]);
  assert.notEqual(created.code, 0, 'a --db that does not exist is refused');
  fs.copyFileSync(path.join(dir, '.rigger', 'tasks.db'), dbFile);
  const server = await startServer(dir, ['--db', 'data/tasks.db']);
  const client = connect(server.address);
  clients.push(client);
  try {
    await call(client, 'AddTask', { title: 'before the PRD call' });
    fs.linkSync(dbFile, path.join(dir, 'looks-like-a.md')); // the same inode under another name
    for (const name of ['data/tasks.db', 'data/tasks.db-wal', 'data/tasks.db-shm', 'looks-like-a.md']) {
      const refused = await callError(client, 'ParsePRD', { prd_file_path: name });
      assert.equal(refused.code, grpc.status.PERMISSION_DENIED, `${name}: ${refused.details}`);
      assert.match(refused.details, /the server's own database/);
    }
    const script =
      'import sqlite3, sys\ncon = sqlite3.connect(sys.argv[1], isolation_level=None)\ncon.execute("BEGIN EXCLUSIVE"); con.execute("COMMIT"); con.close()';
    const result = await runAsync(python, ['-c', script, dbFile]);
    assert.equal(result.code, 0, result.stderr);
    assert.ok(fs.existsSync(`${dbFile}-wal`), 'the server still has its WAL');
    const { task } = await call(client, 'AddTask', { title: 'after the PRD call' });
    assert.equal(await server.stop(), 0);
    assert.ok(idsIn(dbFile).has(task.id));
    assert.deepEqual(errorLines(server.stderr()), []);
  } finally {
    await server.stop();
  }
});
