// The server checkpoints the WAL on a worker thread, every second: committed events reach the
// database file itself while the server runs (SQLite alone would leave them in the WAL until it
// held ~40 MB), and the WAL is reused instead of growing burst after burst.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import Database from 'better-sqlite3';
import { call, connect } from '../support/client';
import { startServer, tempDir, tempProject, waitFor } from '../support/processes';

/**
 * Events in the database file alone, read from a copy of it without its WAL; undefined when the copy
 * was taken while a checkpoint was writing the file (a torn copy fails quick_check), to be sampled again.
 */
function eventsInMainFile(dbFile: string, copy: string): number | undefined {
  fs.copyFileSync(dbFile, copy);
  const db = new Database(copy, { readonly: true });
  try {
    if (db.pragma('quick_check', { simple: true }) !== 'ok') return undefined;
    return (db.prepare('SELECT count(*) AS n FROM events').get() as { n: number }).n;
  } catch (error) {
    if ((error as { code?: string }).code === 'SQLITE_CORRUPT') return undefined;
    throw error;
  } finally {
    db.close();
  }
}

test('committed events reach the database file within seconds, and the WAL stays small', { timeout: 60_000 }, async () => {
  const dir = tempProject();
  const dbFile = path.join(dir, '.rigger', 'tasks.db');
  const copy = path.join(tempDir(), 'main-only.db');
  const server = await startServer(dir);
  const client = connect(server.address);
  try {
    // Five bursts with a pause longer than the checkpoint interval after each: checkpointed, the
    // WAL is reused and stays about one burst long; not checkpointed, it holds all five.
    const walSizes: number[] = [];
    for (let round = 0; round < 5; round++) {
      await Promise.all(Array.from({ length: 100 }, (_, i) => call(client, 'AddTask', { title: `checkpointed ${round}-${i}` })));
      walSizes.push(fs.statSync(`${dbFile}-wal`).size);
      // The pause lasts until the background checkpoint has moved the burst into the database file.
      await waitFor(() => eventsInMainFile(dbFile, copy) === 100 * (round + 1), 10_000, `burst ${round} checkpointed into the database file`);
    }
    await waitFor(() => eventsInMainFile(dbFile, copy) === 500, 10_000, 'all 500 events in the database file without its WAL');
    assert.ok(Math.max(...walSizes) < 2.5 * walSizes[0]!, `the WAL grew burst after burst: ${walSizes.join(', ')} bytes`);
  } finally {
    client.close();
    assert.equal(await server.stop(), 0);
  }
});
