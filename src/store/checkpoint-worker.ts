// Runs on a worker thread started by checkpointer.ts: its own connection to the database, which
// copies the WAL back into the database file every interval (PASSIVE: never waits for, or blocks,
// readers and writers).
import { parentPort, workerData } from 'node:worker_threads';
import Database from 'better-sqlite3';

const { file, intervalMs } = workerData as { file: string; intervalMs: number };
const db = new Database(file, { fileMustExist: true });
db.pragma('busy_timeout = 5000');
db.pragma('synchronous = NORMAL');

setInterval(() => {
  try {
    db.pragma('wal_checkpoint(PASSIVE)');
  } catch (error) {
    parentPort?.postMessage({ failed: (error as Error).message });
  }
}, intervalMs);

parentPort?.on('message', (message: { stop?: boolean }) => {
  if (!message.stop) return;
  db.close();
  process.exit(0);
});
