// Shutdown always ends: a subscriber that stopped reading (`rig events` under SIGSTOP, its socket
// full) must not keep `rig grpc` alive after SIGTERM. The server exits 0 within its grace period
// plus a second, and every write it acknowledged is in the database file.
import assert from 'node:assert/strict';
import path from 'node:path';
import { test } from 'node:test';
import Database from 'better-sqlite3';
import { call, connect } from '../support/client';
import { RIG_BIN, spawnTracked, startServer, tempProject, waitFor } from '../support/processes';

const GRACE_MS = 5000;
const WRITES = 3000;
const WRITERS = 16;

test('SIGTERM with a SIGSTOPped subscriber: exit 0 within the grace period + 1 s, every acknowledged write on disk', { timeout: 90_000 }, async () => {
  const dir = tempProject();
  const server = await startServer(dir);
  const client = connect(server.address);
  const events = spawnTracked(process.execPath, [RIG_BIN, 'events', '--since', '0', '--address', server.address, '-C', dir]);
  let printed = '';
  events.stdout!.on('data', (d) => (printed += d));
  try {
    await call(client, 'AddTask', { title: 'first' });
    await waitFor(() => printed.includes('first'), 15_000, 'rig events to print the first event');
    events.kill('SIGSTOP');

    // Big enough events that the stopped reader's socket and flow-control windows fill up.
    const acknowledged: string[] = [];
    let next = 0;
    await Promise.all(
      Array.from({ length: WRITERS }, async () => {
        while (next < WRITES) {
          next++;
          const { task } = await call(client, 'AddTask', { title: `task ${next} ${'x'.repeat(400)}`, assignee: 'Alice' });
          acknowledged.push(task.id);
        }
      }),
    );
    client.close();

    const stoppedAt = Date.now();
    const code = await server.stop('SIGTERM', GRACE_MS + 10_000);
    const tookMs = Date.now() - stoppedAt;
    assert.equal(code, 0, server.stderr());
    assert.ok(tookMs <= GRACE_MS + 1000, `the server took ${tookMs} ms to exit after SIGTERM (grace ${GRACE_MS} ms)`);

    const db = new Database(path.join(dir, '.rigger', 'tasks.db'), { readonly: true, fileMustExist: true });
    const ids = new Set((db.prepare('SELECT id FROM tasks').all() as { id: string }[]).map((r) => r.id));
    db.close();
    assert.equal(acknowledged.filter((id) => !ids.has(id)).length, 0, 'acknowledged writes missing from the database');
    assert.equal(ids.size, WRITES + 1);
  } finally {
    events.kill('SIGCONT');
    events.kill('SIGKILL');
    client.close();
    await server.stop('SIGKILL');
  }
});
