import fs from 'node:fs';
import type { RiggerError } from '../model/errors';
import type { EventEncoder } from '../model/logged-event';
import type { Task } from '../model/task';
import type { SqliteDatabase } from './database';
import { DEFAULT_CHECKPOINT_OPTIONS } from './checkpointer';
import { MutationStatements, StoreMutation, type Mutation } from './mutation';
import type { PrdReader } from './prd-records';
import { runTaskCommand, type TaskCommand } from './task-command';
import { TaskQueries, type ListFilter, type TaskPage } from './task-queries';
import { WalSync } from './wal-sync';
import { WritePipeline, type CommitListener } from './write-pipeline';
import { ThreadWriter } from './writer-thread';

/** PRAGMA synchronous values: 1 NORMAL, 2 FULL, 3 EXTRA. */
const SYNCHRONOUS_FULL = 2;

/** Where the server's task writes run: on this thread (`inline`), or on a writer thread of their own (writer-thread.ts). */
export type WriterChoice = { kind: 'inline' } | { kind: 'thread'; encoderModule: string; encoderExport: string };

export interface ServeOptions {
  writer?: WriterChoice;
}

/**
 * The tasks' reader and the writers' entry: reads (getTask, listTasks) and the writes, which go
 * through the write pipeline (write-pipeline.ts) as mutations (mutation.ts). A write's events reach
 * onCommit listeners only once its commit is durable.
 */
export class TaskStore {
  private readonly queries: TaskQueries;
  private readonly statements: MutationStatements;
  private readonly pipeline: WritePipeline;
  /** The -wal file, in server mode (neverBlock). */
  private walFile: string | undefined;
  /** The writer thread, when task writes run on one (neverBlock with writer `thread`). */
  private thread: ThreadWriter | undefined;

  constructor(
    private readonly db: SqliteDatabase,
    encoder: EventEncoder,
    logId: string,
  ) {
    this.queries = new TaskQueries(db);
    this.statements = new MutationStatements(db, this.queries, encoder, logId);
    // Each wrapper made once: better-sqlite3 builds four per db.transaction() call; nested, one runs as a SAVEPOINT.
    const inWriteTransaction = db.transaction((work: () => unknown) => work()).immediate as <T>(work: () => T) => T;
    const inSavepoint = db.transaction((work: () => unknown) => work()) as <T>(work: () => T) => T;
    this.pipeline = new WritePipeline({ inWriteTransaction, inSavepoint, inTransaction: () => db.inTransaction }, () => encoder.prepare());
  }

  /** Stored PRDs, enhancements and comprehension tests (written only through a write). */
  get prds(): PrdReader {
    return this.statements.prds;
  }

  /** Called after every commit with the events it wrote, in sequence order. */
  onCommit(listener: CommitListener): void {
    this.pipeline.onCommit(listener);
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
   * queued write that finds the database locked waits on timers and retries, until `lockWaitMs`
   * after it was queued, then fails UNAVAILABLE. With full durability, COMMIT no longer syncs
   * (synchronous=NORMAL) and writes settle only once the WAL has been synced from the thread pool
   * (wal-sync.ts): acknowledged still means on disk. write() refuses from then on. Reads never wait
   * for writers in WAL mode. With writer `thread`, task writes (writeTask) run on a writer thread
   * with its own connection (writer-thread.ts); the rest stay on this one, as above.
   */
  neverBlock(lockWaitMs: number, options: ServeOptions = {}): void {
    this.db.pragma('busy_timeout = 0');
    this.walFile = `${this.db.name}-wal`;
    const synchronous = this.db.pragma('synchronous', { simple: true }) as number;
    let sync: WalSync | undefined;
    if (synchronous >= SYNCHRONOUS_FULL) {
      this.db.pragma('synchronous = NORMAL');
      sync = new WalSync(this.walFile);
    }
    const writer = options.writer;
    if (writer?.kind === 'thread') {
      this.thread = new ThreadWriter(
        { file: this.db.name, logId: this.statements.logId, lockWaitMs, synchronous, encoderModule: writer.encoderModule, encoderExport: writer.encoderExport },
        {
          publish: (events) => this.pipeline.publishDurable(events),
          committed: (writes) => this.pipeline.countCommit(writes),
          died: (failure) => this.pipeline.fence(failure),
        },
      );
    }
    const thread = this.thread;
    if (thread) this.pipeline.onFence((reason) => thread.fence(reason));
    this.pipeline.serve({ lockWaitMs, walFile: this.walFile, sync, ...(thread && { lockWait: (waiting: boolean) => thread.mainWaits(waiting) }) });
  }

  /** Resolves once every commit so far is durable (shutdown waits for it before closing). */
  synced(): Promise<void> {
    return Promise.all([this.pipeline.synced(), this.thread?.idle()]).then(() => undefined);
  }

  /** Whether the writer thread holds writes not yet answered (it publishes their events as they come back). */
  threadWritesInFlight(): boolean {
    return this.thread?.inFlight() ?? false;
  }

  /** Closes the writer thread's connection, if any; before this store's connection closes (store.ts). */
  closeWriter(): void {
    this.thread?.close();
  }

  /** Releases what server mode holds open; after the database is closed. */
  closeFiles(): void {
    this.pipeline.closeFiles();
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

  /** Runs `work` in one write transaction, now (the CLI); not in server mode (neverBlock). */
  write<T>(actor: string | undefined, work: (m: Mutation) => T): T {
    return this.pipeline.writeNow((events) => work(new StoreMutation(this.statements, actor, events)));
  }

  /**
   * Queues a write: it shares one commit with the writes queued in the same turn, and in server mode
   * waits for a lock or a sync without blocking (neverBlock). Resolves once the write is durable.
   */
  writeGrouped<T>(actor: string | undefined, work: (m: Mutation) => T): Promise<T> {
    return this.pipeline.enqueue((events) => work(new StoreMutation(this.statements, actor, events)));
  }

  /**
   * Queues a task write a client sent (AddTask, UpdateTask, DeleteTask, WriteTasks): on the writer
   * thread when there is one, else as writeGrouped. Resolves with the task once durable.
   */
  writeTask(command: TaskCommand): Promise<Task> {
    if (this.thread) {
      const refused = this.pipeline.fencedBy();
      return refused ? Promise.reject(refused) : this.thread.write(command);
    }
    return this.writeGrouped(command.actor, (m) => runTaskCommand(m, command));
  }

  /**
   * Queues a write of state that is not a task change (a durable consumer's acks and position, a
   * compaction batch): no events, the same commits, lock retry and WAL sync as writeGrouped.
   */
  writeState<T>(work: () => T): Promise<T> {
    return this.pipeline.enqueue(() => work());
  }

  /** From now on every write (queued ones included) fails with `reason` before opening a transaction. */
  fence(reason: RiggerError): void {
    this.pipeline.fence(reason);
  }

  /** Calls `observer` after each commit with the number of writes it held (the server's metrics). */
  observeCommits(observer: (writes: number) => void): void {
    this.pipeline.observeCommits(observer);
  }

  /**
   * Why writes are refused now (the store is fenced, or the check before writes finds the file
   * deleted or replaced, which fences it), or undefined when they are accepted. For /readyz.
   */
  writeRefusal(): RiggerError | undefined {
    return this.pipeline.writeRefusal();
  }

  /** Runs `check` before every write transaction; an error it returns fails that write (file-watch.ts fences then). */
  checkBeforeWrites(check: () => RiggerError | undefined): void {
    this.pipeline.checkBeforeWrites(check);
  }
}
