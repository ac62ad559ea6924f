// Runs on a worker thread started by checkpointer.ts: its own connection to the database, which
// copies the WAL back into the database file and keeps the WAL bounded. Every `tickMs` it looks at
// the size of the -wal file (one stat):
// - past `restartBytes`: a PASSIVE checkpoint (copies what it can, blocking no one), then a RESTART
//   checkpoint, which holds writers for the rest of the copy and until the readers of older
//   snapshots are done, so the next commit starts the WAL again from its beginning. Continuous
//   writes can never outrun it, as they outrun PASSIVE checkpoints alone. The server's writes
//   wait for it asynchronously (write-pipeline.ts), its event loop never;
// - unchanged for `idleMs`: a TRUNCATE checkpoint, which empties the -wal file when writes stop;
// - otherwise every `intervalMs`: a PASSIVE checkpoint (never waits for, or blocks, anyone).
// After a restart, the writer's first commit cuts the file back to journal_size_limit, so the file's
// size is the WAL's size whenever it matters here (database.ts sets the limit below restartBytes).
import fs from 'node:fs';
import { parentPort, workerData } from 'node:worker_threads';
import Database from 'better-sqlite3';

export interface CheckpointWorkerData {
  file: string;
  tickMs: number;
  intervalMs: number;
  restartBytes: number;
  idleMs: number;
  /** How long a RESTART/TRUNCATE checkpoint waits for the write lock, and then for readers, in ms. */
  lockWaitMs: number;
  /** PRAGMA synchronous of the server's connection: a checkpoint syncs the files the same way. */
  synchronous: number;
}

/** What the worker reports: a failure, or a RESTART/TRUNCATE checkpoint and how long it took. */
export interface CheckpointReport {
  failed?: string;
  checkpoint?: { mode: 'RESTART' | 'TRUNCATE'; walBytes: number; passiveMs: number; ms: number; busy: boolean };
}

const { file, tickMs, intervalMs, restartBytes, idleMs, lockWaitMs, synchronous } = workerData as CheckpointWorkerData;
const wal = `${file}-wal`;
const db = new Database(file, { fileMustExist: true });
db.pragma(`busy_timeout = ${lockWaitMs}`);
db.pragma(`synchronous = ${synchronous}`);

type Mode = 'PASSIVE' | 'RESTART' | 'TRUNCATE';
const checkpoint = (mode: Mode) => (db.pragma(`wal_checkpoint(${mode})`) as { busy: number }[])[0]!.busy !== 0;

let lastPassive = 0;
let lastSeen = '';
let lastChange = Date.now();
/** The -wal file as a RESTART left it: unchanged since, it holds nothing new however large it is. */
let restartedSeen = '';

/** The -wal file's size and a fingerprint that changes with every write to it; undefined when there is none. */
function walFile(): { size: number; seen: string } | undefined {
  try {
    const stat = fs.statSync(wal);
    return { size: stat.size, seen: `${stat.size}:${stat.mtimeMs}` };
  } catch {
    return undefined;
  }
}

function tick(): void {
  const now = Date.now();
  const current = walFile();
  if (!current) return; // no WAL (yet): nothing to do
  const { size, seen } = current;
  if (seen !== lastSeen) {
    lastSeen = seen;
    lastChange = now;
  }
  if (size >= restartBytes && seen !== restartedSeen) {
    const started = performance.now();
    checkpoint('PASSIVE');
    const passiveMs = performance.now() - started;
    const busy = checkpoint('RESTART');
    const ms = performance.now() - started - passiveMs;
    lastPassive = Date.now();
    restartedSeen = busy ? '' : (walFile()?.seen ?? ''); // not done: again at the next tick
    report({ checkpoint: { mode: 'RESTART', walBytes: size, passiveMs, ms, busy } });
  } else if (size > 0 && now - lastChange >= idleMs) {
    const started = performance.now();
    const busy = checkpoint('TRUNCATE');
    lastChange = Date.now(); // tried: not again before another idle period, whatever it found
    lastPassive = lastChange;
    report({ checkpoint: { mode: 'TRUNCATE', walBytes: size, passiveMs: 0, ms: performance.now() - started, busy } });
  } else if (now - lastPassive >= intervalMs) {
    checkpoint('PASSIVE');
    lastPassive = Date.now();
  }
}

function report(message: CheckpointReport): void {
  parentPort?.postMessage(message);
}

const timer = setInterval(() => {
  try {
    tick();
  } catch (error) {
    report({ failed: (error as Error).message });
  }
}, tickMs);

parentPort?.on('message', (message: { stop?: boolean }) => {
  if (!message.stop) return;
  clearInterval(timer);
  db.close();
  process.exit(0);
});
