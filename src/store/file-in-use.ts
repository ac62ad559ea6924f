// Whether another process has a database open: a server (which holds its connection for as long as
// it runs) or a `rig` command. Commands that replace the file or its history run only when none has.
import fs from 'node:fs';
import { RiggerError } from '../model/errors';
import { sqlite } from './database';

/**
 * Throws unavailable when any other connection has `file` open. An exclusive lock is refused while
 * another connection holds the file (in WAL mode every open connection holds a shared lock on it,
 * idle or not); taking it and letting go changes nothing in the file.
 */
export function refuseIfInUse(file: string, doing: string): void {
  if (!fs.existsSync(file)) return;
  const Sqlite = sqlite();
  const probe = new Sqlite(file, { fileMustExist: true, timeout: 0 });
  try {
    probe.pragma('locking_mode = EXCLUSIVE');
    probe.exec('BEGIN EXCLUSIVE');
    probe.exec('COMMIT');
  } catch (error) {
    if ((error as { code?: string }).code !== 'SQLITE_BUSY') throw error;
    throw new RiggerError(
      'unavailable',
      `${file} is open in another process (a running \`rig grpc\`, or a \`rig task\` command); stop it, then ${doing} again; nothing was changed`,
    );
  } finally {
    probe.close();
  }
}
