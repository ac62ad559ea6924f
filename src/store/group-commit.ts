import type { RiggerError } from '../model/errors';
import type { LoggedEvent } from '../model/logged-event';
import { isLockedError, translateSqliteError } from './sqlite-errors';

/** The most writes one group commit takes; the rest wait for the next one. */
const MAX_GROUP = 256;

/**
 * How long a group that found the database locked waits before trying again, in ms: attempt by
 * attempt, then the last one over and over (SQLite's own busy handler starts 1, 2, 5, 10 too).
 * Each attempt is one BEGIN IMMEDIATE that fails at once, a few microseconds.
 */
const LOCK_RETRY_MS = [1, 2, 5, 10];

interface Queued {
  run(events: LoggedEvent[]): unknown;
  resolve(result: unknown): void;
  reject(error: unknown): void;
  /** When it stops waiting for a lock held elsewhere and fails UNAVAILABLE (Date.now() ms). */
  deadline: number;
}

/** How a group commit reaches the database: the transaction and savepoints, and where events go after the commit. */
export interface GroupCommitTarget {
  inWriteTransaction<T>(work: () => T): T;
  inSavepoint<T>(work: () => T): T;
  /** Whether a transaction is still open (some failures roll the whole of it back). */
  inTransaction(): boolean;
  committed(events: LoggedEvent[]): void;
  /**
   * Calls `settle` once the commit just made is durable: at once, or after a sync off the event
   * loop (wal-sync.ts), with the failure every write of it ends with if that sync failed.
   */
  afterCommit(settle: (failure?: unknown) => void): void;
  /** Why writes must wait before the next BEGIN (the WAL is over its bound), or undefined to go ahead. */
  holdBack(): RiggerError | undefined;
  /** Told of each COMMIT, with how many writes it held (the operations endpoint's histogram); optional. */
  transactionCommitted?(writes: number): void;
}

/**
 * Joins the writes queued in the same turn of the event loop into one transaction, which costs
 * one commit instead of one each. Every write runs in its own savepoint, so one that throws is
 * rolled back alone; all settle once the COMMIT is durable (and the next group may commit
 * meanwhile), and if the COMMIT fails, all fail and nothing of theirs is written. Events are
 * published when their writes settle, in commit order.
 *
 * With retryLocked(ms) (the server: its connection's busy timeout is 0), a group whose BEGIN finds
 * the write lock held elsewhere (another process, or a checkpoint holding writers for a moment)
 * does not wait inside SQLite, which would stop the event loop: it goes back to the head of the
 * queue and tries again on a timer, with backoff, and each write fails UNAVAILABLE once `ms` have
 * passed since it was queued. Nothing of theirs was written; order is kept.
 */
export class GroupCommit {
  private readonly queue: Queued[] = [];
  /** undefined: a lock failure fails the group at once (the connection's busy timeout already waited). */
  private lockWaitMs: number | undefined;
  private scheduled = false;
  private retryTimer: NodeJS.Timeout | undefined;
  private lockedAttempts = 0;

  constructor(private readonly target: GroupCommitTarget) {}

  /** Retries a locked database asynchronously, for up to `ms` after each write was queued. */
  retryLocked(ms: number): void {
    this.lockWaitMs = ms;
  }

  /** Queues `run` (given the list its events go into); resolves with its result once the commit is durable. */
  enqueue<T>(run: (events: LoggedEvent[]) => T): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      this.queue.push({ run, resolve: resolve as (result: unknown) => void, reject, deadline: Date.now() + (this.lockWaitMs ?? 0) });
      this.schedule();
    });
  }

  /** The next commit, in the next turn; none while a locked group waits for its retry. */
  private schedule(): void {
    if (this.scheduled || this.retryTimer !== undefined || this.queue.length === 0) return;
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      this.commit();
    });
  }

  private commit(): void {
    if (this.queue.length === 0) return;
    const { target } = this;
    // Held back (the WAL is past its bound): wait on the timers as for a lock, so the checkpointer's
    // RESTART gets the write lock instead of losing it to these writes, over and over.
    const heldBack = this.lockWaitMs !== undefined ? target.holdBack() : undefined;
    if (heldBack) return this.waitForLock(heldBack);
    const group = this.queue.splice(0, MAX_GROUP);
    const events: LoggedEvent[] = [];
    const outcomes: { ok: boolean; value: unknown }[] = [];
    let began = false;
    try {
      target.inWriteTransaction(() => {
        began = true;
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
      if (!began && this.lockWaitMs !== undefined && isLockedError(error)) {
        // BEGIN IMMEDIATE did not get the lock: nothing ran. Back to the head of the queue, in order.
        this.queue.unshift(...group);
        this.waitForLock(translateSqliteError(error));
        return;
      }
      const failure = translateSqliteError(error);
      for (const item of group) item.reject(failure);
      this.schedule();
      return;
    }
    this.lockedAttempts = 0;
    target.transactionCommitted?.(group.length);
    target.afterCommit((failure) => {
      target.committed(events);
      group.forEach((item, i) => {
        const outcome = outcomes[i]!;
        if (!outcome.ok) item.reject(outcome.value);
        else if (failure !== undefined) item.reject(failure);
        else item.resolve(outcome.value);
      });
    });
    this.schedule();
  }

  /** Fails the writes whose deadline has passed and tries the rest again after the next backoff step. */
  private waitForLock(failure: unknown): void {
    const now = Date.now();
    let kept = 0;
    for (const item of this.queue) {
      if (item.deadline <= now) item.reject(failure);
      else this.queue[kept++] = item;
    }
    this.queue.length = kept;
    if (kept === 0) {
      this.lockedAttempts = 0;
      return;
    }
    const step = LOCK_RETRY_MS[Math.min(this.lockedAttempts++, LOCK_RETRY_MS.length - 1)]!;
    // The queue is in deadline order: wake no later than the first deadline, so it fails on time.
    const delay = Math.max(1, Math.min(step, this.queue[0]!.deadline - now));
    this.retryTimer = setTimeout(() => {
      this.retryTimer = undefined;
      this.commit();
    }, delay);
  }
}
