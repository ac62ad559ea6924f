// Another process (Python's sqlite3, a different SQLite library) holds an exclusive transaction on
// tasks.db: the server's writes wait the busy timeout, then fail with UNAVAILABLE; reads and
// streams go on; once the lock is released writes succeed and the file is intact.
import assert from 'node:assert/strict';
import path from 'node:path';
import { after, test } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import { call, callError, collectEvents, connect } from '../support/client';
import { requireTool, spawnTracked, startServer, tempProject, waitFor } from '../support/processes';
import { assertConsistent } from './db-check';

const HOLD_LOCK = `
import sqlite3, sys
con = sqlite3.connect(sys.argv[1], isolation_level=None, timeout=10)
con.execute("BEGIN EXCLUSIVE")
print("locked", flush=True)
sys.stdin.readline()
con.execute("COMMIT")
print("released", flush=True)
`;

const clients: grpc.Client[] = [];
after(() => clients.forEach((c) => c.close()));

test('writes wait the busy timeout then fail UNAVAILABLE while another process holds the lock; reads and streams continue; writes succeed after release', async (t) => {
  const python = requireTool(t, 'python3', 'apt-get install python3');
  if (!python) return;
  const dir = tempProject();
  const dbFile = path.join(dir, '.rigger', 'tasks.db');
  const server = await startServer(dir, ['--busy-timeout-ms', '800']);
  const client = connect(server.address);
  clients.push(client);
  const { task } = await call(client, 'AddTask', { title: 'before the lock' });
  const subscriber = collectEvents(client, {});
  await subscriber.ready;

  const holder = spawnTracked(python, ['-c', HOLD_LOCK, dbFile], { stdio: ['pipe', 'pipe', 'pipe'] });
  let holderOut = '';
  holder.stdout!.on('data', (d) => (holderOut += d));
  await waitFor(() => holderOut.includes('locked'), 10_000, 'the other process to take the lock');

  const started = Date.now();
  const refused = await callError(client, 'AddTask', { title: 'during the lock' });
  const waited = Date.now() - started;
  assert.equal(refused.code, grpc.status.UNAVAILABLE);
  assert.match(refused.details, /locked by another process; nothing was written, try again/);
  assert.ok(waited >= 700, `the write gave up after ${waited} ms, before the 800 ms busy timeout`);
  assert.equal((await callError(client, 'UpdateTask', { task_id: task.id, status: 2 })).code, grpc.status.UNAVAILABLE);
  assert.equal((await callError(client, 'DeleteTask', { task_id: task.id })).code, grpc.status.UNAVAILABLE);

  // Readers are not blocked (WAL), and a new subscriber can still replay history.
  const listed = await call(client, 'ListTasks', {});
  assert.deepEqual(listed.tasks.map((x: { title: string }) => x.title), ['before the lock']);
  const replay = collectEvents(client, { since_sequence: 0 });
  assert.equal((await replay.waitForCount(1))[0]!.task.title, 'before the lock');

  holder.stdin!.write('release\n');
  await waitFor(() => holderOut.includes('released'), 10_000, 'the other process to release the lock');
  const { task: after } = await call(client, 'AddTask', { title: 'after the lock' });
  assert.equal(after.title, 'after the lock');
  const [event] = await subscriber.waitForCount(1);
  assert.equal(event!.task.title, 'after the lock', 'the first live event is the write after the lock: nothing from the refused ones');
  subscriber.cancel();
  replay.cancel();
  assert.equal(await server.stop(), 0);

  const check = assertConsistent(dbFile, assert);
  assert.equal(check.tasks, 2);
  assert.equal(check.events, 2);
});
