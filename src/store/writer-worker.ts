// Runs on the writer thread started by writer-thread.ts: its own write connection, the write
// pipeline (write-pipeline.ts) in server mode as on the main thread (COMMIT without a sync, the
// -wal file fdatasynced from the thread pool while the next batch commits), the task writes
// (task-command.ts) run in it, each event encoded here once. Its events and answers leave only
// once durable; the main thread's log watcher does not read while it has writes in flight
// (EventLog.dataVersion), so nothing it committed is published before its sync.
import { parentPort, workerData } from 'node:worker_threads';
import Database from 'better-sqlite3';
import type { RiggerError } from '../model/errors';
import type { EventEncoder } from '../model/logged-event';
import { configureConnection } from './database';
import { fileChangedError, FileIdentity } from './file-watch';
import { runTaskCommand } from './task-command';
import { TaskStore } from './task-store';
import {
  errorOfWire,
  FLAG_CLOSED,
  FLAG_MAIN_WAITS,
  packEvents,
  wireError,
  type FromWriter,
  type ToWriter,
  type WriterItem,
  type WriterWorkerData,
} from './writer-messages';

/** How long a batch here waits, at most, for the main thread's writes that wait for the lock. */
const MAIN_TURN_MS = 50;

const data = workerData as WriterWorkerData;
const flags = new Int32Array(data.flags);
const db = new Database(data.file, { fileMustExist: true });
configureConnection(db, data.synchronous);
const encoder = (require(data.encoderModule) as Record<string, EventEncoder>)[data.encoderExport]!;
const tasks = new TaskStore(db, encoder, data.logId);
tasks.neverBlock(data.lockWaitMs);

const identity = new FileIdentity(data.file);
let fenced: RiggerError | undefined;
tasks.checkBeforeWrites(() => {
  if (Atomics.load(flags, FLAG_MAIN_WAITS) === 1) Atomics.wait(flags, FLAG_MAIN_WAITS, 1, MAIN_TURN_MS);
  if (fenced) return fenced;
  const change = identity.change();
  if (change !== undefined) fenced = fileChangedError(change);
  return fenced;
});

let outbox: WriterItem[] = [];
let transfer: ArrayBuffer[] = [];
const send = (item: WriterItem) => {
  // Flushed after the microtasks already queued: the answers of one commit leave together.
  if (outbox.length === 0) queueMicrotask(flush);
  outbox.push(item);
};
const flush = () => {
  const message: FromWriter = { items: outbox };
  parentPort!.postMessage(message, transfer);
  outbox = [];
  transfer = [];
};
tasks.onCommit((events) => {
  const packed = packEvents(events);
  transfer.push(packed.bytes);
  send({ events: packed });
});
tasks.observeCommits((writes) => send({ committed: writes }));

parentPort!.on('message', (message: ToWriter) => {
  switch (message.type) {
    case 'writes':
      message.commands.forEach((command, i) => {
        const id = message.ids[i]!;
        tasks
          .writeGrouped(command.actor, (m) => runTaskCommand(m, command))
          .then(
            (task) => send({ id, task }),
            (error: unknown) => send({ id, error: wireError(error) }),
          );
      });
      return;
    case 'fence':
      tasks.fence(errorOfWire(message) as RiggerError);
      return;
    case 'close':
      void tasks.synced().then(() => {
        db.close();
        tasks.closeFiles();
        Atomics.store(flags, FLAG_CLOSED, 1);
        Atomics.notify(flags, FLAG_CLOSED);
        process.exit(0);
      });
  }
});
