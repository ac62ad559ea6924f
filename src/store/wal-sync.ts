// The server's durability without a sync on its event loop. Its connection commits with
// synchronous=NORMAL (no fsync inside COMMIT: the file stays consistent, SQLite still syncs at
// checkpoints and when the WAL restarts), and the writes of a commit are acknowledged only after
// the -wal file has been synced from the thread pool, so what is acknowledged survives a power cut
// as with synchronous=FULL. A sync that completed after a commit's COMMIT covers it: fsync works on
// the file, not on the descriptor that wrote. Commits made while one sync is running share the next.
import fs from 'node:fs';

export type Synced = (error: NodeJS.ErrnoException | null) => void;

export class WalSync {
  private running = false;
  /** Committed after the running sync began: they need the next one. */
  private waiting: Synced[] = [];
  private fd: number | undefined;

  /**
   * `walFile` must exist while the store is open (WAL mode keeps it). The descriptor is never closed
   * while SQLite has the database open: SQLite locks the database and -shm files, never this one,
   * and a close on the same process's files is what drops POSIX locks, so it is closed after SQLite's.
   */
  constructor(private readonly walFile: string) {}

  /** Calls `done` once everything committed before this call is on disk (or the sync failed). */
  afterCommit(done: Synced): void {
    this.waiting.push(done);
    if (!this.running) this.start();
  }

  /** Resolves once every sync asked for so far has completed. */
  idle(): Promise<void> {
    if (!this.running && this.waiting.length === 0) return Promise.resolve();
    return new Promise((resolve) => this.afterCommit(() => resolve()));
  }

  /** Closes the descriptor; only after SQLite has closed the database (see the constructor). */
  close(): void {
    if (this.fd !== undefined) fs.closeSync(this.fd);
    this.fd = undefined;
  }

  private start(): void {
    const batch = this.waiting;
    this.waiting = [];
    this.running = true;
    const finish = (error: NodeJS.ErrnoException | null) => {
      this.running = false;
      for (const done of batch) done(error);
      if (this.waiting.length > 0) this.start();
    };
    try {
      this.fd ??= fs.openSync(this.walFile, 'r');
    } catch (error) {
      return process.nextTick(finish, error as NodeJS.ErrnoException);
    }
    fs.fdatasync(this.fd, finish);
  }
}
