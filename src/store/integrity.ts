// Checks that a database file is whole before anything reads it for serving or writes it: a
// corrupt file is refused, untouched, with the command that recovers what is readable.
import fs from 'node:fs';
import path from 'node:path';
import type Database from 'better-sqlite3';
import { RiggerError } from '../model/errors';

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
  let problem: string | undefined;
  try {
    // quick_check(1): stop at the first problem; the refusal names one.
    const rows = db.pragma('quick_check(1)') as { quick_check: string }[];
    const first = rows[0]?.quick_check ?? 'no result';
    if (first !== 'ok') problem = first;
  } catch (error) {
    if (!CORRUPTION.has((error as { code?: string }).code ?? '')) throw error;
    problem = (error as Error).message;
  }
  if (problem !== undefined) throw corruptFile(file, problem);
}

/** Files at least this large are read through once, in order, before quick_check. */
const READ_AHEAD_MIN_BYTES = 64 * 1024 * 1024;
const READ_AHEAD_CHUNK_BYTES = 4 * 1024 * 1024;

/**
 * quick_check visits pages in b-tree order, which on a file not in the page cache is one small
 * random read each (docs/operations.md has the figures). So a large file is read in order first,
 * which leaves it in the page cache. Call it before SQLite opens the file: closing any descriptor
 * of a file drops every POSIX lock the process holds on it, SQLite's shared lock included, and
 * another process closing its connection would then take itself for the last one and delete the
 * WAL this one is still writing.
 */
export function readAhead(file: string): void {
  let fd: number | undefined;
  try {
    fd = fs.openSync(file, 'r');
    if (fs.fstatSync(fd).size < READ_AHEAD_MIN_BYTES) return;
    const buffer = Buffer.allocUnsafe(READ_AHEAD_CHUNK_BYTES);
    for (let position = 0, n; (n = fs.readSync(fd, buffer, 0, buffer.length, position)) > 0; position += n);
  } catch {
    // Only an optimisation: quick_check reads the file itself, and reports what it cannot read.
  } finally {
    if (fd !== undefined) fs.closeSync(fd);
  }
}

function corruptFile(file: string, problem: string): RiggerError {
  const excerpt = problem.replace(/\*\*\* in database main \*\*\*/g, '').replace(/\s+/g, ' ').trim().slice(0, MAX_PROBLEM_CHARS);
  const recovered = path.join(path.dirname(file), `${path.basename(file, '.db')}-recovered.db`);
  return new RiggerError(
    'internal',
    `${file} is corrupt (quick_check: ${excerpt}); it was left untouched. Stop every process using it, then copy out what is readable: sqlite3 ${shellQuote(file)} ".recover" | sqlite3 ${shellQuote(recovered)} (where .recover fails, the .dump steps of docs/operations.md#a-corrupt-database)`,
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
