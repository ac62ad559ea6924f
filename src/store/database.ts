import fs from 'node:fs';
import type Database from 'better-sqlite3';
import { RiggerError } from '../model/errors';
import { checkIntegrity, checkSchema, readAhead } from './integrity';
import { APPLICATION_ID, MIGRATIONS } from './schema';

export type SqliteDatabase = Database.Database;

/**
 * better-sqlite3, loaded when a database is first opened. It is an optional dependency, so that a
 * project using only the client library need not build it; the server and the CLI's writes need it.
 */
export function sqlite(): typeof Database {
  try {
    return require('better-sqlite3') as typeof Database;
  } catch (error) {
    throw new RiggerError(
      'internal',
      `cannot load better-sqlite3 (${(error as Error).message.split('\n')[0]}); the server and \`rig task\` need it: run \`npm install better-sqlite3@12\` (a C++ toolchain is needed where no prebuilt binary exists)`,
    );
  }
}

export interface OpenOptions {
  /** Create the file if it does not exist (only `rig init` does). */
  create?: boolean;
  /** How long a write waits for another process's lock before failing, in ms. */
  busyTimeoutMs?: number;
  /**
   * `full` (the default): synchronous=FULL, every commit syncs the WAL before it returns, so an
   * acknowledged write survives a power cut; `normal`: synchronous=NORMAL, commits survive a process
   * crash (kill -9), but a power cut may lose the last ones (the WAL is synced at checkpoints only).
   */
  durability?: Durability;
  /**
   * What is checked before anything is read or written: `fast` (the default), in time independent
   * of the file's size: SQLite's header, rigger's application_id and schema version, the schema's
   * tables and indexes; `deferred`: as fast, plus quick_check (every page, integrity.ts) when the
   * open must write (a migration, the journal mode), else the caller owes it (OpenedDatabase).
   */
  integrity?: 'fast' | 'deferred';
  /** A descriptor of the file, kept open by the caller until SQLite's connections are closed, for the read-ahead before a quick_check. */
  readAheadFd?: number;
}

export interface OpenedDatabase {
  db: SqliteDatabase;
  /** `passed`: quick_check ran and passed; `owed`: integrity `deferred` and the open wrote nothing, the caller runs it (background-check.ts); `not-run`. */
  fullCheck: 'passed' | 'owed' | 'not-run';
}

export type Durability = 'full' | 'normal';

const DEFAULT_BUSY_TIMEOUT_MS = 5000;

/**
 * A commit that grows the WAL past this many pages checkpoints it (ten times SQLite's default):
 * each checkpoint costs two fsyncs that block the writer, and a later one copies a hot page (an
 * index leaf) once, not ten times (docs/operations.md has the figures). The server checkpoints on a
 * worker thread instead (checkpointer.ts).
 */
export const AUTO_CHECKPOINT_PAGES = 10_000;

/**
 * SQLite's page cache per connection, in KiB (PRAGMA cache_size = -N). better-sqlite3 builds SQLite
 * with 16 MiB; a server writing a growing log fills all of it with pages it never reads again, and
 * its RSS with them. Hot reads (a task, the log's tail) need a few pages; the rest come from the
 * OS's cache. SQLite's own default is 2 MiB.
 */
export const PAGE_CACHE_KIB = 4096;

/**
 * When the WAL starts again from its beginning (a checkpoint copied all of it), the first commit
 * cuts the -wal file back to this size (PRAGMA journal_size_limit), so a burst leaves no large
 * file behind; the server's checkpointer (checkpointer.ts) empties it when writes stop.
 */
export const JOURNAL_SIZE_LIMIT_BYTES = 4 * 1024 * 1024;

/** The settings of every connection that writes: the one openDatabase makes and the writer thread's (writer-worker.ts). */
export function configureConnection(db: SqliteDatabase, synchronous: 'NORMAL' | 'FULL' | number): void {
  db.pragma(`synchronous = ${synchronous}`);
  db.pragma(`journal_size_limit = ${JOURNAL_SIZE_LIMIT_BYTES}`);
  db.pragma(`wal_autocheckpoint = ${AUTO_CHECKPOINT_PAGES}`);
  db.pragma(`cache_size = -${PAGE_CACHE_KIB}`);
  db.pragma('foreign_keys = ON');
  // Each write of a group commit runs in a savepoint, whose undo pages go to a sub-journal: in
  // memory, not a temp file (half the group's system time went to writing it).
  db.pragma('temp_store = MEMORY');
}

