import type { EventEncoder } from '../model/logged-event';
import { openDatabase, type OpenOptions, type SqliteDatabase } from './database';
import { EventLog } from './event-log';
import { forgetDatabase, rememberDatabase } from './open-files';
import { TaskStore } from './task-store';

/** One open database: its writer (TaskStore) and the read side of its event log. */
export interface Store {
  readonly db: SqliteDatabase;
  readonly tasks: TaskStore;
  readonly log: EventLog;
  close(): void;
}

/** Opens `file`; every event written is stored with its bytes from `encoder` (what subscribers receive). */
export function openStore(file: string, encoder: EventEncoder, options: OpenOptions = {}): Store {
  const db = openDatabase(file, options);
  rememberDatabase(db.name);
  const close = () => {
    db.close();
    forgetDatabase(db.name);
  };
  return { db, tasks: new TaskStore(db, encoder), log: new EventLog(db, encoder), close };
}
