import { RiggerError } from '../model/errors';

/** Maps SQLite's failures to domain errors; nothing was written when this is thrown. */
export function translateSqliteError(error: unknown): unknown {
  const code = (error as { code?: string }).code;
  if (code === 'SQLITE_BUSY' || code === 'SQLITE_LOCKED') {
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
