import type { Logger } from 'pino';
import { RiggerError } from '../model/errors';
import type { EventLog, Retention } from './event-log';

/** Rows per delete: each batch is one turn of the event loop, short enough not to show in a writer's latency. */
const BATCH = 500;
/** How long compaction waits, while the WAL waits for a checkpoint, before it looks again, in ms. */
const HELD_BACK_RETRY_MS = 20;

/**
 * Trims the event log to its retention in the background: small batches, each one write of the
 * write pipeline (`write`: TaskStore.writeState), so a delete takes its turn with the other writes,
 * is fenced with them and never waits for a lock on the event loop. Runs
 * at start-up and then every `intervalMs`; a batch that finds the database locked waits for the next run.
 * Deleting is writing: while `heldBack()` (the WAL is due for a checkpoint, TaskStore.compactionWaits)
 * it waits, or a run over a large backlog would grow the WAL by tens of MB in one burst and make
 * writers wait for the checkpoints.
 * `keepFrom` (the durable consumers' retention hold) may keep more than the retention says.
 * `onRun` is told the events each run deleted.
 */
export function startCompactor(
  log: EventLog,
  write: (work: () => number) => Promise<number>,
  retention: Retention,
  intervalMs: number,
  logger: Logger,
  heldBack: () => boolean = () => false,
  keepFrom?: (wanted: number) => number,
  /** Told when each run ends, with the events it deleted (the server's metrics); optional. */
  onRun?: (deleted: number) => void,
): () => void {
  if (retention.events <= 0 && retention.days <= 0) return () => {};
  let running = false;
  let stopped = false;
  const step = (deletedSoFar: number): void => {
    if (stopped) return;
    if (heldBack()) {
      setTimeout(() => step(deletedSoFar), HELD_BACK_RETRY_MS).unref();
      return;
    }
    const failed = (error: unknown) => {
      // A batch that found the database locked past the lock wait (another process, a
      // checkpoint), or a fenced store, is simply tried again on the next run.
      if (error instanceof RiggerError && error.kind === 'unavailable')
        logger.debug({ reason: error.message }, 'event log compaction waits for the database; will retry');
      else logger.warn({ err: error }, 'event log compaction failed; will retry');
      finish(deletedSoFar, 0);
    };
    let below: number;
    try {
      below = log.retainedFrom(retention, Date.now(), keepFrom);
    } catch (error) {
      return failed(error);
    }
    if (below === 0) return finish(deletedSoFar, 0);
    // The hold is asked again inside the write: a consumer created since the read keeps its events.
    write(() => log.deleteBefore(keepFrom ? Math.min(below, keepFrom(below)) : below, BATCH)).then((deleted) => finish(deletedSoFar, deleted), failed);
  };
  const finish = (deletedSoFar: number, deleted: number): void => {
    if (deleted === BATCH && !stopped) {
      setImmediate(() => step(deletedSoFar + deleted));
      return;
    }
    running = false;
    onRun?.(deletedSoFar + deleted);
    if (deletedSoFar + deleted > 0) {
      logger.info({ deleted: deletedSoFar + deleted, oldest_sequence: log.oldestSequence() }, 'event log compacted');
    }
  };
  const run = () => {
    if (running) return;
    running = true;
    step(0);
  };
  const timer = setInterval(run, intervalMs);
  timer.unref();
  // Once at start-up too: a server restarted after a long stop trims at once, not an interval later.
  setImmediate(run);
  return () => {
    stopped = true;
    clearInterval(timer);
  };
}
