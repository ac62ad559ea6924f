import path from 'node:path';
import { Worker } from 'node:worker_threads';
import type { Logger } from 'pino';
import { AUTO_CHECKPOINT_PAGES, type SqliteDatabase } from './database';

/**
 * Moves WAL checkpoints off the server's event loop. SQLite otherwise checkpoints inside whichever
 * commit crosses the threshold: a copy of thousands of pages and two fsyncs, tens of milliseconds
 * during which no stream is written, which is what a subscriber sees as latency. A worker thread
 * with its own connection checkpoints every `intervalMs` instead; if it cannot run, the connection
 * checkpoints by itself again. Returns the function that stops it.
 */
export function startCheckpointer(db: SqliteDatabase, intervalMs: number, logger: Logger): () => Promise<void> {
  const worker = new Worker(path.join(__dirname, 'checkpoint-worker.js'), { workerData: { file: db.name, intervalMs } });
  let stopped = false;
  const fallBack = (reason: string) => {
    if (stopped) return;
    stopped = true; // an 'error' is followed by 'exit': say it once
    logger.warn({ reason }, 'background WAL checkpoints stopped; the server checkpoints in its own commits again');
    if (db.open) db.pragma(`wal_autocheckpoint = ${AUTO_CHECKPOINT_PAGES}`);
  };
  worker.once('online', () => {
    if (!stopped) db.pragma('wal_autocheckpoint = 0');
  });
  worker.on('message', (message: { failed?: string }) => {
    if (message.failed) logger.warn({ reason: message.failed }, 'background WAL checkpoint failed; will retry');
  });
  worker.once('error', (error) => fallBack(error.message));
  worker.once('exit', (code) => fallBack(`exit code ${code}`));
  return async () => {
    if (stopped) return;
    stopped = true;
    const exited = new Promise((resolve) => worker.once('exit', resolve));
    worker.postMessage({ stop: true });
    await exited;
    if (db.open) db.pragma(`wal_autocheckpoint = ${AUTO_CHECKPOINT_PAGES}`);
  };
}
