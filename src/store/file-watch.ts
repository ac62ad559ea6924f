// Watches that the database file (and its -wal and -shm) at its path is still the file the server
// opened. SQLite keeps writing into the inode it opened: after `rm tasks.db*`, a `mv`, or a restore
// renamed over it, every commit would go into a file nobody can open again and be lost at the next
// start. Instead the store is fenced: every write fails UNAVAILABLE, saying what happened.
import fs from 'node:fs';
import type { Logger } from 'pino';
import { RiggerError } from '../model/errors';
import type { Store } from './store';

interface Opened {
  path: string;
  dev: number;
  ino: number;
}

/** The database's files as they are now (the ones that exist): device and inode of each path. */
export class FileIdentity {
  private readonly files: Opened[] = [];

  constructor(file: string) {
    for (const suffix of ['', '-wal', '-shm']) {
      const stat = fs.statSync(`${file}${suffix}`, { throwIfNoEntry: false });
      if (stat) this.files.push({ path: `${file}${suffix}`, dev: stat.dev, ino: stat.ino });
    }
  }

  /** What happened to the files since they were recorded, or undefined if each path still names its file. */
  change(): string | undefined {
    for (const file of this.files) {
      const now = fs.statSync(file.path, { throwIfNoEntry: false });
      if (!now) return `${file.path} was deleted or moved`;
      if (now.ino !== file.ino || now.dev !== file.dev) return `${file.path} was replaced by another file`;
    }
    return undefined;
  }
}

export function fileChangedError(change: string): RiggerError {
  return new RiggerError(
    'unavailable',
    `${change} while the server had it open; writes are refused so that none is lost in a file that is no longer at its path, and nothing was written. Stop rig grpc, put the database back, and start it again`,
  );
}

/**
 * Fences `store` when its database file is deleted, moved or replaced: checked before every write
 * transaction (a couple of stat calls, one per commit, so no write is acknowledged into a file
 * already gone) and every `intervalMs` (so it is noticed, and logged, when nothing writes).
 * Logs once at error level; `onFenced` runs once. Returns the function that stops the interval.
 */
export function watchDatabaseFile(store: Store, intervalMs: number, logger: Logger, onFenced: () => void): () => void {
  const identity = new FileIdentity(store.db.name);
  let fenced: RiggerError | undefined;
  const check = (): RiggerError | undefined => {
    if (fenced) return fenced;
    const change = identity.change();
    if (change === undefined) return undefined;
    fenced = fileChangedError(change);
    store.tasks.fence(fenced);
    clearInterval(timer);
    logger.error({ database: store.db.name, change }, fenced.message);
    onFenced();
    return fenced;
  };
  store.tasks.checkBeforeWrites(check);
  const timer = setInterval(check, intervalMs);
  timer.unref();
  return () => clearInterval(timer);
}