/**
 * Opens (and migrates) a rigger database. A missing, corrupt or foreign file is refused with a
 * clear error and left exactly as it was.
 */
export function openDatabase(file: string, options: OpenOptions = {}): SqliteDatabase {
  return openCheckedDatabase(file, options).db;
}

/** openDatabase, saying whether the full check (quick_check) ran or is still owed. */
export function openCheckedDatabase(file: string, options: OpenOptions = {}): OpenedDatabase {
  if (!options.create && !fs.existsSync(file)) {
    throw new RiggerError('not_found', `database ${file} does not exist; run \`rig init\` in the project directory`);
  }
  const Sqlite = sqlite();
  let db: SqliteDatabase;
  try {
    db = new Sqlite(file, { fileMustExist: !options.create });
  } catch (error) {
    throw new RiggerError('internal', `cannot open database ${file}: ${(error as Error).message}`);
  }
  try {
    db.pragma(`busy_timeout = ${options.busyTimeoutMs ?? DEFAULT_BUSY_TIMEOUT_MS}`);
    checkOwnership(db, file);
    checkSchema(db, file);
    let fullCheck: OpenedDatabase['fullCheck'] = 'not-run';
    if (options.integrity === 'deferred') {
      const mustWrite = db.pragma('journal_mode', { simple: true }) !== 'wal' || (db.pragma('user_version', { simple: true }) as number) < MIGRATIONS.length;
      if (mustWrite) {
        if (options.readAheadFd !== undefined) readAhead(options.readAheadFd);
        checkIntegrity(db, file); // reads every page; before journal_mode and migrations write anything
        fullCheck = 'passed';
      } else {
        fullCheck = 'owed';
      }
    }
    db.pragma('journal_mode = WAL');
    // FULL: an acknowledged commit survives a power cut (group commit shares one sync among the
    // writes of a turn); NORMAL: it survives a process crash (kill -9), a power cut may lose it.
    configureConnection(db, options.durability === 'normal' ? 'NORMAL' : 'FULL');
    migrate(db);
    return { db, fullCheck };
  } catch (error) {
    db.close();
    if (error instanceof RiggerError) throw error;
    const message = (error as Error).message;
    if (/not a database|malformed|file is encrypted/i.test(message)) {
      throw new RiggerError('internal', `${file} is not a rigger database (${message}); it was left untouched`);
    }
    throw error;
  }
}

function checkOwnership(db: SqliteDatabase, file: string): void {
  // Reading the header fails here, before anything is written, when the file is not SQLite at all.
  const applicationId = db.pragma('application_id', { simple: true }) as number;
  const userVersion = db.pragma('user_version', { simple: true }) as number;
  const tables = db.prepare(`SELECT count(*) AS n FROM sqlite_master`).get() as { n: number };
  if (applicationId === APPLICATION_ID) {
    if (userVersion > MIGRATIONS.length) {
      throw new RiggerError('internal', `${file} has schema version ${userVersion}, newer than this rig supports (${MIGRATIONS.length}); upgrade rigger`);
    }
    return;
  }
  if (applicationId !== 0 || userVersion !== 0 || tables.n > 0) {
    throw new RiggerError('internal', `${file} is an SQLite database that rigger did not create; it was left untouched`);
  }
}

function migrate(db: SqliteDatabase): void {
  const current = db.pragma('user_version', { simple: true }) as number;
  for (let version = current; version < MIGRATIONS.length; version++) {
    db.transaction(() => {
      db.exec(MIGRATIONS[version]!);
      db.pragma(`application_id = ${APPLICATION_ID}`);
      db.pragma(`user_version = ${version + 1}`);
    }).immediate();
  }
}
