import type { LoggedEvent } from '../model/logged-event';
import { translateSqliteError } from './sqlite-errors';

/** The most writes one group commit takes; the rest wait for the next one. */
const MAX_GROUP = 256;

interface Queued {
  run(events: LoggedEvent[]): unknown;
  resolve(result: unknown): void;
  reject(error: unknown): void;
}

/** How a group commit reaches the database: the transaction and savepoints, and where events go after the commit. */
export interface GroupCommitTarget {
  inWriteTransaction<T>(work: () => T): T;
  inSavepoint<T>(work: () => T): T;
  /** Whether a transaction is still open (some failures roll the whole of it back). */
  inTransaction(): boolean;
  committed(events: LoggedEvent[]): void;
}

/**
 * Joins the writes queued in the same turn of the event loop into one transaction, which costs
 * one commit instead of one each. Every write runs in its own savepoint, so one that throws is
 * rolled back alone; all settle after the COMMIT, and if the COMMIT fails, all fail and nothing of
 * theirs is written.
 */
export class GroupCommit {
  private readonly queue: Queued[] = [];

  constructor(private readonly target: GroupCommitTarget) {}

  /** Queues `run` (given the list its events go into); resolves with its result after the commit. */
  enqueue<T>(run: (events: LoggedEvent[]) => T): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      this.queue.push({ run, resolve: resolve as (result: unknown) => void, reject });
      if (this.queue.length === 1) setImmediate(() => this.commit());
    });
  }

  private commit(): void {
    const group = this.queue.splice(0, MAX_GROUP);
    if (this.queue.length > 0) setImmediate(() => this.commit());
    const { target } = this;
    const events: LoggedEvent[] = [];
    const outcomes: { ok: boolean; value: unknown }[] = [];
    try {
      target.inWriteTransaction(() => {
        for (const item of group) {
          const itemEvents: LoggedEvent[] = [];
          try {
            outcomes.push({ ok: true, value: target.inSavepoint(() => item.run(itemEvents)) });
            events.push(...itemEvents);
          } catch (error) {
            // Some SQLite errors (a full disk, I/O) roll back the whole transaction: stop, all fail.
            if (!target.inTransaction()) throw error;
            outcomes.push({ ok: false, value: translateSqliteError(error) });
          }
        }
      });
    } catch (error) {
      const failure = translateSqliteError(error);
      for (const item of group) item.reject(failure);
      return;
    }
    target.committed(events);
    group.forEach((item, i) => (outcomes[i]!.ok ? item.resolve(outcomes[i]!.value) : item.reject(outcomes[i]!.value)));
  }
}
