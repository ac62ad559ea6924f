// Checks that a database file is whole before anything reads it for serving or writes it: a
// corrupt file is refused, untouched, with the command that recovers what is readable.
import fs from 'node:fs';
import path from 'node:path';
import type Database from 'better-sqlite3';
import { RiggerError } from '../model/errors';
import { MIGRATIONS } from './schema';

/** SQLite's codes for a file whose pages do not hold a valid database. */
const CORRUPTION = new Set(['SQLITE_CORRUPT', 'SQLITE_NOTADB', 'SQLITE_CORRUPT_INDEX', 'SQLITE_CORRUPT_SEQUENCE', 'SQLITE_CORRUPT_VTAB']);

/** The longest excerpt of quick_check's report that the one-line refusal quotes. */
const MAX_PROBLEM_CHARS = 160;

/**
 * Runs `PRAGMA quick_check` (every page of every b-tree read and its structure checked, no index
 * cross-check: linear in the file's size) and refuses a file that fails it. Reads only: call it
 * before anything that writes (journal_mode, migrations).
 */
export function checkIntegrity(db: Database.Database, file: string): void {
  const problem = quickCheckProblem(db);
  if (problem !== undefined) throw corruptFile(file, problem);
}

/** quick_check's first problem, or undefined when the file passes (background-check.ts runs it on a worker's connection). */
export function quickCheckProblem(db: Database.Database): string | undefined {
  try {
    // quick_check(1): stop at the first problem; the refusal names one.
    const rows = db.pragma('quick_check(1)') as { quick_check: string }[];
    const first = rows[0]?.quick_check ?? 'no result';
    return first === 'ok' ? undefined : first;
  } catch (error) {
    if (!isCorruption(error)) throw error;
    return (error as Error).message;
  }
}

/** Whether SQLite failed because a page it read does not hold a valid database. */
export function isCorruption(error: unknown): boolean {
  return CORRUPTION.has((error as { code?: string } | null)?.code ?? '');
}

/**
 * The one-line refusal for a corrupt page SQLite read while a command used the file (commands
 * open without quick_check), or `error` itself when it is not that.
 */
export function corruptionOf(error: unknown, file: string): unknown {
  return isCorruption(error) ? corruptFile(file, (error as Error).message, 'SQLite') : error;
}

/** The tables and indexes each schema version has, made once from MIGRATIONS in memory. */
const expectedObjects = new Map<number, string[]>();

/**
 * Refuses a file whose schema lacks a table or index its version must have (a file a foreign
 * program changed, or a damaged schema, which SQLite parses here). Reads sqlite_master only.
 */
export function checkSchema(db: Database.Database, file: string): void {
  const version = db.pragma('user_version', { simple: true }) as number;
  const present = new Set((db.prepare(`SELECT type || ' ' || name AS object FROM sqlite_master`).all() as { object: string }[]).map((r) => r.object));
  const missing = objectsOf(db, version).filter((object) => !present.has(object));
  if (missing.length > 0) {
    throw new RiggerError(
      'internal',
      `${file} has schema version ${version} but lacks ${missing.slice(0, 3).join(', ')}${missing.length > 3 ? ` and ${missing.length - 3} more` : ''}: another program changed its schema; it was left untouched. Restore a backup (docs/operations.md#backups)`,
    );
  }
}

function objectsOf(db: Database.Database, version: number): string[] {
  let objects = expectedObjects.get(version);
  if (!objects) {
    const Sqlite = db.constructor as unknown as new (file: string) => Database.Database;
    const memory = new Sqlite(':memory:');
    try {
      for (const migration of MIGRATIONS.slice(0, version)) memory.exec(migration);
      objects = (memory.prepare(`SELECT type || ' ' || name AS object FROM sqlite_master WHERE name NOT LIKE 'sqlite_%'`).all() as { object: string }[]).map(
        (r) => r.object,
      );
    } finally {
      memory.close();
    }
    expectedObjects.set(version, objects);
  }
  return objects;
}

/** Files at least this large are read through once, in order, before quick_check. */
const READ_AHEAD_MIN_BYTES = 64 * 1024 * 1024;
const READ_AHEAD_CHUNK_BYTES = 4 * 1024 * 1024;

/**
 * quick_check visits pages in b-tree order, which on a file not in the page cache is one small
 * random read each (docs/operations.md has the figures). So a large file is read in order first,
 * which leaves it in the page cache. Through `fd`, which the caller keeps open until SQLite's
 * connections are closed: closing any descriptor of a file drops every POSIX lock the process
 * holds on it, SQLite's shared lock included, and another process closing its connection would
 * then take itself for the last one and delete the WAL this one is still writing. `progress` is
 * told the bytes read so far.
 */
export function readAhead(fd: number, progress?: (bytes: number, size: number) => void): void {
  try {
    const size = fs.fstatSync(fd).size;
    if (size < READ_AHEAD_MIN_BYTES) return;
    const buffer = Buffer.allocUnsafe(READ_AHEAD_CHUNK_BYTES);
    for (let position = 0, n; (n = fs.readSync(fd, buffer, 0, buffer.length, position)) > 0; position += n) progress?.(position + n, size);
  } catch {
    // Only an optimisation: quick_check reads the file itself, and reports what it cannot read.
  }
}

export function corruptFile(file: string, problem: string, by = 'quick_check'): RiggerError {
  const excerpt = problem
    .replace(/\*\*\* in database main \*\*\*/g, '')
    .replace(/\s+/g, ' ')
    .trim()
    .slice(0, MAX_PROBLEM_CHARS);
  const recovered = path.join(path.dirname(file), `${path.basename(file, '.db')}-recovered.db`);
  return new RiggerError(
    'internal',
    `${file} is corrupt (${by}: ${excerpt}); it was left untouched. Stop every process using it, then copy out what is readable: sqlite3 ${shellQuote(file)} ".recover" | sqlite3 ${shellQuote(recovered)} (where .recover fails, the .dump steps of docs/operations.md#a-corrupt-database)`,
  );
}

/**
 * Refuses to create a database at `file` when its -wal or -shm is still there: the file was deleted
 * or moved while a process had it open, and its last writes may be in that WAL. SQLite, opening an
 * empty file beside a WAL, would delete the WAL.
 */
export function refuseOrphanedWal(file: string): void {
  if (fs.existsSync(file)) return;
  const left = ['-wal', '-shm'].map((suffix) => `${file}${suffix}`).filter((f) => fs.existsSync(f));
  if (left.length === 0) return;
  throw new RiggerError(
    'unavailable',
    `${file} is missing but ${left.map((f) => path.basename(f)).join(' and ')} ${left.length === 1 ? 'is' : 'are'} still there: the database was deleted or moved while in use and its last writes may be in the WAL; nothing was created. Put ${path.basename(file)} back, or delete ${left.map((f) => path.basename(f)).join(' and ')} to start empty (docs/operations.md#a-deleted-or-replaced-database)`,
  );
}

function shellQuote(value: string): string {
  return /^[\w@%+=:,./-]+$/.test(value) ? value : `'${value.replace(/'/g, `'\\''`)}'`;
}
