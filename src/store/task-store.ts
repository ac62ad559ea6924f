import fs from 'node:fs';
import { RiggerError } from '../model/errors';
import type { EventEncoder, LoggedEvent } from '../model/logged-event';
import type { Task } from '../model/task';
import type { SqliteDatabase } from './database';
import { DEFAULT_CHECKPOINT_OPTIONS } from './checkpointer';
import { GroupCommit } from './group-commit';
import { MutationStatements, StoreMutation, type Mutation } from './mutation';
import type { PrdReader } from './prd-records';
import { translateSqliteError } from './sqlite-errors';
import { TaskQueries, type ListFilter, type TaskPage } from './task-queries';
import { WalSync } from './wal-sync';

/**
 * In server mode, writes wait while the WAL is past this size: the checkpointer restarts it past a
 * third of that (checkpointer.ts), and a RESTART that keeps losing the write lock to writers
 * retrying every few ms would otherwise let it grow without end. Below the documented 64 MB bound,
 * with room for the groups already committing.
 */
export const WAL_HOLD_BYTES = 48 * 1024 * 1024;

/** PRAGMA synchronous values: 1 NORMAL, 2 FULL, 3 EXTRA. */
const SYNCHRONOUS_FULL = 2;

export type CommitListener = (events: LoggedEvent[]) => void;

/**
 * The only writer of tasks and events: reads (getTask, listTasks), writes (write, writeGrouped)
 * and the commit hook the hub publishes from. A write's events reach onCommit listeners only after
 * its transaction has committed.
 */
export class TaskStore {
  private readonly listeners: CommitListener[] = [];
  private readonly queries: TaskQueries;
  private readonly statements: MutationStatements;
  private readonly groups: GroupCommit;
  /** One BEGIN IMMEDIATE wrapper, made once: better-sqlite3 builds four wrappers per db.transaction() call. */
  private readonly inWriteTransaction: <T>(work: () => T) => T;
  /** Set by fence(): every write fails with it. */
  private fenced: RiggerError | undefined;
  /** The -wal file watched in server mode (neverBlock). */
  private walFile: string | undefined;
  /** In server mode with full durability: syncs the WAL off the event loop before writes settle. */
  private walSync: WalSync | undefined;
  /** Run before every write transaction (file-watch.ts); an error it returns refuses the write. */
  private checkWrite: () => RiggerError | undefined = () => undefined;
  /** Told of each group commit's size (observeCommits). */
  private commitObserver: ((writes: number) => void) | undefined;

  constructor(
    private readonly db: SqliteDatabase,
    private readonly encoder: EventEncoder,
  ) {
    this.queries = new TaskQueries(db);
    this.statements = new MutationStatements(db, this.queries, encoder);
    this.inWriteTransaction = db.transaction((work: () => unknown) => work()).immediate as <T>(work: () => T) => T;
    // Inside a transaction, better-sqlite3 runs a nested one as a SAVEPOINT.
    const inSavepoint = db.transaction((work: () => unknown) => work()) as <T>(work: () => T) => T;
    this.groups = new GroupCommit({
      inWriteTransaction: (work) => this.transaction(work),
      inSavepoint,
      inTransaction: () => db.inTransaction,
      committed: (events) => this.publish(events),
      afterCommit: (settle) => (this.walSync ? this.walSync.afterCommit((error) => settle(error ? this.syncFailed(error) : undefined)) : settle()),
      holdBack: () => this.walOverBound(),
      transactionCommitted: (writes) => this.commitObserver?.(writes),
    });
  }

  /** Stored PRDs, enhancements and comprehension tests (written only through a write). */
  get prds(): PrdReader {
    return this.statements.prds;
  }

  /** Called after every commit with the events it wrote, in sequence order. */
  onCommit(listener: CommitListener): void {
    this.listeners.push(listener);
  }

  getTask(id: string): Task | undefined {
    return this.queries.getTask(id);
  }

  /** One page of tasks, newest first; pass nextPageToken back as pageToken for the next one (task-queries.ts). */
  listTasks(filter: ListFilter): TaskPage {
    return this.queries.listTasks(filter);
  }

  idsStartingWith(prefix: string, limit: number): string[] {
    return this.queries.idsStartingWith(prefix, limit);
  }

  /**
   * Server mode (`rig grpc`): the event loop never waits inside SQLite, for a lock or for the disk.
   * The connection's busy_timeout is 0, so a lock held by another process never stops the loop: a
   * grouped write that finds the database locked waits on timers and retries, until `lockWaitMs`
   * after it was queued, then fails UNAVAILABLE. With full durability, COMMIT no longer syncs
   * (synchronous=NORMAL) and grouped writes settle only once the WAL has been synced from the
   * thread pool (wal-sync.ts): acknowledged still means on disk. Only writeGrouped is for this
   * mode; write() refuses. Reads never wait for writers in WAL mode.
   */
  neverBlock(lockWaitMs: number): void {
    this.db.pragma('busy_timeout = 0');
    this.groups.retryLocked(lockWaitMs);
    this.walFile = `${this.db.name}-wal`;
    if ((this.db.pragma('synchronous', { simple: true }) as number) >= SYNCHRONOUS_FULL) {
      this.db.pragma('synchronous = NORMAL');
      this.walSync = new WalSync(this.walFile);
    }
  }

