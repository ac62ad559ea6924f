import { RiggerError } from '../model/errors';

/** Whether SQLite failed because another connection holds a lock (SQLITE_BUSY, SQLITE_LOCKED, or an extended code of theirs). */
export function isLockedError(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' && /^SQLITE_(BUSY|LOCKED)(_|$)/.test(code);
}

/** Maps SQLite's failures to domain errors; nothing was written when this is thrown. */
export function translateSqliteError(error: unknown): unknown {
  const code = (error as { code?: string }).code;
  if (isLockedError(error)) {
    return new RiggerError('unavailable', 'the database is locked by another process; nothing was written, try again');
  }
  if (code === 'SQLITE_FULL') {
    return new RiggerError('storage_full', 'the disk holding the database is full; nothing was written');
  }
  if (code === 'SQLITE_READONLY') {
    return new RiggerError('unavailable', 'the database is read-only; nothing was written');
  }
  return error;
}
