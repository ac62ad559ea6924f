// What a start checks: after a clean stop (SIGTERM), only the header, ownership and schema (the
// clean-stop record beside the file says it is as that stop left it); after kill -9, or a write by
// another program since, the full quick_check too, on a worker thread, while /readyz, the health
// service and every call say the check is running. `rig task` never runs quick_check.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import Database from 'better-sqlite3';
import { call, callError, connect } from '../support/client';
import { freePort, RIG_BIN, rig, spawnCollected, startServer, tempProject, waitFor, type ServerProcess } from '../support/processes';
import { rawClient, rawStream, rawUnary } from '../support/raw-client';

const CHECK_PASSED = 'integrity check (quick_check) passed; serving';
const INFO = { RIGGER_LOG_LEVEL: 'info' };

const recordOf = (dir: string) => path.join(dir, '.rigger', 'tasks.clean-stop');
const dbOf = (dir: string) => path.join(dir, '.rigger', 'tasks.db');

/** The pino lines of the server's stderr whose msg is `msg`. */
function logLines(server: ServerProcess, msg: string): { reason?: string; ms?: number }[] {
  return server
    .stderr()
    .split('\n')
    .filter((line) => line.startsWith('{'))
    .map((line) => JSON.parse(line) as { msg: string; reason?: string; ms?: number })
    .filter((line) => line.msg === msg);
}

/** Starts the server, adds a task through it, and stops it with `signal`; returns the start's check log lines. */
async function serveOnce(dir: string, signal: NodeJS.Signals): Promise<{ reason?: string; ms?: number }[]> {
  const server = await startServer(dir, [], INFO);
  const client = connect(server.address);
  try {
    await call(client, 'AddTask', { title: `before ${signal}` });
  } finally {
    client.close();
  }
  const code = await server.stop(signal);
  if (signal === 'SIGTERM') assert.equal(code, 0, server.stderr());
  return logLines(server, CHECK_PASSED);
}

test(
  "a clean stop skips the next start's quick_check, so does a clean rig task between; kill -9 or another program's write makes the next start run it",
  { timeout: 120_000 },
  async () => {
    const dir = tempProject();
    assert.ok(fs.existsSync(recordOf(dir)), 'rig init left no clean-stop record');

    // rig init's record: the first start checks nothing beyond the header and schema.
    assert.deepEqual(await serveOnce(dir, 'SIGTERM'), [], 'a start after rig init ran quick_check');
    assert.ok(fs.existsSync(recordOf(dir)), 'SIGTERM left no clean-stop record');
    assert.ok(!fs.existsSync(`${dbOf(dir)}-wal`), 'SIGTERM left a WAL');

    // A direct-to-file command that closes cleanly keeps the file known whole.
    const added = rig(['task', 'add', 'while the server is down', '-C', dir]);
    assert.equal(added.code, 0, added.stderr);
    assert.ok(fs.existsSync(recordOf(dir)), 'rig task took the record and left none');
    assert.deepEqual(await serveOnce(dir, 'SIGTERM'), [], 'a start after a clean rig task ran quick_check');

    // Another program writes the file (a valid write): the record no longer describes it.
    const db = new Database(dbOf(dir));
    db.prepare(`UPDATE tasks SET title = 'changed by sqlite3' WHERE title = 'while the server is down'`).run();
    db.close();
    const afterForeign = await serveOnce(dir, 'SIGKILL');
    assert.equal(afterForeign.length, 1, 'a start after another program wrote the file ran no quick_check');
    assert.match(afterForeign[0]!.reason!, /changed since the clean stop .*another program/);

    // Killed: no record, so the next start checks every page, and its clean stop records one again.
    assert.ok(!fs.existsSync(recordOf(dir)), 'a record survived kill -9');
    const afterKill = await serveOnce(dir, 'SIGTERM');
    assert.equal(afterKill.length, 1, 'a start after kill -9 ran no quick_check');
    assert.match(afterKill[0]!.reason!, /no clean-stop record: the last stop was not clean/);
    assert.ok(fs.existsSync(recordOf(dir)), 'the clean stop after a checked start left no record');
    assert.deepEqual(await serveOnce(dir, 'SIGTERM'), [], 'the start after that ran quick_check again');

    const listed = rig(['task', 'list', '--json', '-C', dir]);
    assert.equal(listed.code, 0, listed.stderr);
    assert.equal((JSON.parse(listed.stdout) as { tasks: unknown[] }).tasks.length, 6);
  },
);