  /** Resolves once every commit so far is durable (shutdown waits for it before closing). */
  synced(): Promise<void> {
    return this.walSync?.idle() ?? Promise.resolve();
  }

  /** Releases what server mode holds open; after the database is closed. */
  closeFiles(): void {
    this.walSync?.close();
  }

  /**
   * Whether background deletes (the compactor, before each batch) should wait for a checkpoint: the
   * WAL is past the size at which the checkpointer restarts it. Stopping there, well below the bound
   * that holds writes back, means a large compaction never makes writers wait for its pages.
   */
  compactionWaits(): boolean {
    if (this.walFile === undefined) return false;
    return (fs.statSync(this.walFile, { throwIfNoEntry: false })?.size ?? 0) > DEFAULT_CHECKPOINT_OPTIONS.restartBytes;
  }

  /** In server mode: a WAL past WAL_HOLD_BYTES holds writes back until a checkpoint has restarted it. */
  private walOverBound(): RiggerError | undefined {
    if (this.walFile === undefined) return undefined;
    const size = fs.statSync(this.walFile, { throwIfNoEntry: false })?.size ?? 0;
    if (size <= WAL_HOLD_BYTES) return undefined;
    return new RiggerError(
      'unavailable',
      `the write-ahead log (${this.walFile}) is over ${WAL_HOLD_BYTES / 1024 / 1024} MB and checkpoints cannot empty it (does another process hold a long read transaction?); nothing was written, try again`,
    );
  }

  /**
   * Runs `work` in one write transaction, now; its events are published after the commit (which
   * syncs, as the connection's durability says). Not in server mode (neverBlock).
   */
  write<T>(actor: string | undefined, work: (m: Mutation) => T): T {
    if (this.walFile !== undefined) throw new Error('TaskStore.write() cannot wait for a lock or a sync in server mode; use writeGrouped()');
    const events: LoggedEvent[] = [];
    let result: T;
    try {
      result = this.transaction(() => work(new StoreMutation(this.statements, actor, events)));
    } catch (error) {
      throw translateSqliteError(error);
    }
    this.publish(events);
    return result;
  }

  /**
   * Like write, but asynchronous: shares one commit with the writes queued in the same turn (group
   * commit), and in server mode waits for a lock or a sync without blocking (neverBlock). Resolves
   * once the write is durable.
   */
  writeGrouped<T>(actor: string | undefined, work: (m: Mutation) => T): Promise<T> {
    return this.groups.enqueue((events) => work(new StoreMutation(this.statements, actor, events)));
  }

  /**
   * Writes state that is not a task change (a durable consumer's acks and position) in the next
   * group commit: no events, the same never-blocking lock retry and WAL sync as writeGrouped.
   * Resolves once it is durable.
   */
  writeState<T>(work: () => T): Promise<T> {
    return this.groups.enqueue(() => work());
  }

  /** From now on every write (queued ones included) fails with `reason` before opening a transaction. */
  fence(reason: RiggerError): void {
    this.fenced ??= reason;
  }

  /** Calls `observer` after each group commit's COMMIT with the number of writes it held (the server's metrics). */
  observeCommits(observer: (writes: number) => void): void {
    this.commitObserver = observer;
  }

  /**
   * Why writes are refused now (the store is fenced, or the check before writes finds the file
   * deleted or replaced, which fences it), or undefined when they are accepted. For /readyz.
   */
  writeRefusal(): RiggerError | undefined {
    return this.fenced ?? this.checkWrite();
  }

  /** Runs `check` before every write transaction; an error it returns fails that write (file-watch.ts fences then). */
  checkBeforeWrites(check: () => RiggerError | undefined): void {
    this.checkWrite = check;
  }

  private transaction<T>(work: () => T): T {
    const refused = this.fenced ?? this.checkWrite(); // the fence: a deleted or replaced file (file-watch.ts)
    if (refused) throw refused;
    // The encoder's one-off set-up (protobufjs codegen) must not run while the write lock is held.
    this.encoder.prepare();
    return this.inWriteTransaction(work);
  }

  /** A WAL sync that failed: what was committed may not survive a power cut, so no more writes. */
  private syncFailed(error: NodeJS.ErrnoException): RiggerError {
    const failure = new RiggerError(
      'unavailable',
      `the write was committed but syncing ${this.walFile} to disk failed (${error.code ?? error.message}), so it may not survive a power cut; writes are refused from now on: check the disk, then restart rig grpc`,
    );
    this.fence(failure);
    return failure;
  }

  private publish(events: LoggedEvent[]): void {
    if (events.length > 0) for (const listener of this.listeners) listener(events);
  }
}
