import path from 'node:path';
import { Worker } from 'node:worker_threads';
import type { Logger } from 'pino';
import type { CheckpointReport, CheckpointWorkerData } from './checkpoint-worker';
import { AUTO_CHECKPOINT_PAGES, JOURNAL_SIZE_LIMIT_BYTES, type SqliteDatabase } from './database';

/** How the WAL is kept bounded (docs/operations.md#wal-checkpoints has the figures behind them). */
export interface CheckpointOptions {
  /** How often the -wal file's size is looked at, in ms. */
  tickMs: number;
  /** A WAL this large is checkpointed with RESTART (writers held for the end of the copy). */
  restartBytes: number;
  /** A WAL unchanged this long is emptied (TRUNCATE), in ms. */
  idleMs: number;
  /** How long a RESTART/TRUNCATE checkpoint waits for the write lock and then for readers, in ms. */
  lockWaitMs: number;
}

export const DEFAULT_CHECKPOINT_OPTIONS: CheckpointOptions = {
  tickMs: 100,
  restartBytes: 16 * 1024 * 1024,
  idleMs: 1000,
  lockWaitMs: 250,
};

/** How often the server's WAL is checkpointed, off the event loop. */
export const SERVER_CHECKPOINT_INTERVAL_MS = 1000;

/**
 * Moves WAL checkpoints off the server's event loop and keeps the WAL bounded. SQLite otherwise
 * checkpoints inside whichever commit crosses the threshold: a copy of thousands of pages and two
 * fsyncs, tens of milliseconds during which no stream is written, which is what a subscriber sees
 * as latency. A worker thread with its own connection checkpoints instead (checkpoint-worker.ts:
 * PASSIVE every `intervalMs`, RESTART when the WAL passes `restartBytes`, TRUNCATE when it has
 * been idle for `idleMs`); if it cannot run, the connection checkpoints by itself again. Returns the
 * function that stops it.
 */
export function startCheckpointer(db: SqliteDatabase, intervalMs: number, logger: Logger, options: Partial<CheckpointOptions> = {}): () => Promise<void> {
  const settings = { ...DEFAULT_CHECKPOINT_OPTIONS, ...options };
  if (settings.restartBytes <= JOURNAL_SIZE_LIMIT_BYTES) {
    throw new Error(`restartBytes (${settings.restartBytes}) must exceed the journal size limit (${JOURNAL_SIZE_LIMIT_BYTES})`);
  }
  const workerData: CheckpointWorkerData = {
    file: db.name,
    intervalMs,
    tickMs: Math.min(settings.tickMs, intervalMs),
    restartBytes: settings.restartBytes,
    idleMs: settings.idleMs,
    lockWaitMs: settings.lockWaitMs,
    synchronous: db.pragma('synchronous', { simple: true }) as number,
  };
  const worker = new Worker(path.join(__dirname, 'checkpoint-worker.js'), { workerData });
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
  worker.on('message', (message: CheckpointReport) => {
    if (message.failed) logger.warn({ reason: message.failed }, 'background WAL checkpoint failed; will retry');
    if (message.checkpoint) {
      const { mode, walBytes, passiveMs, ms, busy } = message.checkpoint;
      logger.debug({ mode, wal_bytes: walBytes, passive_ms: Math.round(passiveMs), ms: Math.round(ms), busy }, 'WAL checkpoint');
    }
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
