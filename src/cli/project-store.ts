import fs from 'node:fs';
import path from 'node:path';
import { RiggerError } from '../model/errors';
import type { EventEncoder } from '../model/logged-event';
import { corruptionOf, refuseOrphanedWal } from '../store/integrity';
import { openStore, type Store, type StoreOptions } from '../store/store';
import { CONFIG_FILE, createPrivateFile, DB_FILE, makePrivateDir, RIGGER_DIR, type Project } from '../config/project';
import { databasePath, resolveSetting, SETTINGS } from '../config/settings';

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

/** Opens the project's store for one command's work and closes it afterwards, also on failure. */
export function withProjectStore<T>(project: Project, argv: Record<string, unknown>, work: (store: Store) => T): T {
  const { store } = openProjectStore(project, argv);
  try {
    return work(store);
  } catch (error) {
    throw corruptionOf(error, store.db.name); // a corrupt page read: the one-line refusal
  } finally {
    store.close();
  }
}

/** What `rig init` made: the project directory, its config.json and its database. */
export interface InitializedProject {
  project: string;
  config: string;
  database: string;
}

/** Creates `dir`/.rigger with a config.json of the defaults and an empty database; refuses a project already there. */
export function initProject(dir: string): InitializedProject {
  const riggerDir = path.join(dir, RIGGER_DIR);
  const configFile = path.join(riggerDir, CONFIG_FILE);
  const dbFile = path.join(riggerDir, DB_FILE);
  if (fs.existsSync(configFile) || fs.existsSync(dbFile)) {
    throw new RiggerError('invalid_argument', `${riggerDir} is already initialized`);
  }
  refuseOrphanedWal(dbFile);
  // Private whatever the umask: the database holds every task, and config.json may hold tokens.
  makePrivateDir(riggerDir);
  const config = {
    port: SETTINGS.port.defaultValue,
    bufferSize: SETTINGS.bufferSize.defaultValue,
    retainEvents: SETTINGS.retainEvents.defaultValue,
  };
  createPrivateFile(dbFile);
  openStore(dbFile, lazyTaskEventEncoder, { create: true }).close();
  createPrivateFile(configFile, `${JSON.stringify(config, null, 2)}\n`);
  return { project: dir, config: configFile, database: dbFile };
}
