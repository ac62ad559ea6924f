import { openDatabase, type OpenOptions, type SqliteDatabase } from './database';
import { EventLog } from './event-log';
import { TaskStore } from './task-store';

/** One open database: its writer (TaskStore) and the read side of its event log. */
export interface Store {
  readonly db: SqliteDatabase;
  readonly tasks: TaskStore;
  readonly log: EventLog;
  close(): void;
}

export function openStore(file: string, options: OpenOptions = {}): Store {
  const db = openDatabase(file, options);
  return { db, tasks: new TaskStore(db), log: new EventLog(db), close: () => db.close() };
}
