import fs from 'node:fs';
import { RiggerError } from '../model/errors';
import type { EventEncoder } from '../model/logged-event';
import { refuseOrphanedWal } from '../store/integrity';
import { openStore, type Store, type StoreOptions } from '../store/store';
import { createPrivateFile, type Project } from '../config/project';
import { databasePath, resolveSetting } from '../config/settings';

/**
 * The wire contract's event encoder, loaded by the first write: a command that only reads
 * (rig task list) never loads proto-loader and grpc-js.
 */
export const lazyTaskEventEncoder: EventEncoder = {
  prepare: () => taskEventEncoder().prepare(),
  encode: (event) => taskEventEncoder().encode(event),
};

function taskEventEncoder(): EventEncoder {
  return (require('../protocol/event-codec') as typeof import('../protocol/event-codec')).taskEventEncoder;
}

/**
 * Opens the project's database. The default .rigger/tasks.db is created when it is missing (a clone
 * carries .rigger/config.json but never the database); a path given by --db, RIGGER_DB or
 * config.json must exist, so a typo cannot start an empty store.
 */
export function openProjectStore(
  project: Project,
  argv: Record<string, unknown>,
  fullCheck: StoreOptions['fullCheck'] = 'never',
): { store: Store; file: string } {
  const file = databasePath(project, argv);
  const isDefault = resolveSetting('db', argv, project.config) === '';
  if (!isDefault && !fs.existsSync(file)) {
    throw new RiggerError('not_found', `database ${file} does not exist; check --db (or RIGGER_DB, "db" in .rigger/config.json) or run \`rig init\``);
  }
  if (isDefault && !fs.existsSync(file)) {
    // A -wal without its database is a deleted database's last writes, not a fresh clone.
    refuseOrphanedWal(file);
    createPrivateFile(file, '', { ifMissing: true });
  }
  const busyTimeoutMs = resolveSetting('busyTimeoutMs', argv, project.config);
  const durability = resolveSetting('durability', argv, project.config);
  return { store: openStore(file, lazyTaskEventEncoder, { create: isDefault, busyTimeoutMs, durability, fullCheck }), file };
}
