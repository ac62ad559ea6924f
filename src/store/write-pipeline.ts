// The write pipeline: queue -> batch -> transaction -> WAL sync -> publish -> answer. Every write
// of the server (task changes, PRD batches, consumer progress, compaction deletes) enters the one
// queue; this file only moves batches from stage to stage, each stage is its own module.
import fs from 'node:fs';
import { RiggerError } from '../model/errors';
import type { LoggedEvent } from '../model/logged-event';
import { answerBatch, NotBegun, runBatch, type CommittedBatch, type Transactions } from './batch-transaction';
import { isLockedError, translateSqliteError } from './sqlite-errors';
import type { Synced } from './wal-sync';
import { WriteQueue } from './write-queue';

/**
 * How long a batch that found the database locked waits before trying again, in ms: attempt by
 * attempt, then the last one over and over (SQLite's own busy handler starts 1, 2, 5, 10 too).
 * Each attempt is one BEGIN IMMEDIATE that fails at once, a few microseconds.
 */
const LOCK_RETRY_MS = [1, 2, 5, 10];

/**
 * In server mode, writes wait while the WAL is past this size: the checkpointer restarts it past a
 * third of that (checkpointer.ts), and a RESTART that keeps losing the write lock to writers
 * retrying every few ms would otherwise let it grow without end. Below the documented 64 MB bound,
 * with room for the batches already committing.
 */
export const WAL_HOLD_BYTES = 48 * 1024 * 1024;

export type CommitListener = (events: LoggedEvent[]) => void;

/** The sync stage (wal-sync.ts; a fake in tests). */
export interface CommitSync {
  /** Calls `done` once everything committed before this call is on disk (or the sync failed). */
  afterCommit(done: Synced): void;
  idle(): Promise<void>;
  close(): void;
}

/** Server mode: never wait inside SQLite on the event loop (TaskStore.neverBlock). */
export interface ServerMode {
  /** A locked database is retried on timers for this long after each write was queued. */
  lockWaitMs: number;
  walFile: string;
  /** Syncs the WAL off the event loop before writes are answered (full durability); absent: no sync. */
  sync: CommitSync | undefined;
  /** Told when a batch starts waiting for the lock and when it stops (the writer thread lets it in, writer-thread.ts). */
  lockWait?: (waiting: boolean) => void;
}

export class WritePipeline {
  private readonly queue = new WriteQueue();
  private readonly listeners: CommitListener[] = [];
  private server: ServerMode | undefined;
  private scheduled = false;
  private retryTimer: NodeJS.Timeout | undefined;
  private lockedAttempts = 0;
  /** Set by fence(): every write fails with it. */
  private fenced: RiggerError | undefined;
  /** Run before every transaction (file-watch.ts); an error it returns refuses the batch. */
  private checkWrite: () => RiggerError | undefined = () => undefined;
  private commitObserver: ((writes: number) => void) | undefined;
  private fenceListener: ((reason: RiggerError) => void) | undefined;

  /** The store's transactions with the checks before each BEGIN (inTransaction below), made once. */
  private readonly guarded: Transactions;

  /** `prepare` runs before each BEGIN: one-off set-up (the encoder's codegen) must not hold the write lock. */
  constructor(
    private readonly db: Transactions,
    private readonly prepare: () => void,
  ) {
    this.guarded = { ...db, inWriteTransaction: (work) => this.inTransaction(work) };
  }

  /** The server's mode of writing (see ServerMode); writeNow() is refused from then on. */
  serve(mode: ServerMode): void {
    this.server = mode;
  }

