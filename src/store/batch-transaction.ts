import type { LoggedEvent } from '../model/logged-event';
import { translateSqliteError } from './sqlite-errors';
import type { QueuedWrite } from './write-queue';

/** How a batch reaches the database (the store's connection; a fake in tests). */
export interface Transactions {
  /** BEGIN IMMEDIATE ... COMMIT around `work`. */
  inWriteTransaction<T>(work: () => T): T;
  /** SAVEPOINT ... RELEASE around `work`, rolled back alone if it throws. */
  inSavepoint<T>(work: () => T): T;
  /** Whether a transaction is still open (some failures roll the whole of it back). */
  inTransaction(): boolean;
}

export interface Outcome {
  ok: boolean;
  value: unknown;
}

/** A batch whose COMMIT returned: each write's outcome, and the events of those that succeeded, in sequence order. */
export interface CommittedBatch {
  writes: QueuedWrite[];
  outcomes: Outcome[];
  events: LoggedEvent[];
}

/** Thrown when BEGIN itself failed: nothing of the batch ran. */
export class NotBegun extends Error {
  constructor(readonly cause: unknown) {
    super('the write transaction did not begin');
  }
}

/**
 * The transaction stage: a batch in one transaction, each write in its own savepoint, so one that
 * throws is rolled back alone and answered with its error. A failure that ends the transaction (a
 * full disk, I/O) or a failed COMMIT throws: nothing of the batch is written.
 */
export function runBatch(db: Transactions, writes: QueuedWrite[]): CommittedBatch {
  const events: LoggedEvent[] = [];
  const outcomes: Outcome[] = [];
  let began = false;
  try {
    db.inWriteTransaction(() => {
      began = true;
      for (const write of writes) {
        const own: LoggedEvent[] = [];
        try {
          outcomes.push({ ok: true, value: db.inSavepoint(() => write.run(own)) });
          for (const event of own) events.push(event);
        } catch (error) {
          if (!db.inTransaction()) throw error;
          outcomes.push({ ok: false, value: translateSqliteError(error) });
        }
      }
    });
  } catch (error) {
    throw began ? error : new NotBegun(error);
  }
  return { writes, outcomes, events };
}

/** The answer stage: each write gets its own outcome, or the sync's failure if the commit may not be durable. */
export function answerBatch(batch: CommittedBatch, syncFailure: unknown): void {
  batch.writes.forEach((write, i) => {
    const outcome = batch.outcomes[i]!;
    if (!outcome.ok) write.reject(outcome.value);
    else if (syncFailure !== undefined) write.reject(syncFailure);
    else write.resolve(outcome.value);
  });
}