test('while the full check runs: /readyz 503 naming it, health NOT_SERVING, calls and streams UNAVAILABLE; then serving', { timeout: 120_000 }, async () => {
  const dir = tempProject();
  // 700 MB written by another program: quick_check takes long enough to be seen once the server listens.
  const db = new Database(dbOf(dir));
  db.exec('CREATE TABLE filler (x BLOB)');
  db.exec('WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 175000) INSERT INTO filler SELECT randomblob(4000) FROM n');
  db.close();
  const [port, httpPort] = [await freePort(), await freePort()];
  const server = spawnCollected(
    process.execPath,
    [RIG_BIN, 'grpc', '-C', dir, '--host', '127.0.0.1', '--port', String(port), '--http-listen', `127.0.0.1:${httpPort}`],
    {
      env: { ...process.env, ...INFO },
    },
  );
  const readyz = async () => {
    try {
      const response = await fetch(`http://127.0.0.1:${httpPort}/readyz`);
      return { status: response.status, text: await response.text() };
    } catch {
      return undefined; // not listening yet
    }
  };
  const raw = rawClient(`127.0.0.1:${port}`);
  const client = connect(`127.0.0.1:${port}`);
  try {
    let first: { status: number; text: string } | undefined;
    await waitFor(async () => (first = await readyz()) !== undefined || server.child.exitCode !== null, 30_000, 'the operations endpoint');
    assert.ok(first, `the server exited ${server.child.exitCode}: ${server.stderr()}`);
    assert.equal(first.status, 503, `the first /readyz answer: ${first.text}`);
    assert.match(
      first.text,
      /^not ready: the integrity check \(quick_check\) of the database is (running since [\d.]+ s, .+|starting): the file changed since the clean stop/,
    );

    const health = await rawUnary(raw, '/grpc.health.v1.Health/Check', Buffer.alloc(0));
    const listed = await callError(client, 'ListTasks', {});
    const stream = await rawStream(raw, '/rigger.v1.RiggerService/SubscribeToTaskEvents', [Buffer.alloc(0)], 'server');
    const still = await readyz();
    assert.equal(still?.status, 503, 'the check ended before health and the calls were seen; make the file larger');
    assert.equal(health.code, grpc.status.OK);
    assert.deepEqual([...health.response!], [0x08, 0x02], 'health: NOT_SERVING');
    assert.equal(listed.code, grpc.status.UNAVAILABLE, listed.message);
    assert.match(listed.details, /integrity check \(quick_check\) of the database is .*; retry when the health service says SERVING/);
    assert.equal(stream.code, grpc.status.UNAVAILABLE, stream.details);
    assert.match(stream.details, /integrity check/);

    await waitFor(() => /ready: listening on port/.test(server.stdout()) || server.child.exitCode !== null, 60_000, 'the ready line');
    assert.match(server.stdout(), /ready: listening on port/, server.stderr());
    assert.equal((await readyz())?.status, 200);
    const served = await rawUnary(raw, '/grpc.health.v1.Health/Check', Buffer.alloc(0));
    assert.deepEqual([...served.response!], [0x08, 0x01], 'health: SERVING');
    await call(client, 'AddTask', { title: 'after the check' });
    assert.equal((await call(client, 'ListTasks', {})).tasks.length, 1);
  } finally {
    raw.close();
    client.close();
    server.child.kill('SIGTERM');
    await server.exited;
  }
  assert.ok(fs.existsSync(recordOf(dir)), 'the clean stop after the check left no record');
});

test('rig task runs no quick_check: a corrupt page it does not read is not its to find, while rig grpc refuses the file', () => {
  const dir = tempProject();
  const file = dbOf(dir);
  const db = new Database(file);
  db.exec('CREATE TABLE filler (x BLOB)');
  db.exec('WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 200) INSERT INTO filler SELECT randomblob(3000) FROM n');
  const { pageno } = db.prepare(`SELECT pageno FROM dbstat WHERE name = 'filler' AND pagetype = 'leaf' ORDER BY path LIMIT 1 OFFSET 100`).get() as {
    pageno: number;
  };
  const pageSize = db.pragma('page_size', { simple: true }) as number;
  db.close();
  const page = randomBytes(pageSize);
  page[0] = 0; // not a page type
  const fd = fs.openSync(file, 'r+');
  fs.writeSync(fd, page, 0, pageSize, (pageno - 1) * pageSize);
  fs.closeSync(fd);

  for (const args of [
    ['task', 'add', 'beside a corrupt page', '-C', dir],
    ['task', 'list', '-C', dir],
  ]) {
    const result = rig(args);
    assert.equal(result.code, 0, `rig ${args.slice(0, 2).join(' ')}: ${result.stderr}`);
  }
  const served = rig(['grpc', '-C', dir, '--port', '0', '--host', '127.0.0.1'], { timeoutMs: 20_000 });
  assert.equal(served.code, 1, served.stdout);
  assert.match(served.stderr, /^rig: \S+tasks\.db is corrupt \(quick_check: .+\); it was left untouched[^\n]*\n$/);
});