  /** Queues `run` (given the list its events go into); resolves with its result once its commit is durable. */
  enqueue<T>(run: (events: LoggedEvent[]) => T): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      this.queue.push({ run, resolve: resolve as (result: unknown) => void, reject, deadline: Date.now() + (this.server?.lockWaitMs ?? 0) });
      this.schedule();
    });
  }

  /** Not in server mode: one write in its own transaction, now (the connection's busy timeout waits for a lock); published after the commit. */
  writeNow<T>(run: (events: LoggedEvent[]) => T): T {
    if (this.server) throw new Error('the server never waits for a lock or a sync on its event loop; use a queued write');
    const events: LoggedEvent[] = [];
    let result: T;
    try {
      result = this.inTransaction(() => run(events));
    } catch (error) {
      throw translateSqliteError(error);
    }
    this.publish(events);
    return result;
  }

  onCommit(listener: CommitListener): void {
    this.listeners.push(listener);
  }

  observeCommits(observer: (writes: number) => void): void {
    this.commitObserver = observer;
  }

  fence(reason: RiggerError): void {
    if (this.fenced) return;
    this.fenced = reason;
    this.fenceListener?.(reason);
  }

  /** Called once, when the pipeline is fenced (a failed sync fences it too). */
  onFence(listener: (reason: RiggerError) => void): void {
    this.fenceListener = listener;
  }

  checkBeforeWrites(check: () => RiggerError | undefined): void {
    this.checkWrite = check;
  }

  /** The fence, if set (no file check: for a check on every write). */
  fencedBy(): RiggerError | undefined {
    return this.fenced;
  }

  writeRefusal(): RiggerError | undefined {
    return this.fenced ?? this.checkWrite();
  }

  /** Resolves once every commit so far is durable. */
  synced(): Promise<void> {
    return this.server?.sync?.idle() ?? Promise.resolve();
  }

  closeFiles(): void {
    this.server?.sync?.close();
  }

  /** The next batch, in the next turn, so the writes of this turn share it; none while a locked batch waits for its retry. */
  private schedule(): void {
    if (this.scheduled || this.retryTimer !== undefined || this.queue.length === 0) return;
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      this.commitNext();
    });
  }

  private commitNext(): void {
    if (this.queue.length === 0) return;
    // Held back (the WAL is past its bound): wait on the timers as for a lock, so the checkpointer's
    // RESTART gets the write lock instead of losing it to these writes, over and over.
    const heldBack = this.walOverBound();
    if (heldBack) return this.waitForLock(heldBack);
    const writes = this.queue.nextBatch();
    let batch: CommittedBatch;
    try {
      batch = runBatch(this.guarded, writes);
    } catch (error) {
      const cause = error instanceof NotBegun ? error.cause : error;
      if (error instanceof NotBegun && this.server && isLockedError(cause)) {
        this.queue.putBack(writes);
        this.server.lockWait?.(true);
        return this.waitForLock(translateSqliteError(cause));
      }
      this.server?.lockWait?.(false);
      const failure = translateSqliteError(cause);
      for (const write of writes) write.reject(failure);
      return this.schedule();
    }
    this.lockedAttempts = 0;
    this.server?.lockWait?.(false);
    this.commitObserver?.(writes.length);
    this.afterSync((failure) => {
      this.publish(batch.events);
      answerBatch(batch, failure);
    });
    this.schedule();
  }

  /** The sync stage: `settle` runs once the commit just made is durable (at once without a WAL sync). */
  private afterSync(settle: (failure?: RiggerError) => void): void {
    const sync = this.server?.sync;
    if (!sync) return settle();
    sync.afterCommit((error) => settle(error ? this.syncFailed(error) : undefined));
  }

  /** Events another writer of this process (the writer thread) committed, once durable: to the same listeners. */
  publishDurable(events: LoggedEvent[]): void {
    this.publish(events);
  }

  /** Counts a commit another writer of this process made (the server's metrics). */
  countCommit(writes: number): void {
    this.commitObserver?.(writes);
  }

  /** The publish stage: the hub hears of events only once they are durable, in commit order. */
  private publish(events: LoggedEvent[]): void {
    if (events.length > 0) for (const listener of this.listeners) listener(events);
  }

  private inTransaction<T>(work: () => T): T {
    const refused = this.fenced ?? this.checkWrite(); // the fence: a deleted or replaced file (file-watch.ts)
    if (refused) throw refused;
    this.prepare();
    return this.db.inWriteTransaction(work);
  }

  /** Fails the writes whose deadline has passed and tries the rest again after the next backoff step. */
  private waitForLock(failure: unknown): void {
    const now = Date.now();
    const first = this.queue.expire(now, failure);
    if (first === undefined) {
      this.lockedAttempts = 0;
      this.server?.lockWait?.(false);
      return;
    }
    const step = LOCK_RETRY_MS[Math.min(this.lockedAttempts++, LOCK_RETRY_MS.length - 1)]!;
    // Wake no later than the first deadline, so it fails on time.
    this.retryTimer = setTimeout(
      () => {
        this.retryTimer = undefined;
        this.commitNext();
      },
      Math.max(1, Math.min(step, first - now)),
    );
  }

  private walOverBound(): RiggerError | undefined {
    if (!this.server) return undefined;
    const { walFile } = this.server;
    const size = fs.statSync(walFile, { throwIfNoEntry: false })?.size ?? 0;
    if (size <= WAL_HOLD_BYTES) return undefined;
    return new RiggerError(
      'unavailable',
      `the write-ahead log (${walFile}) is over ${WAL_HOLD_BYTES / 1024 / 1024} MB and checkpoints cannot empty it (does another process hold a long read transaction?); nothing was written, try again`,
    );
  }

  /** A WAL sync that failed: what was committed may not survive a power cut, so no more writes. */
  private syncFailed(error: NodeJS.ErrnoException): RiggerError {
    const failure = new RiggerError(
      'unavailable',
      `the write was committed but syncing ${this.server!.walFile} to disk failed (${error.code ?? error.message}), so it may not survive a power cut; writes are refused from now on: check the disk, then restart rig grpc`,
    );
    this.fence(failure);
    return failure;
  }
}
