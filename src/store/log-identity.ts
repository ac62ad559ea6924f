// The log's identities as stored (table log_identities, schema migration 9): read at open, and a new
// one appended by `rig restore` and `rig log new-identity`, never while a server has the file open.
import crypto from 'node:crypto';
import { LogLineage, type IdentityReason, type LogIdentity } from '../model/log-lineage';
import type { SqliteDatabase } from './database';
import { latestSequence } from './rows';

interface IdentityRow {
  log_id: string;
  parent_log_id: string | null;
  parted_after: number | null;
  reason: IdentityReason;
  created_at: string;
}

export function readLineage(db: SqliteDatabase): LogLineage {
  const rows = db.prepare('SELECT log_id, parent_log_id, parted_after, reason, created_at FROM log_identities ORDER BY ordinal').all() as IdentityRow[];
  return new LogLineage(
    rows.map((row) => ({
      logId: row.log_id,
      ...(row.parent_log_id !== null && { parentLogId: row.parent_log_id }),
      ...(row.parted_after !== null && { partedAfter: row.parted_after }),
      reason: row.reason,
      createdAt: row.created_at,
    })),
  );
}

/**
 * Gives the log a new identity that continues the current one up to its newest event; returns it.
 * One transaction: the file holds the old identity or the new one.
 */
export function startNewIdentity(db: SqliteDatabase, reason: IdentityReason): LogIdentity {
  return db
    .transaction((): LogIdentity => {
      const parent = readLineage(db).current;
      const partedAfter = latestSequence(db);
      const identity: LogIdentity = {
        logId: crypto.randomBytes(8).toString('hex'),
        parentLogId: parent.logId,
        partedAfter,
        reason,
        createdAt: new Date().toISOString(),
      };
      db.prepare('INSERT INTO log_identities (log_id, parent_log_id, parted_after, reason, created_at) VALUES (?, ?, ?, ?, ?)').run(
        identity.logId,
        identity.parentLogId,
        identity.partedAfter,
        identity.reason,
        identity.createdAt,
      );
      return identity;
    })
    .immediate();
}
