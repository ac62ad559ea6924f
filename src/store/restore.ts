// `rig restore`: puts a backup in place of a project's database, as its own new log identity. The
// backup is copied beside the database, checked (integrity_check), migrated, and given an identity
// that records the one it descends from and the last sequence they share; only then, with no other
// process holding the database, is the old database (with its -wal and -shm, which must not be read
// as part of the restored file) moved aside and the copy renamed into its place.
import fs from 'node:fs';
import path from 'node:path';
import type { LogIdentity } from '../model/log-lineage';
import { RiggerError } from '../model/errors';
import { checkCopy, syncDirectory, syncFile } from './backup';
import { openDatabase } from './database';
import { refuseIfInUse } from './file-in-use';
import { startNewIdentity } from './log-identity';

export interface RestoreReport {
  /** The database restored, as an absolute path. */
  file: string;
  backup: string;
  /** The restored log's new identity, the one it descends from (the backup's), and the last sequence they share. */
  log_id: string;
  parent_log_id: string;
  parted_after: number;
  tasks: number;
  events: number;
  last_sequence: number;
  /** Where the database that was there went (with its -wal and -shm), or null when there was none. */
  moved_aside: string | null;
  ms: number;
}

const DATABASE_FILES = ['', '-wal', '-shm'];

export function restoreDatabase(backupFile: string, dbFile: string): RestoreReport {
  const started = Date.now();
  const backup = path.resolve(backupFile);
  const file = path.resolve(dbFile);
  checkBackup(backup, file);
  refuseIfInUse(file, 'restore');
  const temp = path.join(path.dirname(file), `.${path.basename(file)}.${process.pid}.restore.tmp`);
  const removeTemp = () => {
    for (const suffix of ['', '-journal', ...DATABASE_FILES.slice(1)]) fs.rmSync(`${temp}${suffix}`, { force: true });
  };
  try {
    removeTemp();
    fs.copyFileSync(backup, temp, fs.constants.COPYFILE_EXCL);
    fs.chmodSync(temp, 0o600);
    const counts = checkCopy(temp);
    const identity = newIdentity(temp);
    syncFile(temp);
    refuseIfInUse(file, 'restore'); // again: a server may have started while the copy was checked
    const movedAside = moveAside(file);
    fs.renameSync(temp, file);
    syncDirectory(path.dirname(file));
    return {
      file,
      backup,
      log_id: identity.logId,
      parent_log_id: identity.parentLogId!,
      parted_after: identity.partedAfter!,
      ...counts,
      moved_aside: movedAside,
      ms: Date.now() - started,
    };
  } finally {
    removeTemp();
  }
}

function checkBackup(backup: string, file: string): void {
  const stat = fs.statSync(backup, { throwIfNoEntry: false });
  if (!stat) throw new RiggerError('not_found', `backup ${backup} does not exist; nothing was changed`);
  if (!stat.isFile()) throw new RiggerError('invalid_argument', `backup ${backup} is not a file; name a file written by \`rig backup\``);
  for (const suffix of DATABASE_FILES) {
    const own = fs.statSync(`${file}${suffix}`, { throwIfNoEntry: false });
    if (own && own.dev === stat.dev && own.ino === stat.ino)
      throw new RiggerError('invalid_argument', `${backup} is the project's database itself; name a backup file`);
  }
}

/** Migrates the copy to this version's schema and starts its new identity; the copy is left a single file. */
function newIdentity(temp: string): LogIdentity {
  const db = openDatabase(temp);
  try {
    return startNewIdentity(db, 'restore');
  } finally {
    db.close(); // the last connection: SQLite checkpoints the WAL into the file and deletes it
  }
}

/** Moves the database's files to a folder beside it named for now; returns the folder, or null when there was no database. */
function moveAside(file: string): string | null {
  const present = DATABASE_FILES.filter((suffix) => fs.existsSync(`${file}${suffix}`));
  if (present.length === 0) return null;
  const folder = path.join(path.dirname(file), `before-restore-${new Date().toISOString().replace(/[:.]/g, '-')}`);
  fs.mkdirSync(folder, { mode: 0o700 });
  for (const suffix of present) fs.renameSync(`${file}${suffix}`, path.join(folder, `${path.basename(file)}${suffix}`));
  syncDirectory(folder);
  return folder;
}
