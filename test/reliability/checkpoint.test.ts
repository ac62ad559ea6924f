// The server checkpoints the WAL on a worker thread, every second: committed events reach the
// database file itself while the server runs (SQLite alone would leave them in the WAL until it
// held ~40 MB), and the WAL does not grow without bound under a steady load.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import Database from 'better-sqlite3';
import { call, connect } from '../support/client';
import { startServer, tempDir, tempProject, waitFor } from '../support/processes';

/** Events in the database file alone, read from a copy of it without its WAL. */
function eventsInMainFile(dbFile: string): number {
  const copy = path.join(tempDir(), 'main-only.db');
  fs.copyFileSync(dbFile, copy);
  const db = new Database(copy, { readonly: true });
  try {
    return (db.prepare('SELECT count(*) AS n FROM events').get() as { n: number }).n;
  } finally {
    db.close();
  }
}

test('committed events reach the database file within seconds, and the WAL stays small', { timeout: 60_000 }, async () => {
  const dir = tempProject();
  const dbFile = path.join(dir, '.rigger', 'tasks.db');
  const server = await startServer(dir);
  const client = connect(server.address);
  try {
    let walPeak = 0;
    for (let round = 0; round < 5; round++) {
      await Promise.all(Array.from({ length: 100 }, (_, i) => call(client, 'AddTask', { title: `checkpointed ${round}-${i}` })));
      walPeak = Math.max(walPeak, fs.statSync(`${dbFile}-wal`).size);
    }
    await waitFor(() => eventsInMainFile(dbFile) === 500, 10_000, 'all 500 events in the database file without its WAL');
    // 500 AddTasks write about 3 MB of WAL frames; checkpointed every second, the WAL is reused.
    assert.ok(walPeak < 8 * 1024 * 1024, `WAL peaked at ${walPeak} bytes`);
  } finally {
    client.close();
    assert.equal(await server.stop(), 0);
  }
});
